// An https:// URL taken apart: where a function sends its results
// (images), where the leading orchestrator replica listens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace c4i::http {

struct HttpsUrl {
  std::string host;
  std::uint16_t port = 443;
  std::string target = "/";  // path and query
};
// "https://host[:port][/path]"; IPv6 literals in brackets. Only https.
// invalid_argument names the URL and what is wrong with it.
Result<HttpsUrl> parse_https_url(std::string_view url);

}  // namespace c4i::http
