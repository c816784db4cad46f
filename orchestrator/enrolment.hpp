// Gateway enrolment: a gateway joins the fleet by itself, with its own
// identity (orchestrator/README.md, "Gateway enrolment").
//
//  - An admin makes a bootstrap token (POST /v1/gateway-tokens): short-lived,
//    bounded uses, optionally assigning the gateway's name, with labels for
//    its node. Only its SHA-256 is stored; the token is shown once.
//  - POST /v1/enrol (no client certificate): the token and a CSR; the fleet CA
//    signs a short-lived client certificate for the gateway's name. Checks,
//    the token's use, the identity and the certificate's record are one
//    transaction: a refusal leaves nothing behind.
//  - POST /v1/enrol/renew (the current certificate): a new certificate for a
//    new key, before the old one expires.
//  - POST /v1/gateways/{gateway}:revoke (admin): every certificate of that
//    gateway is refused from the next request on, and its node is
//    unschedulable. The revoked set is in memory, checked on every request
//    that carries a client certificate (Api::set_peer_check).
// Tokens and identities change the store as kinds "tokens" and "gateways":
// the kubernetes backend keeps them in the cluster (BootstrapToken,
// GatewayIdentity), written before the answer, so every replica knows them.
// The node itself is registered by the gateway's first authenticated
// heartbeat (State::apply_batch), with the token's labels.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>

#include "common/https_server.hpp"
#include "common/metrics.hpp"
#include "common/x509.hpp"
#include "orchestrator/api.hpp"
#include "orchestrator/store.hpp"

namespace c4i::orchestrator {

struct EnrolmentOptions {
  std::string ca_cert, ca_key;          // empty: enrolment answers 503 (tokens still work)
  std::int64_t cert_lifetime_s = 24 * 3600;
  std::int64_t max_token_ttl_s = 7 * 24 * 3600;
};

class Enrolment {
 public:
  Enrolment(Store& store, metrics::Registry& metrics, EnrolmentOptions options);
  // Loads the CA (errors "invalid_config") and the revoked set.
  Status start();
  // Reads the revoked set again from the store: after the kubernetes
  // backend's copy was replaced from the cluster (a follower's sync, a new
  // leader's load), where another replica may have revoked a gateway.
  Status reload();
  // Registers the routes (through `api`, for its access rules) and the
  // revocation check.
  void install(http::Server& server, Api& api);
  bool enabled() const { return ca_.has_value(); }

  // A response refusing the request when its client certificate is revoked.
  std::optional<http::Response> check_peer(const http::Request& req);

 private:
  http::Response create_token(http::Request& req);
  http::Response list_tokens(http::Request& req);
  http::Response enrol(http::Request& req);
  http::Response renew(http::Request& req);
  http::Response revoke(http::Request& req);
  http::Response refuse(const Error& e, const char* what);

  Store& store_;
  metrics::Registry& metrics_;
  EnrolmentOptions options_;
  std::optional<x509::Ca> ca_;
  std::shared_mutex mu_;  // the revoked sets: read by every request thread, written by revoke and enrol
  std::set<std::string> revoked_serials_;
  std::set<std::string> revoked_names_;
};

}  // namespace c4i::orchestrator
