// HTTPS/1.1 server on Boost.Beast and Asio, one C++20 coroutine per
// connection. Routes map to handlers that turn a Request into a Response;
// stream routes (server-sent events) write chunks until the client leaves or
// the server stops. Limits answer with their status: a header too large 431,
// a body too large 413, a request too slow 408, too many connections 503.
// shutdown() stops accepting, lets requests in flight finish, then run() returns.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "common/http_types.hpp"
#include "common/metrics.hpp"
#include "common/result.hpp"
#include "common/router.hpp"
#include "common/tls.hpp"

namespace c4i::http {

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: pick a free port (see Server::port())
  tls::ServerTlsOptions tls;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
  std::chrono::milliseconds request_timeout{10'000};   // from the first byte to the whole request
  std::chrono::milliseconds idle_timeout{60'000};      // keep-alive wait for the next request
  std::chrono::milliseconds handshake_timeout{5'000};
  std::chrono::milliseconds drain_timeout{10'000};     // how long shutdown waits for requests in flight
  std::size_t max_connections = 4096;
  int threads = 1;
  std::string server_name = "cloud4iot";
};

class Session;

// Handed to a stream handler: writes chunks of a text/event-stream response.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Writes one chunk; false when the client is gone.
  virtual boost::asio::awaitable<bool> write(std::string data) = 0;
  // Waits until wake() is called, the server stops, or `max_wait` passes.
  virtual boost::asio::awaitable<void> wait(std::chrono::milliseconds max_wait) = 0;
  // Thread-safe: ends a wait() early (new data is ready).
  virtual void wake() = 0;
  virtual bool stopping() const = 0;
};

using Handler = std::function<Response(Request&)>;
using StreamHandler = std::function<boost::asio::awaitable<void>(Request&, StreamWriter&)>;
// Runs before routing; a response it returns is sent instead (auth, revocation).
using Filter = std::function<std::optional<Response>(Request&)>;

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void route(const std::string& method, const std::string& pattern, Handler handler);
  void stream_route(const std::string& method, const std::string& pattern, StreamHandler handler);
  void set_filter(Filter filter) { filter_ = std::move(filter); }
  void set_metrics(metrics::Registry* registry) { metrics_ = registry; }

  // Loads the TLS context, binds and listens. After it, port() is known.
  Status start();
  std::uint16_t port() const { return port_; }
  // Runs the I/O threads (options.threads, this one included) until the
  // server has shut down and drained. Call after start().
  void run();
  // Like run(), and SIGINT/SIGTERM call shutdown().
  void run_until_signal();
  // Thread-safe; idempotent.
  void shutdown();
  bool stopping() const { return stopping_.load(); }
  boost::asio::io_context& io() { return io_; }
  std::size_t active_connections() const { return active_.load(); }

 private:
  friend class Session;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> drain();
  boost::asio::awaitable<void> reject_busy(boost::asio::ip::tcp::socket socket);
  Response dispatch(Request& req, std::size_t& stream_route_out, bool& is_stream);
  void register_session(const std::shared_ptr<Session>& s);
  void unregister_session(Session* s);

  ServerOptions options_;
  boost::asio::io_context io_;
  std::optional<boost::asio::ssl::context> ssl_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::optional<boost::asio::signal_set> signals_;
  Router router_;
  struct RouteEntry {
    Handler handler;
    StreamHandler stream;
  };
  std::vector<RouteEntry> handlers_;
  Filter filter_;
  metrics::Registry* metrics_ = nullptr;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> active_{0};
  std::mutex sessions_mu_;
  std::set<std::shared_ptr<Session>> sessions_;
};

}  // namespace c4i::http
