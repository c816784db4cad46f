// The dashboard's file table and HTTP semantics without a server: content
// types by extension, If-None-Match matching, the headers of every answer.
#include "orchestrator/dashboard.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace c4i::orchestrator {
namespace {

const DashboardAsset* find_asset(const std::string& name) {
  for (std::size_t i = 0; i < kDashboardAssetCount; ++i)
    if (kDashboardAssets[i].name == name) return &kDashboardAssets[i];
  return nullptr;
}

std::string header(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

TEST(DashboardFiles, ContentTypeFollowsTheExtension) {
  EXPECT_EQ(dashboard_content_type("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(dashboard_content_type("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(dashboard_content_type("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(dashboard_content_type("favicon.svg"), "image/svg+xml");
  EXPECT_EQ(dashboard_content_type("data.bin"), "application/octet-stream");
  EXPECT_EQ(dashboard_content_type("js"), "application/octet-stream");
}

TEST(DashboardFiles, IfNoneMatchNamesTheTagInAListWeakOrStar) {
  EXPECT_TRUE(etag_matches("\"abc\"", "\"abc\""));
  EXPECT_TRUE(etag_matches("W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(etag_matches("\"x\", \"abc\"", "\"abc\""));
  EXPECT_TRUE(etag_matches(" \"x\" ,\t\"abc\" ", "\"abc\""));
  EXPECT_TRUE(etag_matches("*", "\"abc\""));
  EXPECT_FALSE(etag_matches("\"abcd\"", "\"abc\""));
  EXPECT_FALSE(etag_matches("abc", "\"abc\""));
  EXPECT_FALSE(etag_matches("", "\"abc\""));
  EXPECT_FALSE(etag_matches(",,", "\"abc\""));
}

TEST(DashboardFiles, TheTableHoldsThePageItsScriptAndStyleWithDistinctTags) {
  ASSERT_NE(find_asset("index.html"), nullptr);
  ASSERT_NE(find_asset("app.js"), nullptr);
  ASSERT_NE(find_asset("style.css"), nullptr);
  std::set<std::string> tags;
  for (std::size_t i = 0; i < kDashboardAssetCount; ++i) {
    const auto& a = kDashboardAssets[i];
    EXPECT_GT(a.size, 0u) << a.name;
    std::string tag = a.etag;
    EXPECT_EQ(tag.size(), 26u) << a.name;  // a quoted 24-hex-digit prefix of the sha256
    EXPECT_EQ(tag.front(), '"');
    EXPECT_EQ(tag.back(), '"');
    EXPECT_TRUE(tags.insert(tag).second) << a.name << " has the tag of another file";
  }
}

TEST(DashboardFiles, AnswerCarriesBodyTagAndStrictPolicy) {
  const DashboardAsset& page = *find_asset("index.html");
  auto r = dashboard_response(page, nullptr);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body, std::string(reinterpret_cast<const char*>(page.data), page.size));
  EXPECT_EQ(header(r, "ETag"), page.etag);
  EXPECT_EQ(header(r, "Cache-Control"), "no-cache");
  EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff");
  std::string csp = header(r, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("http"), std::string::npos) << "the policy names an outside origin: " << csp;
}

TEST(DashboardFiles, MatchingTagAnswers304WithoutBody) {
  const DashboardAsset& js = *find_asset("app.js");
  std::string same = js.etag;
  auto r = dashboard_response(js, &same);
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(header(r, "ETag"), js.etag);
  std::string other = "\"0000\"";
  EXPECT_EQ(dashboard_response(js, &other).status, 200);
}

}  // namespace
}  // namespace c4i::orchestrator
