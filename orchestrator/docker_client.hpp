// A Docker Engine API client (v1.41) over Beast: HTTP/1.1 over the engine's
// Unix socket (asio local::stream_protocol) or over TCP with TLS and a client
// certificate. One connection per request (a Unix socket costs nothing; an
// engine closes idle connections anyway); each request has a deadline, and a
// streamed one (pull progress, events) can be stopped from another thread
// through `stop`. Blocking calls; each Client owns its io_context: one per
// thread. Bodies are parsed by docker_api.hpp.
//
// Errors name the engine and what failed: code "unreachable" (connect or
// TLS), "timeout", "io_error", "not_found" (404), "conflict" (409),
// "engine_error" (other 4xx/5xx, with the engine's message), "pull_failed".
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "orchestrator/docker_api.hpp"

namespace c4i::orchestrator::docker {

struct Response {
  int status = 0;
  std::string body;
};

class Client {
 public:
  explicit Client(Endpoint endpoint, std::string api_version = "v1.41");
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One request; `path` without the version prefix ("/containers/json?all=1").
  Result<Response> call(const std::string& method, const std::string& path, const std::string& json_body = {},
                        std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // A streamed response: `on_data` gets each piece of body (chunked encoding
  // undone) until it returns false, the stream ends, `deadline` passes, or
  // `stop` becomes true. Returns the status; an error status's body is read whole first.
  Result<int> stream(const std::string& method, const std::string& path, const std::function<bool(std::string_view)>& on_data,
                     std::chrono::milliseconds deadline, const std::atomic<bool>* stop = nullptr,
                     std::string* error_body = nullptr);

  Status ping();
  Result<EngineInfo> info();
  // nullopt when the engine does not have the image.
  Result<std::optional<ImageView>> inspect_image(const std::string& ref);
  // POST /images/create: pulls `ref` for `platform` ("linux/arm64"), reading
  // the progress stream to its end; an error inside the stream fails it.
  Status pull(const ImageRef& ref, const std::string& platform, std::chrono::milliseconds timeout);
  // Returns the container id.
  Result<std::string> create(const std::string& name, const nlohmann::json& config, const std::string& platform);
  Status start(const std::string& id);
  // Stops (SIGTERM, SIGKILL after timeout_s); an absent or stopped container is success.
  Status stop(const std::string& id, int timeout_s);
  // Removes (force: kills first); an absent container is success.
  Status remove(const std::string& id, bool force);
  // Removes a volume; an absent one is success (409 while a container uses it).
  Status remove_volume(const std::string& name);
  Result<ContainerView> inspect(const std::string& id);
  // Containers carrying every label ("key=value" or "key").
  Result<std::vector<ContainerSummary>> list(const std::vector<std::string>& labels, bool all);
  Result<StatsSample> stats(const std::string& id);
  Result<Logs> logs(const std::string& id);
  // GET /events for containers with the labels, since `since_s` (unix s, 0: now),
  // until `stop` or the connection ends. Returns the HTTP status.
  Result<int> events(const std::vector<std::string>& labels, std::int64_t since_s,
                     const std::function<void(const ContainerEvent&)>& on_event, const std::atomic<bool>& stop);

  const Endpoint& endpoint() const { return endpoint_; }

 // The transport (io_context, socket), opaque; public for the file's helpers.
  struct Impl;

 private:
  Error http_error(const std::string& what, const Response& r) const;
  Endpoint endpoint_;
  std::string prefix_;
  std::unique_ptr<Impl> impl_;
};

// The filters query value {"label":[...]} (and more keys) as Docker wants it.
std::string label_filters(const std::vector<std::string>& labels, const nlohmann::json& extra = nlohmann::json::object());

}  // namespace c4i::orchestrator::docker
