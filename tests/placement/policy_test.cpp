// Policy validation (the field is named) and the YAML form (file:line).
#include "placement/placement.hpp"

#include <gtest/gtest.h>

#include "common/config.hpp"
#include "tests/placement/builders.hpp"

namespace c4i::placement {
namespace {

std::string policy_error(const Policy& p) {
  auto s = validate(p);
  return s ? std::string() : s.error().message;
}

TEST(PlacementPolicy, TheDefaultPolicyIsValid) { EXPECT_TRUE(validate(Policy{})); }

TEST(PlacementPolicy, ALowWatermarkAboveItsHighOneNamesTheField) {
  Policy p;
  p.gateway.cpu_low = 0.9;
  EXPECT_EQ(policy_error(p), "tiers.gateway.cpu_low: must not be above cpu_high (0.9 > 0.85)");
  auto s = validate(p);
  EXPECT_EQ(s.error().code, "invalid_policy");
  p = Policy{};
  p.cloud.mem_low = 0.95;
  EXPECT_EQ(policy_error(p), "tiers.cloud.mem_low: must not be above mem_high (0.95 > 0.9)");
}

TEST(PlacementPolicy, EachFieldIsChecked) {
  auto err = [](auto change) {
    Policy p;
    change(p);
    return policy_error(p);
  };
  EXPECT_EQ(err([](Policy& p) { p.edge.cpu_high = 1.5; }), "tiers.edge.cpu_high: must be between 0 and 1, got 1.5");
  EXPECT_EQ(err([](Policy& p) { p.cooldown_s = 0; }), "cooldown_s: must be between 1 and 604800, got 0");
  EXPECT_EQ(err([](Policy& p) { p.max_moves_per_minute = -1; }),
            "max_moves_per_minute: must be between 0 (no limit) and 1000000, got -1");
  EXPECT_EQ(err([](Policy& p) { p.templates["omh"].tiers = {}; }), "templates.omh.tiers: must name at least one tier");
  EXPECT_EQ(err([](Policy& p) { p.templates["omh"].tiers = {Tier::edge, Tier::gateway}; }),
            "templates.omh.tiers: must go up (gateway before edge before cloud), got edge before gateway");
  EXPECT_EQ(err([](Policy& p) { p.templates["omh"].tiers = {Tier::edge, Tier::edge}; }),
            "templates.omh.tiers: names edge twice");
  EXPECT_EQ(err([](Policy& p) { p.pinned = {"a", "a"}; }), "pinned[1]: names a twice");
  EXPECT_EQ(err([](Policy& p) { p.lost_after_s = 0; }), "lost_after_s: must be between 1 and 31536000, got 0");
  EXPECT_EQ(err([](Policy& p) { p.rssi_threshold_dbm = -200; }),
            "rssi_threshold_dbm: must be between -127 and 20, got -200");
  EXPECT_EQ(err([](Policy& p) { p.hysteresis_db = -1; }), "hysteresis_db: must be between 0 and 100, got -1");
  EXPECT_EQ(err([](Policy& p) { p.roam_margin_db = 101; }), "roam_margin_db: must be between 0 and 100, got 101");
}

TEST(PlacementPolicy, APlannerRefusesAnInvalidPolicy) {
  Policy p;
  p.gateway.cpu_low = 0.9;
  EXPECT_THROW(Planner{p}, std::invalid_argument);
  Planner ok{Policy{}};
  EXPECT_FALSE(ok.set_policy(p));
  EXPECT_EQ(ok.policy(), Policy{});
}

Result<Policy> from_yaml(const std::string& text) {
  auto doc = config::load_string(text, "policy.yaml");
  if (!doc) return doc.error();
  return policy_from_yaml(doc->child("policy"));
}

TEST(PlacementPolicyYaml, ReadsEveryField) {
  auto p = from_yaml(R"(policy:
  tiers:
    gateway: {cpu_high: 0.8, cpu_low: 0.2, mem_high: 0.7, mem_low: 0.1}
    edge: {cpu_high: 0.9}
  cooldown_s: 30
  max_moves_per_minute: 12
  templates:
    omh: {tiers: [gateway, edge]}
  pinned: [omh-1]
  lost_after_s: 90
  on_lost: keep
  rssi_threshold_dbm: -75
  hysteresis_db: 4
  roam_margin_db: 8
  node_stale_after_s: 20
)");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->gateway, (Watermarks{0.8, 0.2, 0.7, 0.1}));
  EXPECT_EQ(p->edge.cpu_high, 0.9);
  EXPECT_EQ(p->edge.cpu_low, Watermarks{}.cpu_low);
  EXPECT_EQ(p->cooldown_s, 30);
  EXPECT_EQ(p->max_moves_per_minute, 12);
  EXPECT_EQ(p->templates.at("omh").tiers, (std::vector<Tier>{Tier::gateway, Tier::edge}));
  EXPECT_EQ(p->pinned, std::vector<std::string>{"omh-1"});
  EXPECT_EQ(p->lost_after_s, 90);
  EXPECT_EQ(p->on_lost, OnLost::keep);
  EXPECT_EQ(p->rssi_threshold_dbm, -75);
  EXPECT_EQ(p->hysteresis_db, 4);
  EXPECT_EQ(p->roam_margin_db, 8);
  EXPECT_EQ(p->node_stale_after_s, 20);
}

TEST(PlacementPolicyYaml, AWholePolicyErrorNamesFieldFileAndLine) {
  auto p = from_yaml("policy:\n  tiers:\n    gateway:\n      cpu_high: 0.85\n      cpu_low: 0.9\n");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "policy.tiers.gateway.cpu_low: must not be above cpu_high (0.9 > 0.85) (policy.yaml:5)");
}

TEST(PlacementPolicyYaml, FieldErrorsNameFileAndLine) {
  auto p = from_yaml("policy:\n  cooldown_s: 10\n  hysteresis_db: lots\n");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "policy.hysteresis_db: must be a number, got lots (policy.yaml:3)");
  p = from_yaml("policy:\n  rssi_treshold_dbm: -70\n");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("policy.rssi_treshold_dbm: unknown field"), std::string::npos);
  EXPECT_NE(p.error().message.find("(policy.yaml:2)"), std::string::npos);
  p = from_yaml("policy:\n  templates:\n    omh:\n      tiers: [cloud, edge]\n");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message,
            "policy.templates.omh.tiers: must go up (gateway before edge before cloud), got cloud before edge "
            "(policy.yaml:4)");
  p = from_yaml("policy:\n  on_lost: forget\n");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "policy.on_lost: must be one of undeploy, keep, got forget (policy.yaml:2)");
}

TEST(PlacementPolicyYaml, AnEmptyPolicyIsTheDefault) {
  auto doc = config::load_string("{}", "p.yaml");
  ASSERT_TRUE(doc);
  auto p = policy_from_yaml(*doc);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, Policy{});
}

TEST(PlacementPolicyYaml, ToYamlReadsBackEqual) {
  Policy p = testing::test_policy();
  p.gateway.cpu_high = 0.1 + 0.2;  // a double with no short decimal form
  p.templates["omh: \"odd\" name"].tiers = {Tier::edge, Tier::cloud};
  p.pinned = {"f-1", "f #2"};
  p.on_lost = OnLost::keep;
  p.hysteresis_db = 2.5;
  auto doc = config::load_string(policy_to_yaml(p), "p.yaml");
  ASSERT_TRUE(doc) << doc.error().message;
  auto back = policy_from_yaml(*doc);
  ASSERT_TRUE(back) << back.error().message << "\n" << policy_to_yaml(p);
  EXPECT_EQ(*back, p);
  auto d = config::load_string(policy_to_yaml(Policy{}), "p.yaml");
  ASSERT_TRUE(d);
  EXPECT_EQ(*policy_from_yaml(*d), Policy{});
}

}  // namespace
}  // namespace c4i::placement
