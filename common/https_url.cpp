#include "common/https_url.hpp"

#include <charconv>

namespace c4i::http {

Result<HttpsUrl> parse_https_url(std::string_view url) {
  auto bad = [&](const char* why) {
    return Error{"invalid_argument", "'" + std::string(url.substr(0, 200)) + "': " + why};
  };
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("not an https:// URL");
  std::string_view rest = url.substr(kScheme.size());
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  HttpsUrl u;
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos) return bad("user information is not supported");
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unclosed [ in the host");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after the host");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return bad("no host");
  if (authority.find(':') != std::string_view::npos && authority.front() != '[' && port.empty()) return bad("empty port");
  if (!port.empty()) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) return bad("port is not 1..65535");
    u.port = static_cast<std::uint16_t>(v);
  }
  return u;
}

}  // namespace c4i::http
