// HTTPS/1.1 client: one kept-alive TLS connection, timeouts on connect and on
// each request, optional client certificate (mTLS), retries with exponential
// backoff and full jitter. Blocking calls: each client owns its io_context, so
// a daemon thread or a CLI uses it directly. Not thread-safe: one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "common/tls.hpp"

namespace c4i::http {

// Exponential backoff with full jitter: attempt n waits uniform(0, min(max, base*2^n)).
class Backoff {
 public:
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, std::uint64_t seed = std::random_device{}());
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds base_, max_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

struct RetryPolicy {
  int max_attempts = 1;  // 1: no retry
  std::chrono::milliseconds base{100};
  std::chrono::milliseconds max{5'000};
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 443;
  std::string server_name;  // for SNI and certificate checks; defaults to host
  tls::ClientTlsOptions tls;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds request_timeout{10'000};
  RetryPolicy retry;
  std::string bearer_token;
  std::string user_agent = "cloud4iot";
};

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  const std::string* header(const std::string& lowercase_name) const;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one request. Transport failures and 429/502/503/504 are retried per
  // the retry policy when `retry` is true (use it for idempotent requests).
  // Error codes: "unreachable" (connect/TLS), "timeout", "io_error".
  Result<ClientResponse> request(const std::string& method, const std::string& target, const std::string& body = {},
                                 const std::vector<std::pair<std::string, std::string>>& headers = {},
                                 bool retry = true);
  // Reads a streamed response (server-sent events, Kubernetes watch): calls
  // `on_data` with each piece of body as it arrives until it returns false,
  // the stream ends, or nothing arrives for `idle_timeout`. Returns the status.
  Result<int> stream(const std::string& target, const std::function<bool(std::string_view)>& on_data,
                     std::chrono::milliseconds idle_timeout,
                     const std::vector<std::pair<std::string, std::string>>& headers = {});
  void close();
  const ClientOptions& options() const { return options_; }

 private:
  struct Impl;
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
  Backoff backoff_;
};

}  // namespace c4i::http
