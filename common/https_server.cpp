#include "common/https_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace c4i::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
// Completion token that never throws: `auto [ec, n] = co_await op(use_tuple);`
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {
void log_spawn_failure(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("{}: unexpected exception: {}", what, ex.what());
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}
}  // namespace

// One TLS connection: handshake, then requests in a keep-alive loop. Lives on
// its own strand; a watchdog coroutine enforces deadlines by cancelling the
// socket (not closing it, so a 408 can still be written).
class Session : public std::enable_shared_from_this<Session>, public StreamWriter {
 public:
  Session(Server& server, tcp::socket socket, asio::ssl::context& ctx)
      : server_(server),
        executor_(socket.get_executor()),
        stream_(std::move(socket), ctx),
        deadline_timer_(executor_),
        wake_timer_(executor_) {}

  asio::awaitable<void> run();

  // Called from any thread by Server::shutdown().
  void stop() {
    asio::post(executor_, [self = shared_from_this()] {
      self->stop_requested_ = true;
      if (self->idle_) self->cancel_io();
      self->wake_timer_.cancel();
    });
  }
  void force_close() {
    asio::post(executor_, [self = shared_from_this()] {
      self->stop_requested_ = true;
      beast::error_code ec;
      self->stream_.lowest_layer().close(ec);
      self->wake_timer_.cancel();
    });
  }

  // StreamWriter
  asio::awaitable<bool> write(std::string data) override {
    set_deadline(server_.options_.request_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, bhttp::make_chunk(asio::buffer(data)), use_tuple);
    set_deadline(std::nullopt);
    co_return !ec;
  }
  asio::awaitable<void> wait(std::chrono::milliseconds max_wait) override {
    if (stop_requested_ || woken_) {
      woken_ = false;
      co_return;
    }
    wake_timer_.expires_after(max_wait);
    co_await wake_timer_.async_wait(use_tuple);
    woken_ = false;
  }
  void wake() override {
    asio::post(executor_, [self = shared_from_this()] {
      self->woken_ = true;
      self->wake_timer_.cancel();
    });
  }
  bool stopping() const override { return stop_requested_; }
  asio::any_io_executor executor() const { return executor_; }

 private:
  using Stream = asio::ssl::stream<tcp::socket>;

  void cancel_io() {
    beast::error_code ec;
    stream_.lowest_layer().cancel(ec);
  }
  // Deadlines are a plain member checked by the watchdog on a coarse tick:
  // re-arming a timer on every change would wake the watchdog several times
  // per request, which costs more than the request itself on a small gateway.
  void set_deadline(std::optional<std::chrono::milliseconds> d) {
    timed_out_ = false;
    deadline_ = d ? Clock::now() + *d : Clock::time_point::max();
  }
  asio::awaitable<void> watchdog() {
    auto self = shared_from_this();
    const auto& o = server_.options_;
    auto tick = std::clamp(std::min({o.request_timeout, o.idle_timeout, o.handshake_timeout}) / 4,
                           std::chrono::milliseconds(5), std::chrono::milliseconds(250));
    while (open_) {
      deadline_timer_.expires_after(tick);
      co_await deadline_timer_.async_wait(use_tuple);
      if (!open_) break;
      if (deadline_ <= Clock::now()) {
        timed_out_ = true;
        deadline_ = Clock::time_point::max();
        cancel_io();
      }
    }
  }
  asio::awaitable<bool> send(Response resp, bool keep_alive);
  asio::awaitable<void> serve_stream(Request& req, std::size_t route);
  asio::awaitable<void> finish();

  Server& server_;
  asio::any_io_executor executor_;
  Stream stream_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer wake_timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool open_ = true;
  bool idle_ = false;
  bool timed_out_ = false;
  bool stop_requested_ = false;
  bool woken_ = false;
  std::string remote_;
};

asio::awaitable<bool> Session::send(Response resp, bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(resp.status), 11};
  res.set(bhttp::field::server, server_.options_.server_name);
  if (!resp.content_type.empty()) res.set(bhttp::field::content_type, resp.content_type);
  for (auto& [k, v] : resp.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = std::move(resp.body);
  res.prepare_payload();
  set_deadline(server_.options_.request_timeout);
  auto [ec, n] = co_await bhttp::async_write(stream_, res, use_tuple);
  set_deadline(std::nullopt);
  co_return !ec;
}

asio::awaitable<void> Session::serve_stream(Request& req, std::size_t route) {
  bhttp::response<bhttp::empty_body> res{bhttp::status::ok, 11};
  res.set(bhttp::field::server, server_.options_.server_name);
  res.set(bhttp::field::content_type, "text/event-stream");
  res.set(bhttp::field::cache_control, "no-cache");
  res.chunked(true);
  res.keep_alive(false);
  bhttp::response_serializer<bhttp::empty_body> sr{res};
  set_deadline(server_.options_.request_timeout);
  auto [ec, n] = co_await bhttp::async_write_header(stream_, sr, use_tuple);
  set_deadline(std::nullopt);
  if (ec) co_return;
  try {
    co_await server_.handlers_[route].stream(req, *this);
  } catch (const std::exception& e) {
    spdlog::error("stream handler {} failed: {}", req.path, e.what());
  }
  set_deadline(std::chrono::milliseconds(1000));
  co_await asio::async_write(stream_, bhttp::make_chunk_last(), use_tuple);
  set_deadline(std::nullopt);
}

asio::awaitable<void> Session::finish() {
  // Close notify, bounded: a peer that never answers must not hold us.
  set_deadline(std::chrono::milliseconds(500));
  co_await stream_.async_shutdown(use_tuple);
  open_ = false;
  deadline_timer_.cancel();
  beast::error_code ec;
  stream_.lowest_layer().close(ec);
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  beast::error_code ec0;
  auto ep = stream_.lowest_layer().remote_endpoint(ec0);
  if (!ec0) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  asio::co_spawn(executor_, watchdog(), [](std::exception_ptr e) { log_spawn_failure(e, "watchdog"); });
  const auto& opt = server_.options_;

  set_deadline(opt.handshake_timeout);
  if (auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, use_tuple); ec) {
    spdlog::debug("tls handshake from {} failed: {}", remote_, ec.message());
    open_ = false;
    deadline_timer_.cancel();
    co_return;
  }
  set_deadline(std::nullopt);
  std::optional<PeerIdentity> peer = tls::peer_identity(stream_.native_handle());

  beast::flat_buffer buffer;
  while (!stop_requested_ && !server_.stopping()) {
    // Wait for the first byte of the next request under the idle timeout.
    if (buffer.size() == 0) {
      idle_ = true;
      set_deadline(opt.idle_timeout);
      auto [ec, n] = co_await stream_.async_read_some(buffer.prepare(4096), use_tuple);
      idle_ = false;
      set_deadline(std::nullopt);
      if (ec) break;  // idle timeout, client gone, or shutdown: nothing to answer
      buffer.commit(n);
    }
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opt.max_header_bytes));
    parser.body_limit(opt.max_body_bytes);
    set_deadline(opt.request_timeout);
    auto [ec, n] = co_await bhttp::async_read(stream_, buffer, parser, use_tuple);
    bool timed_out = timed_out_;
    set_deadline(std::nullopt);
    if (ec) {
      Response err;
      if (timed_out) err = error_response(408, "request_timeout", "the request did not arrive within " + std::to_string(opt.request_timeout.count()) + " ms");
      else if (ec == bhttp::error::header_limit) err = error_response(431, "header_too_large", "request headers exceed " + std::to_string(opt.max_header_bytes) + " bytes");
      else if (ec == bhttp::error::body_limit) err = error_response(413, "body_too_large", "request body exceeds " + std::to_string(opt.max_body_bytes) + " bytes");
      else if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::ssl::error::stream_truncated || ec == asio::error::operation_aborted || ec == asio::error::connection_reset) break;
      else err = error_response(400, "bad_request", "malformed HTTP request: " + ec.message());
      if (server_.metrics_) server_.metrics_->counter("c4i_http_requests_total", "HTTP requests by status", {{"status", std::to_string(err.status)}}).inc();
      co_await send(std::move(err), false);
      break;
    }
    auto start = Clock::now();
    auto& msg = parser.get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.remote_address = remote_;
    req.peer = peer;
    auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    bool query_ok = q == std::string::npos || parse_query(req.target.substr(q + 1), req.query);
    for (const auto& f : msg) req.headers[lower(std::string(f.name_string()))] = std::string(f.value());
    req.body = std::move(msg.body());
    bool keep_alive = msg.keep_alive();

    Response resp;
    bool is_stream = false;
    std::size_t stream_route = 0;
    if (!query_ok) resp = error_response(400, "bad_query", "malformed percent-escape or text that is not UTF-8 in the query string");
    else resp = server_.dispatch(req, stream_route, is_stream);
    if (is_stream) {
      co_await serve_stream(req, stream_route);
      break;
    }
    if (server_.metrics_) {
      server_.metrics_->counter("c4i_http_requests_total", "HTTP requests by status", {{"status", std::to_string(resp.status)}}).inc();
      server_.metrics_->histogram("c4i_http_request_duration_seconds", "Time to handle a request")
          .observe(std::chrono::duration<double>(Clock::now() - start).count());
    }
    keep_alive = keep_alive && !resp.close && !stop_requested_ && !server_.stopping();
    if (!co_await send(std::move(resp), keep_alive)) break;
    if (!keep_alive) break;
  }
  co_await finish();
}

Server::Server(ServerOptions options) : options_(std::move(options)) {}
Server::~Server() = default;

void Server::route(const std::string& method, const std::string& pattern, Handler handler) {
  router_.add(method, pattern);
  handlers_.push_back({std::move(handler), nullptr});
}

void Server::stream_route(const std::string& method, const std::string& pattern, StreamHandler handler) {
  router_.add(method, pattern);
  handlers_.push_back({nullptr, std::move(handler)});
}

Response Server::dispatch(Request& req, std::size_t& stream_route, bool& is_stream) {
  auto m = router_.match(req.method, req.path);
  switch (m.outcome) {
    case Router::Outcome::not_found: return error_response(404, "not_found", "no route for " + req.method + " " + req.path);
    case Router::Outcome::bad_path: return error_response(400, "bad_path", "malformed path " + req.path);
    case Router::Outcome::method_not_allowed: {
      std::string allow;
      for (auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
      auto r = error_response(405, "method_not_allowed", req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
      r.headers.emplace_back("Allow", allow);
      return r;
    }
    case Router::Outcome::found: break;
  }
  req.params = std::move(m.params);
  if (filter_) {
    if (auto r = filter_(req)) return *r;
  }
  if (handlers_[m.route].stream) {
    is_stream = true;
    stream_route = m.route;
    return {};
  }
  try {
    return handlers_[m.route].handler(req);
  } catch (const std::exception& e) {
    spdlog::error("handler {} {} failed: {}", req.method, req.path, e.what());
    return error_response(500, "internal", "internal error while handling the request");
  }
}

Status Server::start() {
  auto ctx = tls::make_server_context(options_.tls);
  if (!ctx) return ctx.error();
  ssl_.emplace(std::move(*ctx));
  beast::error_code ec;
  auto addr = asio::ip::make_address(options_.address, ec);
  if (ec) return Error{"invalid_argument", "listen address " + options_.address + ": " + ec.message()};
  tcp::endpoint ep(addr, options_.port);
  acceptor_ = std::make_unique<tcp::acceptor>(asio::make_strand(io_));
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error{"listen_failed", "listen on " + options_.address + ":" + std::to_string(options_.port) + ": " + ec.message()};
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(acceptor_->get_executor(), accept_loop(), [](std::exception_ptr e) { log_spawn_failure(e, "accept loop"); });
  return ok_status();
}

void Server::register_session(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(sessions_mu_);
  sessions_.insert(s);
}
void Server::unregister_session(Session* s) {
  std::lock_guard lock(sessions_mu_);
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
    if (it->get() == s) {
      sessions_.erase(it);
      break;
    }
}

asio::awaitable<void> Server::reject_busy(tcp::socket socket) {
  asio::ssl::stream<tcp::socket> stream(std::move(socket), *ssl_);
  asio::steady_timer guard(stream.get_executor());
  guard.expires_after(options_.handshake_timeout);
  guard.async_wait([&stream](beast::error_code ec) {
    if (!ec) {
      beast::error_code ignored;
      stream.lowest_layer().cancel(ignored);
    }
  });
  if (auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple); !ec) {
    bhttp::response<bhttp::string_body> res{bhttp::status::service_unavailable, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.set(bhttp::field::retry_after, "1");
    res.keep_alive(false);
    res.body() = error_response(503, "overloaded", "too many connections, retry later").body;
    res.prepare_payload();
    co_await bhttp::async_write(stream, res, use_tuple);
    co_await stream.async_shutdown(use_tuple);
  }
  guard.cancel();
}

asio::awaitable<void> Server::accept_loop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_->async_accept(asio::make_strand(io_), use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping_) break;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (metrics_) metrics_->counter("c4i_http_connections_total", "TCP connections accepted").inc();
    if (active_.load() >= options_.max_connections) {
      if (metrics_) metrics_->counter("c4i_http_rejected_connections_total", "Connections refused with 503 (over max_connections)").inc();
      auto ex = socket.get_executor();
      asio::co_spawn(ex, reject_busy(std::move(socket)), [](std::exception_ptr e) { log_spawn_failure(e, "reject"); });
      continue;
    }
    auto session = std::make_shared<Session>(*this, std::move(socket), *ssl_);
    active_++;
    register_session(session);
    if (stopping_) session->stop();
    asio::co_spawn(session->executor(), session->run(), [this, session](std::exception_ptr e) {
      log_spawn_failure(e, "session");
      unregister_session(session.get());
      active_--;
    });
  }
}

asio::awaitable<void> Server::drain() {
  auto deadline = Clock::now() + options_.drain_timeout;
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (active_.load() > 0 && Clock::now() < deadline) {
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(use_tuple);
  }
  if (active_.load() > 0) {
    spdlog::warn("drain timeout: closing {} connection(s) still busy", active_.load());
    std::lock_guard lock(sessions_mu_);
    for (auto& s : sessions_) s->force_close();
  }
}

void Server::shutdown() {
  if (stopping_.exchange(true)) return;
  spdlog::info("shutting down: no new connections, finishing requests in flight");
  asio::post(acceptor_->get_executor(), [this] {
    beast::error_code ec;
    acceptor_->close(ec);
  });
  {
    std::lock_guard lock(sessions_mu_);
    for (auto& s : sessions_) s->stop();
  }
  asio::post(io_, [this] {
    beast::error_code ec;
    if (signals_) signals_->cancel(ec);
  });
  asio::co_spawn(io_, drain(), [](std::exception_ptr e) { log_spawn_failure(e, "drain"); });
}

void Server::run() {
  std::vector<std::thread> extra;
  for (int i = 1; i < options_.threads; ++i) extra.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : extra) t.join();
}

void Server::run_until_signal() {
  // The signal wait keeps run() alive until a signal or an explicit shutdown().
  signals_.emplace(io_, SIGINT, SIGTERM);
  signals_->async_wait([this](beast::error_code ec, int sig) {
    if (!ec) {
      spdlog::info("signal {} received", sig);
      shutdown();
    }
  });
  run();
}

}  // namespace c4i::http
