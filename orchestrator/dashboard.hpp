// The operator dashboard: the static files of orchestrator/dashboard/, compiled
// into the binary by embed_dashboard.cmake and served at "/" (index.html) and
// "/ui/<file>". They need no token: the files hold no data, and every API call
// the page makes carries the operator's bearer token. Each answer has its
// content type, an ETag (If-None-Match answers 304) and a Content-Security-
// Policy that lets the page run only its own scripts and talk only to this
// server (no inline script or style, nothing from outside).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/http_types.hpp"
#include "common/https_server.hpp"

namespace c4i::orchestrator {

struct DashboardAsset {
  const char* name;           // file name under orchestrator/dashboard/ ("app.js")
  const unsigned char* data;  // its bytes
  std::size_t size;
  const char* etag;           // quoted strong validator: a prefix of the file's sha256
};

// Generated at build time (dashboard_assets.cpp), sorted by name.
extern const DashboardAsset kDashboardAssets[];
extern const std::size_t kDashboardAssetCount;

inline constexpr const char* kDashboardCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// The Content-Type of a dashboard file, by its extension.
std::string dashboard_content_type(std::string_view name);

// True when an If-None-Match header value names `etag` (or is "*").
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// The answer to GET of `asset`, given the request's If-None-Match (or null).
http::Response dashboard_response(const DashboardAsset& asset, const std::string* if_none_match);

// Routes GET / (index.html) and GET /ui/<name> for every embedded file. The
// API's filter does not know these routes, so they need no token.
void install_dashboard(http::Server& server);

}  // namespace c4i::orchestrator
