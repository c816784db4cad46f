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

TEST(Query, TextThatIsNotUtf8IsRefused) {
  std::map<std::string, std::string> q;
  EXPECT_TRUE(parse_query("name=caf%C3%A9&emoji=%F0%9F%98%80", q));
  for (const char* bad : {"a=%ff%fe", "a=%c0%af", "a=%ed%a0%80", "a=ab%e2%82", "a=%f4%90%80%80", "%80=1", "a=%e0%80%80"})
    EXPECT_FALSE(parse_query(bad, q)) << bad;
  std::string out;
  EXPECT_FALSE(percent_decode("/v1/functions/%ff", out));
  EXPECT_TRUE(percent_decode("/v1/functions/caf%C3%A9", out));
}

TEST(Query, OnlyShortestFormUtf8Passes) {
  // RFC 3629 boundaries: U+007F, U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+10000, U+10FFFF.
  std::map<std::string, std::string> q;
  EXPECT_TRUE(parse_query("a=%7f%c2%80%df%bf%e0%a0%80%ed%9f%bf%ee%80%80%f0%90%80%80%f4%8f%bf%bf", q));
  for (const char* bad : {"a=%c1%bf", "a=%e0%9f%bf", "a=%ed%a0%80", "a=%f0%8f%bf%bf", "a=%f4%90%80%80", "a=%f5%80%80%80",
                          "a=%80", "a=%c2", "a=%e2%82", "a=%e2%28%a1", "a=%c3"})
    EXPECT_FALSE(parse_query(bad, q)) << bad;
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
