// The real orchestrator serves the dashboard: the page and its files without
// a token, byte for byte what is in orchestrator/dashboard/, with their content
// types, revalidation and a CSP the page's markup actually obeys (no inline
// script, style or handler; every file it names is served here); the API
// beside it still needs a token, and /v1/whoami names the token's role.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/orchestrator/harness.hpp"

namespace c4i::testing {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const fs::path dashboard_dir() { return fs::path(source_dir()) / "orchestrator" / "dashboard"; }

class DashboardServe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    orch_ = new Orchestrator();
    ASSERT_TRUE(orch_->start()) << orch_->log();
  }
  static void TearDownTestSuite() {
    delete orch_;
    orch_ = nullptr;
  }
  static Orchestrator* orch_;
};
Orchestrator* DashboardServe::orch_ = nullptr;

TEST_F(DashboardServe, PageLoadsWithoutTokenWhileTheApiNeedsOne) {
  auto anon = orch_->client("");
  auto page = call(*anon, "GET", "/");
  ASSERT_EQ(page.status, 200) << page.raw;
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(page.raw, read_file(dashboard_dir() / "index.html"));
  EXPECT_NE(page.headers["content-security-policy"].find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(call(*anon, "GET", "/v1/nodes").status, 401);
  EXPECT_EQ(call(*anon, "GET", "/v1/whoami").status, 401);
  EXPECT_EQ(call(*anon, "GET", "/ui/no-such-file.js").status, 404);
}

TEST_F(DashboardServe, EveryFileIsServedAsItIsInTheTreeAndRevalidates) {
  auto anon = orch_->client("");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dashboard_dir())) {
    std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    auto r = call(*anon, "GET", "/ui/" + name);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.raw, read_file(entry.path())) << "the binary serves a stale " << name;
    std::string ext = entry.path().extension().string();
    std::string type = r.headers["content-type"];
    if (ext == ".js") { EXPECT_EQ(type, "text/javascript; charset=utf-8"); }
    if (ext == ".css") { EXPECT_EQ(type, "text/css; charset=utf-8"); }
    if (ext == ".html") { EXPECT_EQ(type, "text/html; charset=utf-8"); }
    if (ext == ".svg") { EXPECT_EQ(type, "image/svg+xml"); }
    EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
    std::string etag = r.headers["etag"];
    ASSERT_FALSE(etag.empty());
    auto again = call(*anon, "GET", "/ui/" + name, nullptr, {{"If-None-Match", etag}});
    EXPECT_EQ(again.status, 304);
    EXPECT_TRUE(again.raw.empty());
    ++files;
  }
  EXPECT_GE(files, 3);
}

TEST_F(DashboardServe, MarkupObeysItsOwnPolicy) {
  std::string html = read_file(dashboard_dir() / "index.html");
  // No inline script or style, no event handler attributes: the CSP would block them.
  EXPECT_FALSE(std::regex_search(html, std::regex("<script(?![^>]*\\bsrc=)[^>]*>", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(html, std::regex("<style", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(html, std::regex("\\sstyle=", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(html, std::regex("\\son[a-z]+=", std::regex::icase)));
  // Everything the page names is ours and served here.
  auto anon = orch_->client("");
  std::regex ref("\\s(?:src|href)=\"([^\"]*)\"");
  int refs = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref); it != std::sregex_iterator(); ++it) {
    std::string url = (*it)[1];
    SCOPED_TRACE(url);
    ASSERT_EQ(url.rfind("/ui/", 0), 0u) << "the page names a file outside /ui/";
    EXPECT_EQ(call(*anon, "GET", url).status, 200);
    ++refs;
  }
  EXPECT_GE(refs, 3);
  // The script builds the page with textContent, never from markup strings.
  std::string js = read_file(dashboard_dir() / "app.js");
  EXPECT_EQ(js.find("innerHTML"), std::string::npos);
  EXPECT_EQ(js.find("eval("), std::string::npos);
  EXPECT_EQ(js.find("setAttribute('style'"), std::string::npos);
}

TEST_F(DashboardServe, WhoamiNamesTheTokensRole) {
  auto viewer = call(*orch_->client(kViewerToken), "GET", "/v1/whoami");
  ASSERT_EQ(viewer.status, 200) << viewer.raw;
  EXPECT_EQ(viewer.body, (nlohmann::json{{"name", "victor"}, {"role", "viewer"}}));
  auto op = call(*orch_->client(kOperatorToken), "GET", "/v1/whoami");
  EXPECT_EQ(op.body, (nlohmann::json{{"name", "oscar"}, {"role", "operator"}}));
  EXPECT_EQ(call(*orch_->client("not-a-token"), "GET", "/v1/whoami").status, 401);
}

}  // namespace
}  // namespace c4i::testing
