// The orchestrator's REST API as c4ictl uses it (orchestrator/openapi.json):
// one kept-alive TLS connection with the bearer token. Failures come back as
// Errors whose code gives the exit code: "unreachable" (connect, TLS, no
// answer: 3), "refused" (the server answered 4xx/5xx; the message is the
// server's own: 1), anything else (a local problem such as the CA file: 2).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/https_client.hpp"
#include "common/result.hpp"
#include "ctl/contexts.hpp"
#include "ctl/sse.hpp"

namespace c4i::ctl {

struct Connection {
  std::string server;  // https://host:port, for messages
  ServerAddress address;
  std::string ca_file;
  std::string token;
};

struct ApiResponse {
  int status = 0;
  nlohmann::json body;  // null when the body is empty or not JSON
  std::map<std::string, std::string> headers;
};

class ApiClient {
 public:
  explicit ApiClient(Connection c);
  const Connection& connection() const { return conn_; }

  // Any answer; only transport failures are errors.
  Result<ApiResponse> call(const std::string& method, const std::string& target, const std::string& body = {},
                           const std::vector<std::pair<std::string, std::string>>& headers = {});
  // A 2xx JSON answer, else "refused" with the server's message.
  Result<nlohmann::json> get(const std::string& target);
  // Every item of a list, following continue tokens.
  Result<std::vector<nlohmann::json>> list_all(const std::string& kind, const std::string& query = {});

  // GET /v1/watch?kinds=...: calls `on_event` for each change until it returns
  // false. `on_open` runs once the stream is established (before any event),
  // so a caller can read the current state without missing a change. Resumes
  // after an idle timeout or a dropped connection with Last-Event-ID, while
  // `keep_going` (checked then) says so; `idle` gives how long to wait for
  // data before that check (default 40 s: the server's keep-alive is 15 s).
  Status watch(const std::string& kinds, const std::function<bool(const SseEvent&)>& on_event,
               const std::function<bool()>& on_open = {}, const std::function<bool()>& keep_going = {},
               const std::function<std::chrono::milliseconds()>& idle = {});

  // The "refused" Error of a non-2xx answer: the server's message, its status and code.
  static Error refused(const ApiResponse& r);

 private:
  Error transport(const Error& e) const;
  Connection conn_;
  std::unique_ptr<http::Client> client_;
};

}  // namespace c4i::ctl
