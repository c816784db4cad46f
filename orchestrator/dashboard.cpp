#include "orchestrator/dashboard.hpp"

#include <array>
#include <utility>

namespace c4i::orchestrator {

std::string dashboard_content_type(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kTypes = {{
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
  }};
  for (const auto& [ext, type] : kTypes)
    if (name.ends_with(ext)) return std::string(type);
  return "application/octet-stream";
}

bool etag_matches(std::string_view header, std::string_view etag) {
  // RFC 9110, 13.1.2: "*" or a list of entity tags compared weakly (W/ ignored).
  std::size_t start = 0;
  while (start <= header.size()) {
    std::size_t end = header.find(',', start);
    if (end == std::string_view::npos) end = header.size();
    std::string_view tag = header.substr(start, end - start);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
    start = end + 1;
  }
  return false;
}

http::Response dashboard_response(const DashboardAsset& asset, const std::string* if_none_match) {
  http::Response r;
  r.content_type = dashboard_content_type(asset.name);
  r.headers = {
      {"ETag", asset.etag},
      // Revalidate every time: an upgraded orchestrator serves the new files at once.
      {"Cache-Control", "no-cache"},
      {"Content-Security-Policy", kDashboardCsp},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
  };
  if (if_none_match && etag_matches(*if_none_match, asset.etag)) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  r.body.assign(reinterpret_cast<const char*>(asset.data), asset.size);
  return r;
}

void install_dashboard(http::Server& server) {
  for (std::size_t i = 0; i < kDashboardAssetCount; ++i) {
    const DashboardAsset* asset = &kDashboardAssets[i];
    auto handler = [asset](http::Request& req) { return dashboard_response(*asset, req.header("if-none-match")); };
    if (std::string_view(asset->name) == "index.html") server.route("GET", "/", handler);
    server.route("GET", std::string("/ui/") + asset->name, handler);
  }
}

}  // namespace c4i::orchestrator
