#include "common/http_types.hpp"

#include <gtest/gtest.h>

namespace c4i::http {
namespace {

TEST(Query, SplitsAndDecodes) {
  std::map<std::string, std::string> q;
  ASSERT_TRUE(parse_query("kinds=migrations%2Cfunctions&limit=10&name=a+b&flag", q));
  EXPECT_EQ(q.at("kinds"), "migrations,functions");
  EXPECT_EQ(q.at("limit"), "10");
  EXPECT_EQ(q.at("name"), "a b");
  EXPECT_EQ(q.at("flag"), "");
}

TEST(Query, MalformedEscapeIsRefused) {
  std::map<std::string, std::string> q;
  EXPECT_FALSE(parse_query("a=%4", q));
  EXPECT_FALSE(parse_query("a=%g1", q));
}

TEST(ErrorResponse, HasCodeAndMessage) {
  auto r = error_response(409, "stale_version", "policy version 3 is not current (5)");
  EXPECT_EQ(r.status, 409);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "stale_version");
  EXPECT_EQ(j["error"]["message"], "policy version 3 is not current (5)");
}

TEST(ErrorResponse, InvalidUtf8IsReplacedNotThrown) {
  auto r = error_response(400, "bad", std::string("name \xff\xfe"));
  EXPECT_TRUE(nlohmann::json::accept(r.body));
}

TEST(PeerIdentity, NamesMatchCnOrSan) {
  PeerIdentity p{"gw-1", {"gw-1.local", "gw-1"}, "", ""};
  EXPECT_TRUE(p.names("gw-1"));
  EXPECT_TRUE(p.names("gw-1.local"));
  EXPECT_FALSE(p.names("gw-2"));
  EXPECT_FALSE(p.names(""));
}

}  // namespace
}  // namespace c4i::http
