// A follower replica's path to the leader for a gateway's events. The
// follower has checked the gateway's certificate; it posts the batch as
// received to the leader's URL (from the Lease) with the certificate every
// replica holds (Api::set_replica_certificate) and the gateway named in
// Api::kForwardedGateway, and answers the gateway with the leader's reply:
// an acknowledgement means the leader stored the events.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/http_types.hpp"
#include "common/https_client.hpp"

namespace c4i::orchestrator {

struct ForwarderOptions {
  std::string cert_file, key_file;  // this replica's (server) certificate, used as a client one
  std::string ca_file;              // the fleet CA: the leader's certificate is ours too
  std::string server_name;          // a name our certificate carries (the leader's is the same)
  std::chrono::milliseconds timeout{5'000};
};

class Forwarder {
 public:
  explicit Forwarder(ForwarderOptions options) : options_(std::move(options)) {}
  // The leader's reply, or nullopt when it could not be reached (the caller
  // answers 503 and the gateway keeps the batch in its outbox).
  std::optional<http::Response> forward(const std::string& leader_url, const http::Request& req, const std::string& gateway);

 private:
  struct Idle {
    std::string url;
    std::unique_ptr<http::Client> client;
  };
  ForwarderOptions options_;
  std::mutex mu_;
  std::vector<Idle> idle_;  // kept-alive connections, one request at a time each
};

}  // namespace c4i::orchestrator
