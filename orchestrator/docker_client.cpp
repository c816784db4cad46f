#include "orchestrator/docker_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>

#include <optional>

#include "common/tls.hpp"
#include "orchestrator/k8s_client.hpp"  // url_encode

namespace c4i::orchestrator::docker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol::socket;
using tls_stream = asio::ssl::stream<tcp::socket>;
using nlohmann::json;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {
constexpr std::size_t kMaxBodyBytes = 64u << 20;
constexpr std::size_t kMaxErrorBodyBytes = 64u << 10;

using Request = bhttp::request<bhttp::string_body>;
using OnData = std::function<bool(std::string_view)>;

// Writes the request, reads the header, then the body piece by piece: to
// `on_data` for a 2xx/3xx answer, to `error_body` (bounded) otherwise.
template <typename Stream>
asio::awaitable<Result<int>> exchange(Stream& s, Request& req, const OnData& on_data, std::string& error_body) {
  auto [wec, wn] = co_await bhttp::async_write(s, req, use_tuple);
  if (wec) co_return Error{"io_error", "write: " + wec.message()};
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> p;
  p.body_limit(boost::none);  // streams (events) have no end; callers bound what they keep
  auto [hec, hn] = co_await bhttp::async_read_header(s, buffer, p, use_tuple);
  if (hec) co_return Error{"io_error", "read: " + hec.message()};
  const int status = static_cast<int>(p.get().result_int());
  char buf[16 * 1024];
  while (!p.is_done()) {
    p.get().body().data = buf;
    p.get().body().size = sizeof buf;
    auto [ec, n] = co_await bhttp::async_read_some(s, buffer, p, use_tuple);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) co_return Error{"io_error", "read: " + ec.message()};
    const std::size_t got = sizeof buf - p.get().body().size;
    if (got == 0) continue;
    if (status >= 400) {
      if (error_body.size() < kMaxErrorBodyBytes) error_body.append(buf, std::min(got, kMaxErrorBodyBytes - error_body.size()));
    } else if (!on_data(std::string_view(buf, got))) {
      break;
    }
  }
  co_return status;
}
}  // namespace

struct Client::Impl {
  asio::io_context io;
  std::optional<asio::ssl::context> ctx;
  std::string ctx_error;
  std::unique_ptr<unix_socket> unix_sock;
  std::unique_ptr<tls_stream> tls;

  void close() {
    beast::error_code ignored;
    if (unix_sock) unix_sock->close(ignored);
    if (tls) tls->lowest_layer().close(ignored);
  }

  // Runs `op` until it completes, `deadline` passes or `stop` is set; then the
  // socket is closed, the operation let finish, and the sockets dropped.
  Result<int> drive(asio::awaitable<Result<int>> op, std::chrono::steady_clock::time_point deadline,
                    const std::atomic<bool>* stop, const std::string& what) {
    io.restart();
    std::optional<Result<int>> out;
    std::exception_ptr failure;
    asio::co_spawn(
        io, [&out, op = std::move(op)]() mutable -> asio::awaitable<void> { out.emplace(co_await std::move(op)); },
        [&failure](std::exception_ptr e) { failure = e; });
    bool cut = false, stopped = false;
    while (!out && !failure) {
      auto now = std::chrono::steady_clock::now();
      if (stop && stop->load()) stopped = true;
      if (now >= deadline || stopped) {
        cut = true;
        close();
        io.run();
        break;
      }
      io.run_for(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(100), deadline - now));
    }
    unix_sock.reset();
    tls.reset();
    if (failure) std::rethrow_exception(failure);  // a bug: every expected failure is a Result
    if (stopped) return Error{"stopped", what + ": stopped"};
    if (cut) return Error{"timeout", what + ": no answer in time"};
    return std::move(*out);
  }
};

Client::Client(Endpoint endpoint, std::string api_version)
    : endpoint_(std::move(endpoint)), prefix_("/" + api_version), impl_(std::make_unique<Impl>()) {
  if (!endpoint_.is_unix()) {
    tls::ClientTlsOptions o;
    o.ca_file = endpoint_.ca_file;
    o.cert_file = endpoint_.cert_file;
    o.key_file = endpoint_.key_file;
    auto ctx = tls::make_client_context(o);
    if (ctx) impl_->ctx.emplace(std::move(*ctx));
    else impl_->ctx_error = ctx.error().message;
  }
}

Client::~Client() = default;

namespace {
// Connects (Unix socket, or TCP + TLS with the engine's name checked) and runs one exchange.
Result<int> send(Client::Impl& impl, const Endpoint& ep, Request req, const OnData& on_data,
                 std::chrono::milliseconds deadline, const std::atomic<bool>* stop, std::string& error_body);
Request make_request(const Endpoint& ep, const std::string& prefix, const std::string& method, const std::string& path,
                     const std::string& json_body);
}  // namespace

Result<int> Client::stream(const std::string& method, const std::string& path, const OnData& on_data,
                           std::chrono::milliseconds deadline, const std::atomic<bool>* stop, std::string* error_body) {
  std::string ignored;
  return send(*impl_, endpoint_, make_request(endpoint_, prefix_, method, path, {}), on_data, deadline, stop, error_body ? *error_body : ignored);
}

namespace {
Request make_request(const Endpoint& ep, const std::string& prefix, const std::string& method, const std::string& path,
                     const std::string& json_body) {
  Request req{bhttp::string_to_verb(method), prefix + path, 11};
  req.set(bhttp::field::host, ep.is_unix() ? std::string("docker") : ep.host);
  req.set(bhttp::field::user_agent, "c4i-orchestrator/0.1.0 (cloud4iot)");
  req.set(bhttp::field::connection, "close");
  if (!json_body.empty()) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = json_body;
  }
  req.prepare_payload();
  return req;
}

Result<int> send(Client::Impl& impl, const Endpoint& ep, Request req, const OnData& on_data,
                 std::chrono::milliseconds deadline, const std::atomic<bool>* stop, std::string& error_body) {
  const std::string what = std::string(req.method_string()) + " " + std::string(req.target()) + " on " + ep.url;
  auto until = std::chrono::steady_clock::now() + deadline;
  if (ep.is_unix()) {
    impl.unix_sock = std::make_unique<unix_socket>(impl.io);
    return impl.drive(
        [](Client::Impl* im, const Endpoint* e, Request rq, const OnData* od, std::string* eb) -> asio::awaitable<Result<int>> {
          auto [cec] = co_await im->unix_sock->async_connect(asio::local::stream_protocol::endpoint(e->socket_path), use_tuple);
          if (cec) co_return Error{"unreachable", "connect " + e->url + ": " + cec.message()};
          co_return co_await exchange(*im->unix_sock, rq, *od, *eb);
        }(&impl, &ep, std::move(req), &on_data, &error_body),
        until, stop, what);
  }
  if (!impl.ctx) return Error{"tls_config", "engine " + ep.url + ": " + impl.ctx_error};
  impl.tls = std::make_unique<tls_stream>(impl.io, *impl.ctx);
  return impl.drive(
      [](Client::Impl* im, const Endpoint* e, Request rq, const OnData* od, std::string* eb) -> asio::awaitable<Result<int>> {
        tcp::resolver resolver(im->io);
        auto [rec, results] = co_await resolver.async_resolve(e->host, std::to_string(e->port), use_tuple);
        if (rec) co_return Error{"unreachable", "resolve " + e->host + ": " + rec.message()};
        auto [cec, endpoint] = co_await asio::async_connect(im->tls->lowest_layer(), results, use_tuple);
        if (cec) co_return Error{"unreachable", "connect " + e->url + ": " + cec.message()};
        if (!SSL_set_tlsext_host_name(im->tls->native_handle(), e->host.c_str()))
          co_return Error{"unreachable", "TLS to " + e->url + ": cannot set the server name"};
        im->tls->set_verify_callback(asio::ssl::host_name_verification(e->host));
        auto [hec] = co_await im->tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
        if (hec) co_return Error{"unreachable", "TLS handshake with " + e->url + ": " + hec.message()};
        co_return co_await exchange(*im->tls, rq, *od, *eb);  // Connection: close: no TLS shutdown round trip
      }(&impl, &ep, std::move(req), &on_data, &error_body),
      until, stop, what);
}
}  // namespace

Result<Response> Client::call(const std::string& method, const std::string& path, const std::string& json_body,
                              std::chrono::milliseconds timeout) {
  Response r;
  bool too_big = false;
  std::string error_body;
  OnData on_data = [&](std::string_view piece) {
    if (r.body.size() + piece.size() > kMaxBodyBytes) {
      too_big = true;
      return false;
    }
    r.body.append(piece);
    return true;
  };
  auto status = send(*impl_, endpoint_, make_request(endpoint_, prefix_, method, path, json_body), on_data, timeout, nullptr, error_body);
  if (!status) return status.error();
  if (too_big) return Error{"bad_response", method + " " + path + " on " + endpoint_.url + ": body over 64 MiB"};
  r.status = *status;
  if (r.status >= 400) r.body = std::move(error_body);
  return r;
}

Error Client::http_error(const std::string& what, const Response& r) const {
  std::string code = r.status == 404 ? "not_found" : r.status == 409 ? "conflict" : "engine_error";
  return Error{code, what + ": " + std::to_string(r.status) + " " + error_message(r.body)};
}

std::string label_filters(const std::vector<std::string>& labels, const json& extra) {
  json f = extra.is_object() ? extra : json::object();
  if (!labels.empty()) f["label"] = labels;
  return k8s::url_encode(f.dump());
}

Status Client::ping() {
  auto r = call("GET", "/_ping", {}, std::chrono::seconds(5));
  if (!r) return r.error();
  if (r->status != 200) return http_error("ping", *r);
  return ok_status();
}

Result<EngineInfo> Client::info() {
  auto r = call("GET", "/info");
  if (!r) return r.error();
  if (r->status != 200) return http_error("info", *r);
  return parse_info(r->body);
}

Result<std::optional<ImageView>> Client::inspect_image(const std::string& ref) {
  auto r = call("GET", "/images/" + k8s::url_encode(ref) + "/json");
  if (!r) return r.error();
  if (r->status == 404) return std::optional<ImageView>{};
  if (r->status != 200) return http_error("image inspect " + ref, *r);
  auto v = parse_image_inspect(r->body);
  if (!v) return v.error();
  return std::optional<ImageView>(*v);
}

Status Client::pull(const ImageRef& ref, const std::string& platform, std::chrono::milliseconds timeout) {
  std::string path = "/images/create?fromImage=" + k8s::url_encode(ref.repo) + "&tag=" + k8s::url_encode(ref.tag);
  if (!platform.empty()) path += "&platform=" + k8s::url_encode(platform);
  JsonLines lines;
  std::vector<json> msgs;
  Status failed = ok_status();
  std::string error_body;
  auto status = stream("POST", path,
                       [&](std::string_view piece) {
                         msgs.clear();
                         if (auto s = lines.feed(piece, msgs); !s) {
                           failed = s.error();
                           return false;
                         }
                         for (const auto& m : msgs)
                           if (auto s = check_pull_message(m); !s) {
                             failed = s.error();
                             return false;
                           }
                         return true;
                       },
                       timeout, nullptr, &error_body);
  if (!status) return status.error();
  if (*status != 200) return http_error("pull " + ref.str(), Response{*status, error_body});
  if (!failed) return Error{failed.error().code, "pull " + ref.str() + ": " + failed.error().message};
  return ok_status();
}

Result<std::string> Client::create(const std::string& name, const json& config, const std::string& platform) {
  std::string path = "/containers/create?name=" + k8s::url_encode(name);
  if (!platform.empty()) path += "&platform=" + k8s::url_encode(platform);
  auto r = call("POST", path, config.dump());
  if (!r) return r.error();
  if (r->status != 201) return http_error("create " + name, *r);
  auto j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("Id") || !j["Id"].is_string() || j["Id"].get<std::string>().empty())
    return Error{"bad_response", "create " + name + ": no Id in the answer"};
  return j["Id"].get<std::string>();
}

Status Client::start(const std::string& id) {
  auto r = call("POST", "/containers/" + k8s::url_encode(id) + "/start", {}, std::chrono::seconds(60));
  if (!r) return r.error();
  if (r->status != 204 && r->status != 304) return http_error("start " + id.substr(0, 12), *r);
  return ok_status();
}

Status Client::stop(const std::string& id, int timeout_s) {
  auto r = call("POST", "/containers/" + k8s::url_encode(id) + "/stop?t=" + std::to_string(timeout_s), {},
                std::chrono::seconds(timeout_s + 30));
  if (!r) return r.error();
  if (r->status != 204 && r->status != 304 && r->status != 404) return http_error("stop " + id.substr(0, 12), *r);
  return ok_status();
}

Status Client::remove(const std::string& id, bool force) {
  auto r = call("DELETE", "/containers/" + k8s::url_encode(id) + (force ? "?force=1" : ""), {}, std::chrono::seconds(60));
  if (!r) return r.error();
  if (r->status != 204 && r->status != 404) return http_error("remove " + id.substr(0, 12), *r);
  return ok_status();
}

Status Client::remove_volume(const std::string& name) {
  auto r = call("DELETE", "/volumes/" + k8s::url_encode(name) + "?force=1", {}, std::chrono::seconds(60));
  if (!r) return r.error();
  if (r->status != 204 && r->status != 404) return http_error("remove volume " + name, *r);
  return ok_status();
}

Result<ContainerView> Client::inspect(const std::string& id) {
  auto r = call("GET", "/containers/" + k8s::url_encode(id) + "/json");
  if (!r) return r.error();
  if (r->status != 200) return http_error("inspect " + id.substr(0, 12), *r);
  return parse_inspect(r->body);
}

Result<std::vector<ContainerSummary>> Client::list(const std::vector<std::string>& labels, bool all) {
  auto r = call("GET", std::string("/containers/json?all=") + (all ? "1" : "0") + "&filters=" + label_filters(labels));
  if (!r) return r.error();
  if (r->status != 200) return http_error("list containers", *r);
  return parse_container_list(r->body);
}

Result<StatsSample> Client::stats(const std::string& id) {
  auto r = call("GET", "/containers/" + k8s::url_encode(id) + "/stats?stream=false&one-shot=true");
  if (!r) return r.error();
  if (r->status != 200) return http_error("stats " + id.substr(0, 12), *r);
  return parse_stats(r->body);
}

Result<Logs> Client::logs(const std::string& id) {
  auto r = call("GET", "/containers/" + k8s::url_encode(id) + "/logs?stdout=1&stderr=1");
  if (!r) return r.error();
  if (r->status != 200) return http_error("logs " + id.substr(0, 12), *r);
  return demux_logs(r->body);
}

Result<int> Client::events(const std::vector<std::string>& labels, std::int64_t since_s,
                           const std::function<void(const ContainerEvent&)>& on_event, const std::atomic<bool>& stop) {
  std::string path = "/events?filters=" + label_filters(labels, json{{"type", {"container"}}});
  if (since_s > 0) path += "&since=" + std::to_string(since_s);
  JsonLines lines;
  std::vector<json> msgs;
  std::string error_body;
  bool bad_stream = false;
  auto status = stream("GET", path,
                       [&](std::string_view piece) {
                         msgs.clear();
                         if (!lines.feed(piece, msgs)) {
                           bad_stream = true;
                           return false;
                         }
                         for (const auto& m : msgs)
                           if (auto e = parse_event(m)) on_event(*e);
                         return true;
                       },
                       std::chrono::hours(24 * 365), &stop, &error_body);
  if (status && *status >= 400) return http_error("events", Response{*status, error_body});
  if (bad_stream) return Error{"bad_response", "events on " + endpoint_.url + ": a line too long"};
  return status;
}

}  // namespace c4i::orchestrator::docker
