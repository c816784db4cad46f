// Hostile input on the real c4i-orchestrator over TLS (issue 13, Security):
// oversized bodies and headers, deep JSON nesting, slowloris clients,
// malformed UTF-8, negative and huge numbers, path traversal in names. Each
// is answered with a 4xx and a JSON error {"error": {"code", "message"}},
// and the server keeps serving (/healthz from a fresh connection afterwards).
// The HTTP library's limits on a bare server are tests/common/https_test.cpp;
// here it is the orchestrator's handlers and configuration behind them.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/orchestrator/harness.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A TLS connection that sends exactly the bytes it is given: for requests a
// well-behaved client cannot make (a NUL in the target, a trickled head).
class RawTls {
 public:
  explicit RawTls(std::uint16_t port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, test_pki().ca().c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{20, 0};  // a bound on every read: the test never hangs on a silent server
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~RawTls() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) close(fd_);
    SSL_CTX_free(ctx_);
  }
  RawTls(const RawTls&) = delete;
  RawTls& operator=(const RawTls&) = delete;
  bool connected() const { return connected_; }
  // False once the server has closed (or reset) the connection.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Everything the server sends until it closes (or 20 s of silence).
  std::string read_all() {
    std::string out;
    char buf[4096];
    while (true) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
};

struct RawAnswer {
  int status = -1;
  json body;
  std::string raw;
};

RawAnswer parse_raw(const std::string& raw) {
  RawAnswer a;
  a.raw = raw;
  if (raw.rfind("HTTP/1.1 ", 0) == 0 && raw.size() >= 12) a.status = std::stoi(raw.substr(9, 3));
  auto at = raw.find("\r\n\r\n");
  if (at != std::string::npos) a.body = json::parse(raw.substr(at + 4), nullptr, false);
  return a;
}

RawAnswer raw_request(std::uint16_t port, const std::string& bytes) {
  RawTls c(port);
  if (!c.connected()) return {};
  c.send(bytes);
  return parse_raw(c.read_all());
}

// A request head with the operator's token, for raw requests.
std::string head(const std::string& method, const std::string& target, const std::string& token = kOperatorToken,
                 const std::string& extra = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
         "\r\nConnection: close\r\n" + extra;
}

std::string post(const std::string& target, const std::string& body, const std::string& token = kOperatorToken) {
  return head("POST", target, token, "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n") + body;
}

// {"error": {"code": "...", "message": "..."}}; const access only (operator[]
// on a const json asserts when the key is missing).
bool is_json_error(const json& b) {
  if (!b.is_object() || !b.contains("error") || !b.at("error").is_object()) return false;
  const auto& e = b.at("error");
  return e.contains("code") && e.at("code").is_string() && e.contains("message") && e.at("message").is_string();
}

#define EXPECT_4XX_JSON(answer, what)                                                                    \
  do {                                                                                                   \
    const auto& a_ = (answer);                                                                           \
    EXPECT_GE(a_.status, 400) << (what) << ": " << a_.raw.substr(0, 300);                               \
    EXPECT_LT(a_.status, 500) << (what) << ": " << a_.raw.substr(0, 300);                               \
    EXPECT_TRUE(is_json_error(a_.body)) << (what) << ": not a JSON error: " << a_.raw.substr(0, 300);    \
  } while (0)

class HostileInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }  // writes to a connection the server closed
  void SetUp() override {
    ASSERT_TRUE(orch.start()) << orch.log();
    orch.create_test_template("fn");
  }
  void TearDown() override {
    // The server is still up and answers a fresh connection.
    EXPECT_TRUE(orch.running()) << orch.log();
    auto fresh = orch.client("");
    EXPECT_EQ(call(*fresh, "GET", "/healthz").status, 200);
    EXPECT_EQ(orch.log().find("unexpected exception"), std::string::npos) << orch.log();
    EXPECT_EQ(orch.log().find("internal error"), std::string::npos) << orch.log();
  }
  // Sends `body` to each writing endpoint with a role that may call it.
  void post_everywhere(const std::string& body, const std::string& what) {
    const std::vector<std::pair<std::string, std::string>> targets = {
        {"/v1/functions", kOperatorToken},
        {"/v1/templates", kAdminToken},
        {"/v1/functions/fn-aa-bb-cc-dd-ee-01:move", kOperatorToken},
        {"/v1/functions/fn-aa-bb-cc-dd-ee-01/marks", kOperatorToken},
    };
    for (const auto& [target, token] : targets) EXPECT_4XX_JSON(raw_request(orch.port(), post(target, body, token)), what + " -> " + target);
    EXPECT_4XX_JSON(raw_request(orch.port(), head("PUT", "/v1/policy", kOperatorToken,
                                                  "If-Match: \"1\"\r\nContent-Type: application/json\r\nContent-Length: " +
                                                      std::to_string(body.size()) + "\r\n\r\n") + body),
                    what + " -> PUT /v1/policy");
    auto gw = orch.gateway("gw-1");
    auto r = gw->request("POST", "/v1/gateways/gw-1/events", body, {{"Content-Type", "application/json"}}, false);
    ASSERT_TRUE(r.ok()) << what << " -> events: " << r.error().message;
    RawAnswer a;
    a.status = r->status;
    a.raw = r->body;
    a.body = json::parse(r->body, nullptr, false);
    EXPECT_4XX_JSON(a, what + " -> events");
  }
  Orchestrator orch;
};

TEST_F(HostileInput, OversizedBodiesAndHeadersAre413And431) {
  // limits.max_body_bytes is 256 KiB by default.
  std::string big = "{\"template\":\"fn\",\"device\":\"aa:bb:cc:dd:ee:01\",\"pad\":\"" + std::string(300 * 1024, 'x') + "\"}";
  auto a = raw_request(orch.port(), post("/v1/functions", big));
  EXPECT_EQ(a.status, 413);
  EXPECT_4XX_JSON(a, "300 KiB body");
  // A Content-Length announcing more than the limit is refused before the body comes.
  a = raw_request(orch.port(), head("POST", "/v1/functions", kOperatorToken, "Content-Length: 1099511627776\r\n\r\n"));
  EXPECT_EQ(a.status, 413);
  EXPECT_4XX_JSON(a, "1 TiB Content-Length");
  a = raw_request(orch.port(), head("POST", "/v1/functions", kOperatorToken, "Content-Length: 18446744073709551616\r\n\r\n"));
  EXPECT_4XX_JSON(a, "Content-Length 2^64");
  a = raw_request(orch.port(), head("POST", "/v1/functions", kOperatorToken, "Content-Length: -1\r\n\r\n"));
  EXPECT_4XX_JSON(a, "Content-Length -1");
  // One huge header, and many small ones: 431 either way.
  a = raw_request(orch.port(), head("GET", "/v1/nodes", kViewerToken, "X-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n"));
  EXPECT_EQ(a.status, 431);
  EXPECT_4XX_JSON(a, "64 KiB header");
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  a = raw_request(orch.port(), head("GET", "/v1/nodes", kViewerToken, many + "\r\n"));
  EXPECT_EQ(a.status, 431);
  EXPECT_4XX_JSON(a, "5000 headers");
  a = raw_request(orch.port(), "GET /" + std::string(32 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_4XX_JSON(a, "32 KiB target");
  // An event batch over the orchestrator's own limit (events, not bytes).
  std::vector<json> events;
  for (int i = 1; i <= 1001; ++i) events.push_back(heartbeat(i, 0.1, 0.1, unix_ms()));
  auto r = call(*orch.gateway("gw-1"), "POST", "/v1/gateways/gw-1/events", batch("gw-1", "big", events));
  EXPECT_EQ(r.status, 413) << r.raw;
}

TEST_F(HostileInput, DeepJsonNestingIs400) {
  const std::size_t depth = 100'000;
  post_everywhere(std::string(depth, '['), "100k unclosed [");
  post_everywhere(std::string(depth, '[') + std::string(depth, ']'), "100k nested arrays");
  std::string deep_obj;
  for (std::size_t i = 0; i < depth / 8; ++i) deep_obj += "{\"a\":";
  deep_obj += "1" + std::string(depth / 8, '}');
  post_everywhere(deep_obj, "12.5k nested objects");
  // Deep values inside otherwise well-formed bodies, where a handler reads them.
  std::string deep = std::string(depth, '[') + std::string(depth, ']');
  auto a = raw_request(orch.port(), post("/v1/templates", "{\"name\":\"deep\",\"command\":[\"/bin/true\"],\"env\":{\"A\":" + deep + "}}", kAdminToken));
  EXPECT_4XX_JSON(a, "deep env value");
  a = raw_request(orch.port(), post("/v1/templates", "{\"name\":\"deep\",\"command\":" + deep + "}", kAdminToken));
  EXPECT_4XX_JSON(a, "deep command");
  a = raw_request(orch.port(), post("/v1/functions", "{\"template\":\"fn\",\"device\":" + deep + "}"));
  EXPECT_4XX_JSON(a, "deep device");
  auto gw = orch.gateway("gw-1");
  auto r = gw->request("POST", "/v1/gateways/gw-1/events",
                       R"({"gateway":"gw-1","boot_id":"b","seq":1,"events":[{"seq":1,"type":"device.seen","t":1,"addr":"aa:bb:cc:dd:ee:01","addr_type":"public","rssi":-50,"services":)" +
                           deep + "}]}",
                       {{"Content-Type", "application/json"}}, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(call(*orch.client(kViewerToken), "GET", "/v1/templates/deep").status, 404);
}

TEST_F(HostileInput, SlowlorisClientsGet408WhileOthersAreServed) {
  // 20 clients trickle a request head one byte at a time and never end it;
  // a TCP client never even starts its TLS handshake.
  const int n = 20;
  std::vector<std::unique_ptr<RawTls>> slow;
  for (int i = 0; i < n; ++i) {
    slow.push_back(std::make_unique<RawTls>(orch.port()));
    ASSERT_TRUE(slow.back()->connected());
  }
  int silent = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(orch.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string trickle = head("GET", "/v1/nodes", kViewerToken) + "X-Pad: " + std::string(4096, 'z');
  std::vector<bool> open(n, true);
  auto start = std::chrono::steady_clock::now();
  bool served_meanwhile = false;
  std::size_t pos = 0;
  // The trickle is the attack itself: one byte per connection every 50 ms,
  // until the server has closed them all (request_timeout 10 s) or 30 s pass.
  while (std::count(open.begin(), open.end(), true) > 0 && std::chrono::steady_clock::now() - start < 30s) {
    for (int i = 0; i < n; ++i)
      if (open[i]) open[i] = slow[i]->send(std::string_view(trickle).substr(pos % trickle.size(), 1));
    ++pos;
    if (!served_meanwhile && pos == 20) {
      auto fresh = orch.client(kViewerToken);
      served_meanwhile = call(*fresh, "GET", "/v1/nodes").status == 200;
    }
    std::this_thread::sleep_for(50ms);
  }
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(served_meanwhile) << "a normal client was not served while the slow ones trickled";
  EXPECT_LT(took, 30s) << "slow clients still connected after 30 s";
  for (int i = 0; i < n; ++i) {
    auto a = parse_raw(slow[i]->read_all());
    EXPECT_EQ(a.status, 408) << a.raw.substr(0, 200);
    EXPECT_4XX_JSON(a, "slowloris " + std::to_string(i));
  }
  // The silent TCP peer was dropped by the handshake timeout: recv sees the close.
  timeval tv{20, 0};
  setsockopt(silent, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c;
  EXPECT_EQ(recv(silent, &c, 1, 0), 0) << "a connection that never started TLS was kept open";
  close(silent);
}

TEST_F(HostileInput, MalformedUtf8IsRefused) {
  const std::vector<std::pair<std::string, std::string>> strings = {
      {"\xff\xfe", "bytes ff fe"},
      {"\xc0\xaf", "overlong '/'"},
      {"\xed\xa0\x80", "encoded surrogate"},
      {"ab\xe2\x82", "truncated sequence"},
      {"\\ud800", "lone surrogate escape"},
      {"\\udc00\\ud800", "reversed surrogate pair"},
  };
  for (const auto& [s, what] : strings) {
    SCOPED_TRACE(what);
    post_everywhere("{\"template\":\"" + s + "\",\"device\":\"aa:bb:cc:dd:ee:01\",\"name\":\"" + s + "\",\"mark\":\"" + s + "\"}", what);
    auto a = raw_request(orch.port(), post("/v1/templates", "{\"name\":\"u\",\"command\":[\"/bin/true\"],\"env\":{\"K\":\"" + s + "\"}}", kAdminToken));
    EXPECT_4XX_JSON(a, what + " in env");
    auto gw = orch.gateway("gw-1");
    std::string body = R"({"gateway":"gw-1","boot_id":"u","seq":1,"events":[{"seq":1,"type":"device.seen","t":1,"addr":"aa:bb:cc:dd:ee:01","addr_type":"public","rssi":-50,"name":")" + s + "\"}]}";
    auto r = gw->request("POST", "/v1/gateways/gw-1/events", body, {{"Content-Type", "application/json"}}, false);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << r->body;
  }
  // In the path and the query, percent-encoded.
  auto v = orch.client(kViewerToken);
  for (const char* target : {"/v1/functions/%ff%fe", "/v1/functions?template=%c0%af", "/v1/nodes?tier=%ed%a0%80",
                             "/v1/watch?kinds=%ff", "/v1/devices/%e2%82"}) {
    auto r = call(*v, "GET", target);
    RawAnswer a{r.status, r.body, r.raw};
    EXPECT_4XX_JSON(a, target);
  }
  EXPECT_EQ(call(*v, "GET", "/v1/templates/u").status, 404);
}

TEST_F(HostileInput, NegativeAndHugeNumbersAreRefused) {
  const std::vector<std::string> numbers = {"-1", "1e400", "-1e400", "18446744073709551616", "18446744073709551615",
                                            "9223372036854775808", "-9223372036854775809", "1.5", "NaN", "0x10"};
  for (const auto& n : numbers) {
    SCOPED_TRACE(n);
    auto a = raw_request(orch.port(), post("/v1/templates", "{\"name\":\"n\",\"command\":[\"/bin/true\"],\"cpu_m\":" + n + "}", kAdminToken));
    EXPECT_4XX_JSON(a, "cpu_m " + n);
    a = raw_request(orch.port(), post("/v1/templates", "{\"name\":\"n\",\"command\":[\"/bin/true\"],\"mem_mb\":" + n + "}", kAdminToken));
    EXPECT_4XX_JSON(a, "mem_mb " + n);
    a = raw_request(orch.port(), post("/v1/templates", "{\"name\":\"n\",\"command\":[\"/bin/true\"],\"move_cost\":" + n + "}", kAdminToken));
    EXPECT_4XX_JSON(a, "move_cost " + n);
    a = raw_request(orch.port(), post("/v1/functions/x/marks", "{\"mark\":\"first_data\",\"t\":" + n + "}"));
    EXPECT_4XX_JSON(a, "mark t " + n);
    for (const std::string field : {"seq", "t", "rssi"}) {
      // -1 dBm is a real (if strong) RSSI: in range (-127..127), not hostile.
      if (field == "rssi" && n == "-1") continue;
      json ev = seen(1, "aa:bb:cc:dd:ee:01", -50, 1);
      std::string body = batch("gw-1", "num", {ev}).dump();
      std::string key = "\"" + field + "\":";
      // Replace the event's field (the last occurrence: the envelope has a seq too).
      auto at = body.rfind(key);
      auto end = body.find_first_of(",}", at + key.size());
      body = body.substr(0, at + key.size()) + n + body.substr(end);
      auto r = orch.gateway("gw-1")->request("POST", "/v1/gateways/gw-1/events", body, {{"Content-Type", "application/json"}}, false);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->status, 400) << field << "=" << n << ": " << r->body;
    }
    auto v = orch.client(kViewerToken);
    auto r = call(*v, "GET", "/v1/functions?limit=" + n);
    EXPECT_EQ(r.status, 400) << "limit=" << n;
    // A policy number out of range.
    auto pol = call(*v, "GET", "/v1/policy");
    std::string p = pol.body["policy"].dump();
    auto at = p.find("\"cooldown_s\":");
    ASSERT_NE(at, std::string::npos) << p;
    auto end = p.find_first_of(",}", at + 13);
    p = p.substr(0, at + 13) + n + p.substr(end);
    a = raw_request(orch.port(), head("PUT", "/v1/policy", kOperatorToken,
                                      "If-Match: " + pol.headers["etag"] + "\r\nContent-Type: application/json\r\nContent-Length: " +
                                          std::to_string(p.size()) + "\r\n\r\n") + p);
    EXPECT_4XX_JSON(a, "cooldown_s " + n);
  }
  // Nothing of it was stored.
  auto v = orch.client(kViewerToken);
  EXPECT_EQ(call(*v, "GET", "/v1/templates/n").status, 404);
  EXPECT_EQ(call(*v, "GET", "/v1/policy").body["version"], 1);
  EXPECT_EQ(call(*v, "GET", "/v1/devices/aa:bb:cc:dd:ee:01").status, 404);
}

TEST_F(HostileInput, PathTraversalInNamesIsRefused) {
  auto admin = orch.client(kAdminToken);
  auto op = orch.client(kOperatorToken);
  for (const std::string name : {"../x", "..", ".", "a/../../etc", "..%2f..%2fetc", "%2e%2e", ".hidden", "a\\..\\b", "a/b"}) {
    SCOPED_TRACE(name);
    auto r = call(*admin, "POST", "/v1/templates", {{"name", name}, {"command", {"/bin/true"}}});
    RawAnswer a{r.status, r.body, r.raw};
    EXPECT_4XX_JSON(a, "template " + name);
    r = call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:01"}, {"id", name}});
    a = {r.status, r.body, r.raw};
    EXPECT_4XX_JSON(a, "function id " + name);
  }
  // A NUL in a name, in JSON and raw on the wire.
  auto a = raw_request(orch.port(), post("/v1/functions", "{\"template\":\"fn\",\"device\":\"aa:bb:cc:dd:ee:01\",\"id\":\"a\\u0000b\"}"));
  EXPECT_4XX_JSON(a, "NUL escape in id");
  a = raw_request(orch.port(), post("/v1/templates", std::string("{\"name\":\"a\0b\",\"command\":[\"/bin/true\"]}", 38), kAdminToken));
  EXPECT_4XX_JSON(a, "raw NUL in name");
  a = raw_request(orch.port(), head("GET", std::string("/v1/templates/a\0b", 17), kViewerToken, "\r\n"));
  EXPECT_4XX_JSON(a, "raw NUL in target");
  // Traversal in paths: the router never resolves dot segments.
  auto v = orch.client(kViewerToken);
  for (const char* target : {"/v1/templates/..%2f..%2fetc%2fpasswd", "/v1/templates/%2e%2e", "/v1/templates/%00",
                             "/v1/../healthz", "/v1/functions/..", "/v1/templates/fn/../fn", "/../../etc/passwd",
                             "/v1/functions/%2e%2e%2fstate.db:move"}) {
    auto r = call(*v, std::string(target).ends_with(":move") ? "POST" : "GET", target);
    RawAnswer ra{r.status, r.body, r.raw};
    EXPECT_4XX_JSON(ra, target);
  }
  // Nothing was created, and no file appeared outside the state directory's logs.
  EXPECT_EQ(call(*v, "GET", "/v1/templates").body["items"].size(), 1u);
  EXPECT_EQ(call(*v, "GET", "/v1/functions").body["items"].size(), 0u);
}

}  // namespace
}  // namespace c4i::testing
