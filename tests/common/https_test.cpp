// The shared HTTPS server and client over real TLS sockets on loopback.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <thread>

#include "common/https_client.hpp"
#include "common/https_server.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::test_pki;

// Runs a Server on its own threads for the life of a test.
class RunningServer {
 public:
  explicit RunningServer(ServerOptions o, std::function<void(Server&)> routes = {}) : server_(std::move(o)) {
    server_.route("GET", "/hello", [](Request&) { return json_response(200, {{"hello", "world"}}); });
    server_.route("GET", "/items/{id}", [](Request& r) { return json_response(200, {{"id", *r.param("id")}}); });
    server_.route("POST", "/items/{id}:move", [](Request& r) {
      return json_response(200, {{"id", *r.param("id")}, {"body", nlohmann::json::parse(r.body)}});
    });
    server_.route("POST", "/echo", [](Request& r) { return json_response(200, {{"size", r.body.size()}}); });
    server_.route("GET", "/whoami", [](Request& r) {
      if (!r.peer) return error_response(401, "no_certificate", "no verified client certificate");
      return json_response(200, {{"cn", r.peer->common_name}, {"dns", r.peer->dns_names}});
    });
    server_.route("GET", "/flaky", [this](Request&) {
      if (flaky_.fetch_add(1) < 2) {
        auto r = error_response(503, "busy", "try again");
        return r;
      }
      return json_response(200, {{"after", flaky_.load()}});
    });
    if (routes) routes(server_);
    server_.set_metrics(&metrics_);
    auto s = server_.start();
    if (!s) throw std::runtime_error(s.error().message);
    thread_ = std::thread([this] { server_.run(); });
  }
  ~RunningServer() {
    server_.shutdown();
    thread_.join();
  }
  std::uint16_t port() const { return server_.port(); }
  Server& server() { return server_; }
  metrics::Registry& metrics() { return metrics_; }

 private:
  Server server_;
  metrics::Registry metrics_;
  std::thread thread_;
  std::atomic<int> flaky_{0};
};

ServerOptions base_options(tls::ClientCertMode mode = tls::ClientCertMode::none) {
  ServerOptions o;
  o.tls.cert_file = test_pki().cert("server");
  o.tls.key_file = test_pki().key("server");
  o.tls.client_ca_file = test_pki().ca();
  o.tls.client_cert = mode;
  o.threads = 2;
  return o;
}

ClientOptions client_options(std::uint16_t port, const std::string& cert = "") {
  ClientOptions c;
  c.host = "127.0.0.1";
  c.port = port;
  c.tls.ca_file = test_pki().ca();
  if (!cert.empty()) {
    c.tls.cert_file = test_pki().cert(cert);
    c.tls.key_file = test_pki().key(cert);
  }
  c.request_timeout = 5s;
  return c;
}

// Sends raw bytes over TLS and returns whatever the server answers before it
// closes (or `wait` passes). For requests a well-behaved client cannot make.
std::string raw_exchange(std::uint16_t port, const std::string& bytes, std::chrono::milliseconds pause_after = 0ms,
                         const std::string& more = "") {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(test_pki().ca());
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> s(io, ctx);
  s.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), port});
  s.handshake(asio::ssl::stream_base::client);
  asio::write(s, asio::buffer(bytes));
  if (pause_after > 0ms) std::this_thread::sleep_for(pause_after);
  boost::system::error_code ec;
  if (!more.empty()) asio::write(s, asio::buffer(more), ec);
  std::string out;
  char buf[4096];
  while (true) {
    std::size_t n = s.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

int status_of(const std::string& raw) {
  if (raw.size() < 12 || raw.rfind("HTTP/1.1 ", 0) != 0) return -1;
  return std::stoi(raw.substr(9, 3));
}

TEST(HttpsServer, AnswersJsonOverTls) {
  RunningServer srv(base_options());
  Client c(client_options(srv.port()));
  auto r = c.request("GET", "/hello");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["hello"], "world");
  EXPECT_EQ(*r->header("content-type"), "application/json");
}

TEST(HttpsServer, KeepAliveReusesOneConnection) {
  RunningServer srv(base_options());
  Client c(client_options(srv.port()));
  for (int i = 0; i < 20; ++i) {
    auto r = c.request("GET", "/hello");
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->status, 200);
  }
  EXPECT_DOUBLE_EQ(srv.metrics().counter("c4i_http_connections_total", "").value(), 1.0);
}

TEST(HttpsServer, PathParametersAndCustomVerbReachTheHandler) {
  RunningServer srv(base_options());
  Client c(client_options(srv.port()));
  auto r = c.request("GET", "/items/hr%2Daa");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(nlohmann::json::parse(r->body)["id"], "hr-aa");
  auto m = c.request("POST", "/items/fn-1:move", R"({"node":"edge-1"})");
  ASSERT_TRUE(m.ok());
  auto j = nlohmann::json::parse(m->body);
  EXPECT_EQ(j["id"], "fn-1");
  EXPECT_EQ(j["body"]["node"], "edge-1");
}

TEST(HttpsServer, UnknownRouteIs404AndWrongMethodIs405WithJsonError) {
  RunningServer srv(base_options());
  Client c(client_options(srv.port()));
  auto r = c.request("GET", "/nope");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["code"], "not_found");
  auto m = c.request("DELETE", "/hello");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->status, 405);
  EXPECT_EQ(*m->header("allow"), "GET");
}

TEST(HttpsServer, OversizedHeaderIs431) {
  auto o = base_options();
  o.max_header_bytes = 1024;
  RunningServer srv(o);
  Client c(client_options(srv.port()));
  auto r = c.request("GET", "/hello", "", {{"X-Big", std::string(4000, 'a')}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["code"], "header_too_large");
}

TEST(HttpsServer, OversizedBodyIs413) {
  auto o = base_options();
  o.max_body_bytes = 1000;
  RunningServer srv(o);
  Client c(client_options(srv.port()));
  auto ok = c.request("POST", "/echo", std::string(1000, 'x'));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  auto r = c.request("POST", "/echo", std::string(1001, 'x'));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"]["code"], "body_too_large");
}

TEST(HttpsServer, SlowRequestIs408) {
  auto o = base_options();
  o.request_timeout = 300ms;
  RunningServer srv(o);
  // The head arrives, the blank line that ends it never does.
  std::string answer = raw_exchange(srv.port(), "GET /hello HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(status_of(answer), 408) << answer;
  EXPECT_NE(answer.find("request_timeout"), std::string::npos);
}

TEST(HttpsServer, IdleKeepAliveConnectionIsClosedWithoutAnswer) {
  auto o = base_options();
  o.idle_timeout = 200ms;
  RunningServer srv(o);
  std::string answer = raw_exchange(srv.port(), "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  // One answer for the one request, then the server closes the idle connection.
  EXPECT_EQ(status_of(answer), 200);
  EXPECT_EQ(answer.find("HTTP/1.1", 5), std::string::npos) << answer;
}

TEST(HttpsServer, MalformedRequestIs400) {
  RunningServer srv(base_options());
  std::string answer = raw_exchange(srv.port(), "GET /hello HTTP/1.1\r\nHost x\r\n\r\n");
  EXPECT_EQ(status_of(answer), 400) << answer;
}

TEST(HttpsServer, ConnectionsBeyondTheLimitGet503) {
  auto o = base_options();
  o.max_connections = 1;
  RunningServer srv(o);
  Client first(client_options(srv.port()));
  ASSERT_EQ(first.request("GET", "/hello")->status, 200);  // holds the one slot (keep-alive)
  Client second(client_options(srv.port()));
  auto r = second.request("GET", "/hello", "", {}, false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(*r->header("retry-after"), "1");
  first.close();
  ASSERT_TRUE(testing::wait_until([&] { return srv.server().active_connections() == 0; }, 5s));
  Client third(client_options(srv.port()));
  EXPECT_EQ(third.request("GET", "/hello")->status, 200);
}

TEST(HttpsServer, HandlerSeesVerifiedClientCertificateIdentity) {
  RunningServer srv(base_options(tls::ClientCertMode::optional));
  Client gw(client_options(srv.port(), "gw-2"));
  auto r = gw.request("GET", "/whoami");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->status, 200);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["cn"], "gw-2");
  EXPECT_EQ(j["dns"][0], "gw-2");
  Client anon(client_options(srv.port()));
  EXPECT_EQ(anon.request("GET", "/whoami")->status, 401);
}

TEST(HttpsServer, CertificateFromAnotherCaIsRefused) {
  RunningServer srv(base_options(tls::ClientCertMode::optional));
  auto o = client_options(srv.port());
  o.tls.cert_file = test_pki().dir + "/other-gw-1.pem";
  o.tls.key_file = test_pki().dir + "/other-gw-1.key";
  Client c(o);
  // TLS 1.3 lets the client finish its handshake before the server checks the
  // certificate, so the refusal may surface on the handshake or the first read.
  auto r = c.request("GET", "/whoami", "", {}, false);
  EXPECT_FALSE(r.ok()) << "status " << r->status;
}

TEST(HttpsServer, ExpiredClientCertificateIsRefused) {
  RunningServer srv(base_options(tls::ClientCertMode::optional));
  auto o = client_options(srv.port());
  o.tls.cert_file = test_pki().dir + "/expired-gw-1.pem";
  o.tls.key_file = test_pki().dir + "/expired-gw-1.key";
  Client c(o);
  EXPECT_FALSE(c.request("GET", "/whoami", "", {}, false).ok());
}

TEST(HttpsServer, MissingClientCertificateIsRefusedWhenRequired) {
  RunningServer srv(base_options(tls::ClientCertMode::required));
  Client anon(client_options(srv.port()));
  auto r = anon.request("GET", "/hello", "", {}, false);
  ASSERT_FALSE(r.ok());
  Client gw(client_options(srv.port(), "gw-1"));
  EXPECT_EQ(gw.request("GET", "/hello")->status, 200);
}

// A browser resumes the first connection's TLS session on its next ones (the
// dashboard's page, then its script). With client certificates asked for,
// OpenSSL refuses that unless the server set a session id context; a resumed
// session keeps the client certificate's identity.
TEST(HttpsServer, ResumedSessionsAreAcceptedAndKeepTheClientIdentity) {
  RunningServer srv(base_options(tls::ClientCertMode::optional));
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    for (const std::string cert : {"", "gw-2"}) {
      SCOPED_TRACE("TLS version " + std::to_string(version) + ", client certificate '" + cert + "'");
      asio::io_context io;
      asio::ssl::context ctx(asio::ssl::context::tls_client);
      ctx.load_verify_file(test_pki().ca());
      ctx.set_verify_mode(asio::ssl::verify_peer);
      if (!cert.empty()) {
        ctx.use_certificate_chain_file(test_pki().cert(cert));
        ctx.use_private_key_file(test_pki().key(cert), asio::ssl::context::pem);
      }
      SSL_CTX_set_min_proto_version(ctx.native_handle(), version);
      SSL_CTX_set_max_proto_version(ctx.native_handle(), version);
      SSL_SESSION* session = nullptr;
      for (int round = 0; round < 2; ++round) {
        asio::ssl::stream<asio::ip::tcp::socket> s(io, ctx);
        s.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), srv.port()});
        if (session) SSL_set_session(s.native_handle(), session);
        boost::system::error_code ec;
        s.handshake(asio::ssl::stream_base::client, ec);
        ASSERT_FALSE(ec) << "round " << round << ": " << ec.message();
        EXPECT_EQ(SSL_session_reused(s.native_handle()), round == 1 ? 1 : 0) << "round " << round;
        asio::write(s, asio::buffer(std::string("GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
        std::string out;
        char buf[4096];
        while (true) {
          std::size_t n = s.read_some(asio::buffer(buf), ec);
          out.append(buf, n);
          if (ec) break;
        }
        EXPECT_EQ(status_of(out), cert.empty() ? 401 : 200) << out;
        if (!cert.empty()) {
          EXPECT_NE(out.find("\"cn\":\"gw-2\""), std::string::npos) << out;
        }
        // TLS 1.3 sends its ticket after the handshake: read above, so the session is resumable now.
        if (!session) session = SSL_get1_session(s.native_handle());
        ASSERT_NE(session, nullptr);
        // Our close_notify too: OpenSSL drops a session whose connection did not shut down cleanly.
        s.shutdown(ec);
      }
      SSL_SESSION_free(session);
    }
  }
}

TEST(HttpsServer, OldTlsVersionsAreRefused) {
  RunningServer srv(base_options());
  std::string target = "127.0.0.1:" + std::to_string(srv.port());
  for (const char* v : {"-tls1", "-tls1_1"}) {
    auto r = testing::run({"openssl", "s_client", v, "-connect", target, "-CAfile", test_pki().ca()}, 10s);
    EXPECT_NE(r.code, 0) << v << " was accepted";
  }
  auto ok = testing::run({"openssl", "s_client", "-tls1_2", "-connect", target, "-CAfile", test_pki().ca()}, 10s);
  EXPECT_EQ(ok.code, 0) << ok.err;
  auto weak = testing::run({"openssl", "s_client", "-tls1_2", "-cipher", "AES128-SHA", "-connect", target}, 10s);
  EXPECT_NE(weak.code, 0) << "a cipher without forward secrecy was accepted";
}

TEST(HttpsClient, RetriesRetryableStatusWithBackoff) {
  RunningServer srv(base_options());
  auto o = client_options(srv.port());
  o.retry = {5, 10ms, 50ms};
  Client c(o);
  auto r = c.request("GET", "/flaky");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(nlohmann::json::parse(r->body)["after"], 3);
}

TEST(HttpsClient, UnreachableServerIsReportedAsSuch) {
  std::uint16_t port;
  {
    RunningServer srv(base_options());
    port = srv.port();
  }
  auto o = client_options(port);
  o.retry = {3, 5ms, 10ms};
  Client c(o);
  auto r = c.request("GET", "/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "unreachable");
}

TEST(HttpsClient, ReconnectsAfterServerClosedKeptAliveConnection) {
  auto o = base_options();
  o.idle_timeout = 100ms;
  RunningServer srv(o);
  Client c(client_options(srv.port()));
  ASSERT_EQ(c.request("GET", "/hello")->status, 200);
  ASSERT_TRUE(testing::wait_until([&] { return srv.server().active_connections() == 0; }, 5s));
  auto r = c.request("GET", "/hello", "", {}, false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

TEST(HttpsClient, BackoffGrowsAndStaysUnderItsCap) {
  Backoff b(100ms, 1000ms, 42);
  for (int i = 0; i < 20; ++i) {
    auto w = b.next();
    EXPECT_GE(w.count(), 0);
    EXPECT_LE(w.count(), 1000);
  }
  EXPECT_EQ(b.attempt(), 20);
}

TEST(HttpsServer, ServerSentEventsStreamToTheClient) {
  RunningServer srv(base_options(), [](Server& s) {
    s.stream_route("GET", "/watch", [](Request&, StreamWriter& w) -> boost::asio::awaitable<void> {
      for (int i = 0; i < 3 && !w.stopping(); ++i) {
        if (!co_await w.write("data: " + std::to_string(i) + "\n\n")) co_return;
        co_await w.wait(10ms);
      }
    });
  });
  Client c(client_options(srv.port()));
  std::string got;
  auto st = c.stream("/watch", [&](std::string_view d) { got += d; return true; }, 5s);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(*st, 200);
  EXPECT_EQ(got, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
}

TEST(HttpsServerProcess, SigtermDrainsRequestInFlightThenExitsZero) {
  testing::TempDir dir;
  std::string port_file = dir.file("port");
  testing::Child server({testing::binary_dir() + "/tests/common/c4i-test-server", "--cert", test_pki().cert("server"),
                         "--key", test_pki().key("server"), "--port-file", port_file, "--threads", "2"});
  ASSERT_TRUE(testing::wait_until([&] { return !testing::read_file(port_file).empty(); }, 20s)) << server.err();
  auto port = static_cast<std::uint16_t>(std::stoi(testing::read_file(port_file)));

  Result<ClientResponse> slow = Error{"pending", ""};
  std::string mark = dir.file("handling");
  std::thread t([&] {
    Client c(client_options(port));
    slow = c.request("GET", "/slow?ms=1500&mark=" + mark, "", {}, false);
  });
  // Wait until the slow request is in its handler, then ask the server to stop.
  ASSERT_TRUE(testing::wait_until([&] { return !testing::read_file(mark).empty(); }, 10s));
  server.signal(SIGTERM);
  // New connections are refused while the request in flight finishes.
  ASSERT_TRUE(testing::wait_until([&] {
    Client probe(client_options(port));
    auto r = probe.request("GET", "/hello", "", {}, false);
    return !r.ok();
  }, 5s));
  t.join();
  ASSERT_TRUE(slow.ok()) << slow.error().message;
  EXPECT_EQ(slow->status, 200);
  ASSERT_NE(slow->header("connection"), nullptr);
  EXPECT_EQ(*slow->header("connection"), "close");
  auto code = server.wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << server.err();
}

}  // namespace
}  // namespace c4i::http
