// Who may call the real c4i-orchestrator (issue 13, Security): every mutating
// operation of orchestrator/openapi.json refuses a missing, a wrong and a
// too-low-role token (the role each operation needs is its x-c4i-role);
// tokens live hashed in the token file and are never written to the log or
// the state; and the orchestrator's own TLS setup refuses gateway
// certificates from another CA, expired ones and old TLS versions.
// (Cross-gateway paths are tests/orchestrator/api_test.cpp's
// AGatewayMaySpeakOnlyForItself and MarksNeedTheNodeCertificateOrAnOperator;
// the HTTP library's own mTLS checks are tests/common/https_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "common/x509.hpp"
#include "tests/orchestrator/harness.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* const kWrongToken = "wrong-token-that-looks-right-0123456789";

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// "/v1/functions/{id}:move" -> "/v1/functions/does-not-exist:move"; a gateway
// parameter names gw-1, the gateway whose certificate the test holds.
std::string fill_path(const std::string& pattern) {
  std::string out = std::regex_replace(pattern, std::regex(R"(\{gateway\})"), "gw-1");
  return std::regex_replace(out, std::regex(R"(\{[a-z_]+\})"), "does-not-exist");
}

struct Operation {
  std::string id, method, path, role;
};

std::vector<Operation> documented_operations() {
  json doc = json::parse(read_file(source_dir() + "/orchestrator/openapi.json"));
  std::vector<Operation> out;
  for (auto p = doc["paths"].begin(); p != doc["paths"].end(); ++p)
    for (auto o = p.value().begin(); o != p.value().end(); ++o)
      out.push_back({o.value().value("operationId", "?"), upper(o.key()), p.key(), o.value().value("x-c4i-role", "")});
  return out;
}

bool is_mutating(const std::string& method) { return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE"; }

TEST(ApiTokens, EveryMutatingOperationRefusesMissingWrongAndTooLowTokens) {
  // With the fleet CA: gateway enrolment checks its own credentials.
  Orchestrator orch("enrolment: {ca_cert: " + test_pki().ca() + ", ca_key: " + test_pki().dir + "/ca.key}\n");
  ASSERT_TRUE(orch.start()) << orch.log();
  const std::map<std::string, std::string> token_of = {
      {"viewer", kViewerToken}, {"operator", kOperatorToken}, {"admin", kAdminToken}};
  const std::map<std::string, std::string> role_below = {{"operator", "viewer"}, {"admin", "operator"}};
  auto ops = documented_operations();
  ASSERT_GE(ops.size(), 20u);
  // /readyz is 503 until the control loop's first pass: walk a ready server.
  ASSERT_TRUE(wait_until([&] { return call(*orch.client(""), "GET", "/readyz").status == 200; },
                         std::chrono::seconds(30)));
  int mutating = 0, bearer_mutating = 0, non_bearer_mutating = 0;
  for (const auto& op : ops) {
    SCOPED_TRACE(op.id + " " + op.method + " " + op.path);
    ASSERT_TRUE(op.role == "none" || op.role == "gateway" || op.role == "bootstrap" || op.role == "enrolled" ||
                token_of.count(op.role))
        << "x-c4i-role must be none, gateway, bootstrap, enrolled, viewer, operator or admin, got \"" << op.role << "\"";
    // The watch stream answers 400 for an unknown kind after authorizing: no endless stream.
    std::string target = fill_path(op.path) + (op.id == "watch" ? "?kinds=bogus" : "");
    json body = is_mutating(op.method) ? json::object() : json(nullptr);
    if (is_mutating(op.method)) ++mutating;
    auto anon = orch.client("");
    if (op.role == "none") {
      ASSERT_FALSE(is_mutating(op.method)) << "an open operation must not change anything";
      EXPECT_EQ(call(*anon, op.method, target, body).status, 200);
      continue;
    }
    if (op.role == "bootstrap" || op.role == "enrolled") {
      // Gateway enrolment (a well-formed CSR, so only the credential is wrong).
      ++non_bearer_mutating;
      json csr{{"csr", *x509::make_csr(*x509::generate_p256_key(), "gw-1")}};
      auto none = call(*anon, op.method, target, csr);
      EXPECT_EQ(none.status, 401) << none.raw;
      // A user's bearer token is neither a bootstrap token nor a gateway certificate.
      auto user = call(*orch.client(kAdminToken), op.method, target, csr);
      EXPECT_EQ(user.status, 401) << user.raw;
      if (op.role == "enrolled") {
        // A fleet certificate that did not enrol (made by hand) does not renew.
        auto manual = call(*orch.gateway("gw-2"), op.method, target, csr);
        EXPECT_EQ(manual.status, 403) << manual.raw;
      }
      continue;
    }
    if (op.role == "gateway") {
      ++non_bearer_mutating;
      // No certificate (a token does not make a gateway): 401; another gateway's: 403; its own passes.
      EXPECT_EQ(call(*anon, op.method, target, body).status, 401);
      EXPECT_EQ(call(*orch.client(kAdminToken), op.method, target, body).status, 401);
      auto other = call(*orch.gateway("gw-2"), op.method, target, body);
      EXPECT_EQ(other.status, 403) << other.raw;
      int own = call(*orch.gateway("gw-1"), op.method, target, body).status;
      EXPECT_TRUE(own != 401 && own != 403) << own;
      continue;
    }
    auto missing = call(*anon, op.method, target, body);
    EXPECT_EQ(missing.status, 401) << missing.raw;
    EXPECT_EQ(missing.body["error"]["code"], "unauthenticated");
    EXPECT_EQ(missing.headers["www-authenticate"], "Bearer");
    auto wrong = call(*orch.client(kWrongToken), op.method, target, body);
    EXPECT_EQ(wrong.status, 401) << wrong.raw;
    EXPECT_EQ(wrong.body["error"]["code"], "unauthenticated");
    auto prefixed = call(*orch.client(std::string(token_of.at(op.role)) + "x"), op.method, target, body);
    EXPECT_EQ(prefixed.status, 401) << "a token with one more character is another token";
    if (is_mutating(op.method)) {
      ++bearer_mutating;
      ASSERT_TRUE(role_below.count(op.role)) << "a mutating operation open to viewers";
      auto low = call(*orch.client(token_of.at(role_below.at(op.role))), op.method, target, body);
      EXPECT_EQ(low.status, 403) << low.raw;
      EXPECT_EQ(low.body["error"]["code"], "forbidden");
      EXPECT_NE(low.body["error"]["message"].get<std::string>().find(op.role), std::string::npos) << low.raw;
    }
    // The documented role is enough (the request may still fail for its content).
    int enough = call(*orch.client(token_of.at(op.role)), op.method, target, body).status;
    EXPECT_TRUE(enough != 401 && enough != 403) << "role " << op.role << " got " << enough;
  }
  EXPECT_GE(mutating, 8);  // templates x2, functions x3, marks, policy, events
  EXPECT_EQ(bearer_mutating, mutating - non_bearer_mutating);
  EXPECT_EQ(non_bearer_mutating, 3);  // events, enrol, renew
  EXPECT_TRUE(orch.running());
}

// Reads every file under `dir` (the state database, its WAL, function logs).
std::string everything_under(const std::string& dir) {
  std::string all;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) all += read_file(it->path().string());
  return all;
}

TEST(ApiTokens, TokensAreNeverWrittenToTheLogOrTheState) {
  // Debug logging and JSON lines: the most the orchestrator ever writes.
  Orchestrator orch("log: {format: json, level: debug}\n");
  ASSERT_TRUE(orch.start()) << orch.log();
  auto op = orch.client(kOperatorToken);
  auto viewer = orch.client(kViewerToken);
  auto admin = orch.client(kAdminToken);
  // Not the harness's test template: it hands the operator token to its
  // functions in their environment, which the state then rightly keeps.
  ASSERT_EQ(call(*admin, "POST", "/v1/templates", {{"name", "fn"}, {"command", {"/bin/sleep", "600"}}}).status, 201);
  auto wrong = orch.client(kWrongToken);
  for (int i = 0; i < 20; ++i) {
    char dev[18];
    std::snprintf(dev, sizeof dev, "aa:bb:cc:dd:ee:%02x", i);
    EXPECT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", dev}}).status, 201);
    EXPECT_EQ(call(*viewer, "POST", "/v1/functions", {{"template", "fn"}, {"device", dev}}).status, 403);
    EXPECT_EQ(call(*wrong, "DELETE", "/v1/functions/fn-x").status, 401);
    EXPECT_EQ(call(*op, "POST", "/v1/templates", {{"name", "t"}, {"command", {"/bin/true"}}}).status, 403);
    EXPECT_EQ(call(*admin, "POST", "/v1/functions", "{broken").status, 400);
    EXPECT_EQ(call(*viewer, "GET", "/v1/functions?limit=5").status, 200);
  }
  // A token where no token belongs: in the path, the query, a malformed header.
  EXPECT_EQ(call(*op, "GET", std::string("/v1/") + kAdminToken).status, 404);
  EXPECT_EQ(call(*viewer, "GET", std::string("/v1/functions?access_token=") + kOperatorToken).status, 400);
  auto anon = orch.client("");
  EXPECT_EQ(call(*anon, "GET", "/v1/nodes", nullptr, {{"Authorization", std::string("Basic ") + kAdminToken}}).status, 401);
  EXPECT_EQ(call(*anon, "GET", "/v1/nodes", nullptr, {{"Authorization", std::string("Bearer  ") + kViewerToken}}).status, 401);
  ASSERT_EQ(orch.stop(), 0);  // flushes the log

  std::string log = orch.log();
  ASSERT_NE(log.find("listening on"), std::string::npos) << "no log captured";
  std::string state = everything_under(orch.state_dir());
  ASSERT_FALSE(state.empty());
  for (const char* token : {kAdminToken, kOperatorToken, kViewerToken, kWrongToken}) {
    EXPECT_EQ(log.find(token), std::string::npos) << "the log holds token " << token;
    EXPECT_EQ(state.find(token), std::string::npos) << "the state directory holds token " << token;
  }
  std::string tokens_file = read_file(orch.dir().file("tokens.yaml"));
  for (const char* token : {kAdminToken, kOperatorToken, kViewerToken})
    EXPECT_EQ(tokens_file.find(token), std::string::npos) << "the token file holds a token in plain text";
}

TEST(ApiTokens, ATokenFileWithAPlaintextTokenIsRefused) {
  TempDir d;
  write_file(d.file("tokens.yaml"), "tokens:\n  - {name: bob, role: admin, token: plain-secret-value}\n");
  write_file(d.file("topology.yaml"), "nodes:\n  - {name: gw-1, tier: gateway}\n");
  const auto& pki = test_pki();
  auto r = run({binary_dir() + "/orchestrator/c4i-orchestrator", "--listen", "127.0.0.1:0", "--state-dir", d.file("state"),
                "--topology", d.file("topology.yaml"), "--tokens", d.file("tokens.yaml"), "--tls-cert", pki.cert("server"),
                "--tls-key", pki.key("server")});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("tokens[0].token"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("plain-secret-value"), std::string::npos) << "the error repeats the secret: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// A gateway client with the given certificate file pair from the test PKI directory.
std::unique_ptr<http::Client> client_with_cert(std::uint16_t port, const std::string& stem) {
  http::ClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.server_name = "localhost";
  o.tls.ca_file = test_pki().ca();
  o.tls.cert_file = test_pki().dir + "/" + stem + ".pem";
  o.tls.key_file = test_pki().dir + "/" + stem + ".key";
  o.request_timeout = std::chrono::seconds(10);
  return std::make_unique<http::Client>(o);
}

TEST(GatewayTls, TheOrchestratorRefusesForeignAndExpiredCertificatesAndOldTls) {
  Orchestrator orch;
  ASSERT_TRUE(orch.start()) << orch.log();
  json b = batch("gw-1", "boot-tls", {seen(1, "aa:bb:cc:dd:ee:71", -50, unix_ms())});
  // Both name gw-1; one is from another CA, one expired: neither may speak for it.
  for (const char* stem : {"other-gw-1", "expired-gw-1"}) {
    SCOPED_TRACE(stem);
    auto c = client_with_cert(orch.port(), stem);
    auto r = c->request("POST", "/v1/gateways/gw-1/events", b.dump(), {{"Content-Type", "application/json"}}, false);
    // TLS 1.3: the refusal surfaces on the handshake or on the first read.
    EXPECT_FALSE(r.ok()) << "status " << r->status << " " << r->body;
  }
  auto anon = orch.client("");
  EXPECT_EQ(call(*anon, "POST", "/v1/gateways/gw-1/events", b).status, 401);
  auto viewer = orch.client(kViewerToken);
  EXPECT_EQ(call(*viewer, "GET", "/v1/devices/aa:bb:cc:dd:ee:71").status, 404) << "a refused batch was applied";
  // The orchestrator's listener (not only the library's test server) refuses old TLS and weak ciphers.
  std::string target = "127.0.0.1:" + std::to_string(orch.port());
  for (const char* v : {"-tls1", "-tls1_1"}) {
    auto r = run({"openssl", "s_client", v, "-connect", target, "-CAfile", test_pki().ca()}, std::chrono::seconds(10));
    EXPECT_NE(r.code, 0) << v << " was accepted";
  }
  auto weak = run({"openssl", "s_client", "-tls1_2", "-cipher", "AES128-SHA", "-connect", target}, std::chrono::seconds(10));
  EXPECT_NE(weak.code, 0) << "a cipher without forward secrecy was accepted";
  auto good = run({"openssl", "s_client", "-tls1_2", "-connect", target, "-CAfile", test_pki().ca()}, std::chrono::seconds(10));
  EXPECT_EQ(good.code, 0) << good.err;
  // And the real gateway still gets in.
  EXPECT_EQ(call(*orch.gateway("gw-1"), "POST", "/v1/gateways/gw-1/events", b).status, 200);
}

}  // namespace
}  // namespace c4i::testing
