#include "ctl/contexts.hpp"

#include <gtest/gtest.h>

namespace c4i::ctl {
namespace {

Result<CtlConfig> parse(const std::string& text) {
  auto root = config::load_string(text, "config.yaml");
  if (!root) return root.error();
  return parse_ctl_config(*root);
}

const char* kTwo =
    "current_context: lab\n"
    "contexts:\n"
    "  - name: lab\n"
    "    server: https://127.0.0.1:8443\n"
    "    ca: /etc/c4i/ca.pem\n"
    "    token_file: /etc/c4i/token\n"
    "  - name: prod\n"
    "    server: https://c4i.example.org\n"
    "    token: s3cret\n";

TEST(CtlContexts, ParsesAndWritesBackTheSame) {
  auto cfg = parse(kTwo);
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_EQ(cfg->contexts.size(), 2u);
  EXPECT_EQ(cfg->current_context, "lab");
  EXPECT_EQ(cfg->contexts[0].token_file, "/etc/c4i/token");
  EXPECT_EQ(cfg->contexts[1].token, "s3cret");
  auto again = parse(ctl_config_to_yaml(*cfg));
  ASSERT_TRUE(again) << again.error().message << "\n" << ctl_config_to_yaml(*cfg);
  EXPECT_EQ(again->current_context, "lab");
  ASSERT_EQ(again->contexts.size(), 2u);
  EXPECT_EQ(again->contexts[1].server, "https://c4i.example.org");
  EXPECT_EQ(again->contexts[0].ca, "/etc/c4i/ca.pem");
}

TEST(CtlContexts, EmptyFileIsNoContexts) {
  auto cfg = parse("");
  ASSERT_TRUE(cfg);
  EXPECT_TRUE(cfg->contexts.empty());
}

TEST(CtlContexts, ErrorsNameTheFieldAndLine) {
  auto bad_url = parse("contexts:\n  - name: a\n    server: http://x:1\n");
  ASSERT_FALSE(bad_url);
  EXPECT_NE(bad_url.error().message.find("contexts[0].server"), std::string::npos) << bad_url.error().message;
  EXPECT_NE(bad_url.error().message.find("config.yaml:3"), std::string::npos) << bad_url.error().message;
  auto dup = parse("contexts:\n  - {name: a, server: 'https://x'}\n  - {name: a, server: 'https://y'}\n");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("duplicate context a"), std::string::npos) << dup.error().message;
  auto both = parse("contexts:\n  - {name: a, server: 'https://x', token: t, token_file: f}\n");
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().message.find("not both"), std::string::npos);
  auto typo = parse("contexts:\n  - {name: a, server: 'https://x', tokn: t}\n");
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("tokn"), std::string::npos) << typo.error().message;
  auto dangling = parse("current_context: nope\ncontexts: []\n");
  ASSERT_FALSE(dangling);
  EXPECT_NE(dangling.error().message.find("current_context"), std::string::npos);
}

TEST(CtlContexts, FlagBeatsEnvironmentBeatsCurrent) {
  auto cfg = parse(kTwo);
  ASSERT_TRUE(cfg);
  EXPECT_EQ((*select_context(*cfg, "", ""))->name, "lab");
  EXPECT_EQ((*select_context(*cfg, "", "prod"))->name, "prod");
  EXPECT_EQ((*select_context(*cfg, "lab", "prod"))->name, "lab");
  auto missing = select_context(*cfg, "", "staging");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "C4I_CONTEXT: no context named staging (known: lab, prod)");
  CtlConfig empty;
  auto none = select_context(empty, "", "");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

TEST(CtlContexts, UpsertReplacesOnlyGivenFields) {
  auto cfg = parse(kTwo);
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(upsert_context(*cfg, Context{"lab", "", "", "inline-token", ""}));
  const Context* lab = cfg->find("lab");
  EXPECT_EQ(lab->server, "https://127.0.0.1:8443");
  EXPECT_EQ(lab->token, "inline-token");
  EXPECT_TRUE(lab->token_file.empty());  // a token replaces the token file
  EXPECT_TRUE(upsert_context(*cfg, Context{"new", "https://n:1", "", "", ""}));
  EXPECT_EQ(cfg->contexts.size(), 3u);
}

TEST(CtlServerUrl, HostAndPort) {
  auto a = parse_server_url("https://127.0.0.1:8443/");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8443);
  EXPECT_EQ(parse_server_url("https://c4i.example.org")->port, 443);
  EXPECT_EQ(parse_server_url("https://[::1]:9000")->host, "::1");
  EXPECT_FALSE(parse_server_url("http://x"));
  EXPECT_FALSE(parse_server_url("https://x:0"));
  EXPECT_FALSE(parse_server_url("https://x:99999"));
  EXPECT_FALSE(parse_server_url("https://x:8443/v1"));
  EXPECT_FALSE(parse_server_url("https://"));
}

}  // namespace
}  // namespace c4i::ctl
