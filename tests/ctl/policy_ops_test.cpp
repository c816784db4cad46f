#include "ctl/policy_ops.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace c4i::ctl {
namespace {

namespace pl = c4i::placement;

TEST(CtlPolicySet, ChangesNumbersEnumsAndLists) {
  auto p = apply_assignments(pl::Policy{}, {"tiers.gateway.cpu_high=0.9", "cooldown_s=30", "on_lost=keep",
                                            "pinned=fn-a, fn-b", "templates.omh.tiers=edge,cloud"});
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->gateway.cpu_high, 0.9);
  EXPECT_EQ(p->cooldown_s, 30);
  EXPECT_EQ(p->on_lost, pl::OnLost::keep);
  EXPECT_EQ(p->pinned, (std::vector<std::string>{"fn-a", "fn-b"}));
  ASSERT_TRUE(p->templates.count("omh"));
  EXPECT_EQ(p->templates.at("omh").tiers, (std::vector<pl::Tier>{pl::Tier::edge, pl::Tier::cloud}));
  auto cleared = apply_assignments(*p, {"pinned=[]", "templates.omh=null"});
  ASSERT_TRUE(cleared) << cleared.error().message;
  EXPECT_TRUE(cleared->pinned.empty());
  EXPECT_TRUE(cleared->templates.empty());
}

TEST(CtlPolicySet, UnknownFieldIsNamedWithTheKnownOnes) {
  auto p = apply_assignments(pl::Policy{}, {"tiers.gateway.cpu_hgh=0.9"});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, "invalid_argument");
  EXPECT_NE(p.error().message.find("unknown policy field tiers.gateway.cpu_hgh"), std::string::npos) << p.error().message;
  EXPECT_NE(p.error().message.find("cpu_high"), std::string::npos) << p.error().message;
  EXPECT_FALSE(apply_assignments(pl::Policy{}, {"cooldown_s"}));
  EXPECT_FALSE(apply_assignments(pl::Policy{}, {"=3"}));
  EXPECT_FALSE(apply_assignments(pl::Policy{}, {"cooldown_s=null"}));
}

TEST(CtlPolicySet, ValidatesTheWholePolicyLikeTheServer) {
  auto p = apply_assignments(pl::Policy{}, {"tiers.gateway.cpu_low=0.9"});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, "invalid_policy");
  EXPECT_NE(p.error().message.find("tiers.gateway.cpu_low"), std::string::npos) << p.error().message;
  EXPECT_FALSE(apply_assignments(pl::Policy{}, {"cooldown_s=abc"}));
  EXPECT_FALSE(apply_assignments(pl::Policy{}, {"on_lost=forget"}));
}

TEST(CtlPolicyDocument, ReadsBareWrappedAndJsonForms) {
  pl::Policy want;
  want.cooldown_s = 45;
  std::string yaml = pl::policy_to_yaml(want);
  auto bare = policy_from_document(yaml, "p.yaml");
  ASSERT_TRUE(bare) << bare.error().message;
  EXPECT_EQ(*bare, want);
  auto wrapped = policy_from_document("version: 3\nchanged_by: alice\npolicy:\n  cooldown_s: 45\n", "p.yaml");
  ASSERT_TRUE(wrapped) << wrapped.error().message;
  EXPECT_EQ(*wrapped, want);
  auto json_form = policy_from_document(
      nlohmann::json{{"version", 3}, {"policy", pl::to_json(want)}, {"changed_t", 1}, {"changed_by", "x"}}.dump(), "p.json");
  ASSERT_TRUE(json_form) << json_form.error().message;
  EXPECT_EQ(*json_form, want);
}

TEST(CtlPolicyDocument, ErrorsNameFieldAndLine) {
  auto bad = policy_from_document("cooldown_s: 30\ntiers:\n  gateway:\n    cpu_low: 0.95\n", "p.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("tiers.gateway.cpu_low"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("p.yaml:"), std::string::npos) << bad.error().message;
  auto syntax = policy_from_document("cooldown_s: [1,\n", "p.yaml");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message.find("p.yaml"), std::string::npos) << syntax.error().message;
  EXPECT_FALSE(policy_from_document("", "p.yaml"));
  EXPECT_FALSE(policy_from_document("cooldownz: 3\n", "p.yaml"));
}

TEST(CtlEditBuffer, ErrorsGoOnTopAsCommentsAndTheTextIsKept) {
  std::string first = edit_buffer("cooldown_s: 30\n", 4, {});
  EXPECT_EQ(first.find("# The policy was not applied"), std::string::npos);
  EXPECT_NE(first.find("(version 4 on the server)"), std::string::npos);
  EXPECT_EQ(strip_comments(first), "cooldown_s: 30\n");
  std::string again = edit_buffer(first + "pinned: [x]\n", 5, {"tiers.edge.cpu_low: must not be above cpu_high", "two\nlines"});
  EXPECT_EQ(again.rfind("# The policy was not applied:\n#   tiers.edge.cpu_low: must not be above cpu_high\n#   two\n#   lines\n", 0), 0u)
      << again;
  EXPECT_EQ(strip_comments(again), "cooldown_s: 30\npinned: [x]\n");  // the old header is not stacked up
  EXPECT_NE(again.find("version 5"), std::string::npos);
}

TEST(CtlDiff, UnifiedHunksWithContext) {
  EXPECT_EQ(unified_diff("a\nb\n", "a\nb\n", "x", "y"), "");
  std::string d = unified_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n", "server", "file");
  EXPECT_EQ(d, "--- server\n+++ file\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
  std::string add = unified_diff("", "x\n", "a", "b");
  EXPECT_EQ(add, "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n");
}

}  // namespace
}  // namespace c4i::ctl
