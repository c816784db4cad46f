#include "common/https_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <thread>

namespace c4i::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, std::uint64_t seed)
    : base_(base), max_(max), rng_(seed) {}

std::chrono::milliseconds Backoff::next() {
  long long cap = max_.count();
  long long exp = base_.count();
  for (int i = 0; i < attempt_ && exp < cap; ++i) exp *= 2;
  exp = std::min(exp, cap);
  attempt_++;
  std::uniform_int_distribution<long long> d(0, std::max<long long>(exp, 1));
  return std::chrono::milliseconds(d(rng_));
}

const std::string* ClientResponse::header(const std::string& n) const {
  auto it = headers.find(n);
  return it == headers.end() ? nullptr : &it->second;
}

struct Client::Impl {
  asio::io_context io;
  std::optional<asio::ssl::context> ctx;
  std::string ctx_error;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> stream;
  beast::flat_buffer buffer;
  bool connected = false;

  void drop() {
    if (stream) {
      beast::error_code ec;
      stream->lowest_layer().close(ec);
    }
    stream.reset();
    buffer.clear();
    connected = false;
  }

  // Runs `op` on the io_context for at most `timeout`; on expiry the socket is
  // closed so the operation ends, and the result is a "timeout" error.
  template <typename T>
  Result<T> run(asio::awaitable<Result<T>> op, std::chrono::milliseconds timeout) {
    io.restart();
    std::optional<Result<T>> out;
    std::exception_ptr failure;
    asio::co_spawn(
        io, [&out, op = std::move(op)]() mutable -> asio::awaitable<void> { out.emplace(co_await std::move(op)); },
        [&](std::exception_ptr e) { failure = e; });
    io.run_for(timeout);
    if (!out && !failure) {
      // Close the socket so the pending operation completes with an error,
      // let it finish, and only then destroy the stream it still refers to.
      if (stream) {
        beast::error_code ignored;
        stream->lowest_layer().close(ignored);
      }
      io.run();
      drop();
      if (failure) std::rethrow_exception(failure);
      return Error{"timeout", "no answer within " + std::to_string(timeout.count()) + " ms"};
    }
    if (failure) std::rethrow_exception(failure);
    return std::move(*out);
  }
};

Client::Client(ClientOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()), backoff_(options_.retry.base, options_.retry.max) {
  if (options_.server_name.empty()) options_.server_name = options_.host;
  auto ctx = tls::make_client_context(options_.tls);
  if (ctx) impl_->ctx.emplace(std::move(*ctx));
  else impl_->ctx_error = ctx.error().message;
}

Client::~Client() = default;

void Client::close() { impl_->drop(); }

namespace {
asio::awaitable<Status> connect_op(Client* self, asio::io_context& io, asio::ssl::context& ctx,
                                   std::unique_ptr<asio::ssl::stream<tcp::socket>>& stream, const ClientOptions& o) {
  (void)self;
  tcp::resolver resolver(io);
  auto [rec, results] = co_await resolver.async_resolve(o.host, std::to_string(o.port), use_tuple);
  if (rec) co_return Error{"unreachable", "resolve " + o.host + ": " + rec.message()};
  stream = std::make_unique<asio::ssl::stream<tcp::socket>>(io, ctx);
  auto [cec, ep] = co_await asio::async_connect(stream->lowest_layer(), results, use_tuple);
  if (cec) co_return Error{"unreachable", "connect " + o.host + ":" + std::to_string(o.port) + ": " + cec.message()};
  beast::error_code ignored;
  stream->lowest_layer().set_option(tcp::no_delay(true), ignored);
  if (!SSL_set_tlsext_host_name(stream->native_handle(), o.server_name.c_str()))
    co_return Error{"unreachable", "cannot set TLS server name " + o.server_name};
  if (o.tls.verify_server) stream->set_verify_callback(asio::ssl::host_name_verification(o.server_name));
  auto [hec] = co_await stream->async_handshake(asio::ssl::stream_base::client, use_tuple);
  if (hec) co_return Error{"unreachable", "TLS handshake with " + o.host + ":" + std::to_string(o.port) + ": " + hec.message()};
  co_return ok_status();
}

bhttp::request<bhttp::string_body> make_request(const ClientOptions& o, const std::string& method,
                                                const std::string& target, const std::string& body,
                                                const std::vector<std::pair<std::string, std::string>>& headers) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(bhttp::field::host, o.server_name + ":" + std::to_string(o.port));
  req.set(bhttp::field::user_agent, o.user_agent);
  if (!o.bearer_token.empty()) req.set(bhttp::field::authorization, "Bearer " + o.bearer_token);
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req.set(k, v);
    has_type = has_type || beast::iequals(k, "content-type");
  }
  if (!body.empty() && !has_type) req.set(bhttp::field::content_type, "application/json");
  req.keep_alive(true);
  req.body() = body;
  req.prepare_payload();
  return req;
}

std::map<std::string, std::string> lower_headers(const bhttp::fields& f) {
  std::map<std::string, std::string> out;
  for (const auto& h : f) {
    std::string k(h.name_string());
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
    out[k] = std::string(h.value());
  }
  return out;
}

bool retryable_status(int s) { return s == 429 || s == 502 || s == 503 || s == 504; }
}  // namespace

Result<ClientResponse> Client::request(const std::string& method, const std::string& target, const std::string& body,
                                       const std::vector<std::pair<std::string, std::string>>& headers, bool retry) {
  if (!impl_->ctx) return Error{"tls_config", impl_->ctx_error};
  int attempts = retry ? std::max(1, options_.retry.max_attempts) : 1;
  backoff_.reset();
  Result<ClientResponse> last = Error{"unreachable", "no attempt made"};
  for (int a = 0; a < attempts; ++a) {
    if (a > 0) {
      auto wait = backoff_.next();
      if (last.ok()) {  // honour Retry-After (seconds) when the server gave one
        if (auto* ra = last->header("retry-after")) {
          try {
            wait = std::max(wait, std::chrono::milliseconds(std::stoll(*ra) * 1000));
          } catch (const std::exception&) {
          }
        }
      }
      std::this_thread::sleep_for(std::min(wait, options_.retry.max));
    }
    // A kept-alive connection the server already closed fails at once; then
    // one fresh connection is tried before counting an attempt.
    for (int fresh = 0; fresh < 2; ++fresh) {
      bool reused = impl_->connected;
      if (!impl_->connected) {
        auto c = impl_->run<Ok>(
            [](Client* self, Impl* impl, const ClientOptions* o) -> asio::awaitable<Status> {
              co_return co_await connect_op(self, impl->io, *impl->ctx, impl->stream, *o);
            }(this, impl_.get(), &options_),
            options_.connect_timeout);
        if (!c) {
          impl_->drop();
          last = c.error().code == "timeout" ? Error{"unreachable", "connect to " + options_.host + ":" + std::to_string(options_.port) + " timed out"} : c.error();
          break;
        }
        impl_->connected = true;
      }
      auto req = make_request(options_, method, target, body, headers);
      bool wrote = false;
      auto r = impl_->run<ClientResponse>(
          [](Impl* impl, bhttp::request<bhttp::string_body> rq, bool* wrote_out) -> asio::awaitable<Result<ClientResponse>> {
            auto [wec, wn] = co_await bhttp::async_write(*impl->stream, rq, use_tuple);
            // A server may answer before reading the whole body (413) and close:
            // the write fails, but its answer can still be read.
            *wrote_out = !wec;
            bhttp::response_parser<bhttp::string_body> parser;
            parser.body_limit(64 * 1024 * 1024);
            auto [rec, rn] = co_await bhttp::async_read(*impl->stream, impl->buffer, parser, use_tuple);
            if (rec && wec) co_return Error{"io_error", "write: " + wec.message()};
            if (rec) co_return Error{"io_error", "read: " + rec.message()};
            auto& msg = parser.get();
            if (wec) impl->drop();  // the server closed its side
            ClientResponse out;
            out.status = static_cast<int>(msg.result_int());
            out.headers = lower_headers(msg.base());
            out.body = std::move(msg.body());
            if (!msg.keep_alive()) impl->drop();
            co_return out;
          }(impl_.get(), std::move(req), &wrote),
          options_.request_timeout);
      last = std::move(r);
      if (!last.ok()) impl_->drop();
      bool stale = !last.ok() && reused && last.error().code == "io_error";
      if (!stale) break;
    }
    if (last.ok() && !retryable_status(last->status)) return last;
  }
  return last;
}

Result<int> Client::stream(const std::string& target, const std::function<bool(std::string_view)>& on_data,
                           std::chrono::milliseconds idle_timeout,
                           const std::vector<std::pair<std::string, std::string>>& headers) {
  if (!impl_->ctx) return Error{"tls_config", impl_->ctx_error};
  impl_->drop();  // a stream owns its connection
  auto c = impl_->run<Ok>(
      [](Client* self, Impl* impl, const ClientOptions* o) -> asio::awaitable<Status> {
        co_return co_await connect_op(self, impl->io, *impl->ctx, impl->stream, *o);
      }(this, impl_.get(), &options_),
      options_.connect_timeout);
  if (!c) {
    impl_->drop();
    return c.error().code == "timeout" ? Error{"unreachable", "connect timed out"} : c.error();
  }
  auto req = make_request(options_, "GET", target, "", headers);
  auto parser = std::make_shared<bhttp::response_parser<bhttp::buffer_body>>();
  parser->body_limit(boost::none);
  auto h = impl_->run<int>(
      [](Impl* impl, bhttp::request<bhttp::string_body> rq,
         std::shared_ptr<bhttp::response_parser<bhttp::buffer_body>> p) -> asio::awaitable<Result<int>> {
        auto [wec, wn] = co_await bhttp::async_write(*impl->stream, rq, use_tuple);
        if (wec) co_return Error{"io_error", "write: " + wec.message()};
        auto [rec, rn] = co_await bhttp::async_read_header(*impl->stream, impl->buffer, *p, use_tuple);
        if (rec) co_return Error{"io_error", "read: " + rec.message()};
        co_return static_cast<int>(p->get().result_int());
      }(impl_.get(), std::move(req), parser),
      options_.request_timeout);
  if (!h) {
    impl_->drop();
    return h.error();
  }
  int status = *h;
  char buf[16 * 1024];
  while (!parser->is_done()) {
    parser->get().body().data = buf;
    parser->get().body().size = sizeof buf;
    auto r = impl_->run<std::size_t>(
        [](Impl* impl, std::shared_ptr<bhttp::response_parser<bhttp::buffer_body>> p) -> asio::awaitable<Result<std::size_t>> {
          auto [ec, n] = co_await bhttp::async_read_some(*impl->stream, impl->buffer, *p, use_tuple);
          if (ec == bhttp::error::need_buffer) ec = {};
          if (ec) co_return Error{"io_error", "read: " + ec.message()};
          co_return n;
        }(impl_.get(), parser),
        idle_timeout);
    if (!r) {
      impl_->drop();
      if (r.error().code == "timeout") return status;  // idle: the caller decides whether to resume
      return r.error();
    }
    std::size_t got = sizeof buf - parser->get().body().size;
    if (got > 0 && !on_data(std::string_view(buf, got))) break;
  }
  impl_->drop();
  return status;
}

}  // namespace c4i::http
