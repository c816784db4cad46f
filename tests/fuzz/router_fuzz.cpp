// Fuzzes the router and the query parser with arbitrary methods and targets.
#include <cstdint>
#include <string>

#include "common/http_types.hpp"
#include "common/router.hpp"

namespace {
const c4i::http::Router& router() {
  static c4i::http::Router r = [] {
    c4i::http::Router x;
    for (const char* p : {"/v1/nodes", "/v1/nodes/{name}", "/v1/functions/{id}", "/v1/functions/{id}:move",
                          "/v1/gateways/{gateway}/events", "/v1/policy", "/v1/policy/history", "/",
                          "/v1/{kind}/{name}/{sub}:verb"})
      x.add("GET", p), x.add("POST", p);
    return x;
  }();
  return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  auto sp = in.find(' ');
  std::string method = sp == std::string::npos ? "GET" : in.substr(0, sp);
  std::string target = sp == std::string::npos ? in : in.substr(sp + 1);
  auto q = target.find('?');
  auto m = router().match(method, target.substr(0, q));
  if (m.outcome == c4i::http::Router::Outcome::found && m.route >= router().size()) __builtin_trap();
  if (q != std::string::npos) {
    std::map<std::string, std::string> query;
    (void)c4i::http::parse_query(target.substr(q + 1), query);
  }
  return 0;
}
