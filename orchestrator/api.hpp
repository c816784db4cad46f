// The REST API of c4i-orchestrator (openapi.json): routes, authentication
// (bearer tokens with roles; client certificates for gateways), and the
// translation between HTTP and State. Handlers are thin: parse, check, call
// State, answer. An accepted write is durable before its answer (State::write).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/https_server.hpp"
#include "common/metrics.hpp"
#include "common/router.hpp"
#include "orchestrator/controller.hpp"
#include "orchestrator/events.hpp"
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

  // Who may call a route: anyone, a bearer token of at least a role, a
  // gateway's client certificate naming the path's {gateway}, or (mark) either.
  enum class Access { open, viewer, operator_, admin, gateway, mark };
  // Registers a route with its access rule (routes of other parts: enrolment).
  void add(http::Server& server, const std::string& method, const std::string& pattern, Access access,
           http::Handler handler);
  // The authenticated caller as the filter recorded it ("alice", "gateway:gw-1").
  static std::string who(const http::Request& req);
  // Runs first on every request that carries a verified client certificate;
  // a response it returns refuses the request (a revoked certificate).
  using PeerCheck = std::function<std::optional<http::Response>(const http::Request&)>;
  void set_peer_check(PeerCheck check) { peer_check_ = std::move(check); }
  // Runs after authorization on every request that changes state (any
  // method but GET and HEAD); a response it returns refuses it (a replica
  // that is not the leader: 503 with Retry-After, naming the leader).
  using WriteGate = std::function<std::optional<http::Response>(const http::Request&)>;
  void set_write_gate(WriteGate gate) { write_gate_ = std::move(gate); }
  // The fingerprint of the certificate every replica of this orchestrator
  // holds (its server certificate, from one Secret). A peer presenting it may
  // post a gateway's events with kForwardedGateway naming that gateway: a
  // follower forwarding what it received to the leader.
  void set_replica_certificate(std::string sha256_hex) { replica_sha256_ = std::move(sha256_hex); }
  static constexpr const char* kForwardedGateway = "x-c4i-forwarded-gateway";

 private:
  struct Principal {
    std::string name;
    Role role = Role::viewer;
  };
  std::optional<http::Response> authorize(http::Request& req);

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
  void note_clamped(const std::string& gateway, const ClampCounts& c);  // metric, and a log line per gateway per minute

  State& state_;
  Controller& controller_;
  Hub& hub_;
  metrics::Registry& metrics_;
  std::map<std::string, TokenEntry> tokens_by_hash_;
  const Settings& settings_;
  http::Router access_router_;           // same patterns as the server's, for the filter
  std::vector<Access> access_;
  PeerCheck peer_check_;
  WriteGate write_gate_;
  std::string replica_sha256_;
  std::mutex clamp_log_mu_;  // handlers run on several threads
  std::map<std::string, std::int64_t> clamp_logged_ms_;
};

// Maps an Error code to its HTTP answer.
http::Response error_to_response(const Error& e);

}  // namespace c4i::orchestrator
