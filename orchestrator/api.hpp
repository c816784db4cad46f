// The REST API of c4i-orchestrator (openapi.json): routes, authentication
// (bearer tokens with roles; client certificates for gateways), and the
// translation between HTTP and State. Handlers are thin: parse, check, call
// State, answer. An accepted write is durable before its answer (State::write).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/https_server.hpp"
#include "common/metrics.hpp"
#include "common/router.hpp"
#include "orchestrator/controller.hpp"
#include "orchestrator/hub.hpp"
#include "orchestrator/settings.hpp"
#include "orchestrator/state.hpp"

namespace c4i::orchestrator {

// The embedded OpenAPI document (generated from orchestrator/openapi.json).
extern const char* const kOpenApiJson;

// sha256 of a token, lowercase hex (what the token file stores).
std::string sha256_hex(std::string_view data);

class Api {
 public:
  Api(State& state, Controller& controller, Hub& hub, metrics::Registry& metrics, std::vector<TokenEntry> tokens,
      const Settings& settings);
  // Registers every route and the auth filter on `server`.
  void install(http::Server& server);

 private:
  enum class Access { open, viewer, operator_, admin, gateway, mark };
  struct Principal {
    std::string name;
    Role role = Role::viewer;
  };
  void add(http::Server& server, const std::string& method, const std::string& pattern, Access access,
           http::Handler handler);
  std::optional<http::Response> authorize(http::Request& req);
  static std::string who(const http::Request& req);

  http::Response events(http::Request& req);
  http::Response list(const std::string& kind, http::Request& req);
  http::Response get_one(const std::string& kind, const std::string& id);
  http::Response create_template(http::Request& req);
  http::Response delete_template(http::Request& req);
  http::Response create_function(http::Request& req);
  http::Response delete_function(http::Request& req);
  http::Response move_function(http::Request& req);
  http::Response mark(http::Request& req);
  http::Response get_policy(http::Request& req);
  http::Response put_policy(http::Request& req);
  http::Response policy_history(http::Request& req);
  boost::asio::awaitable<void> watch(http::Request& req, http::StreamWriter& out);

  State& state_;
  Controller& controller_;
  Hub& hub_;
  metrics::Registry& metrics_;
  std::map<std::string, TokenEntry> tokens_by_hash_;
  const Settings& settings_;
  http::Router access_router_;           // same patterns as the server's, for the filter
  std::vector<Access> access_;
};

// Maps an Error code to its HTTP answer.
http::Response error_to_response(const Error& e);

}  // namespace c4i::orchestrator
