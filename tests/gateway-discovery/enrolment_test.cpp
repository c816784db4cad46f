// Gateway enrolment end to end over real TLS (issue 16): the real
// c4i-orchestrator with the test fleet CA, real c4i-discovery daemons that
// hold only a bootstrap token, and c4ictl making tokens and revoking. A fresh
// gateway enrols and becomes a node; each bad request is refused with its
// reason and leaves nothing behind; the certificate rotates with events
// flowing; a revoked gateway is refused on its next request.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "common/x509.hpp"
#include "tests/orchestrator/harness.hpp"

namespace c4i::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string discovery() { return binary_dir() + "/gateway-discovery/c4i-discovery"; }
std::string ctl_path() { return binary_dir() + "/ctl/c4ictl"; }

std::string enrolment_config(int cert_lifetime_s = 3600) {
  const auto& pki = test_pki();
  return "enrolment: {ca_cert: " + pki.ca() + ", ca_key: " + pki.dir + "/ca.key, cert_lifetime_s: " +
         std::to_string(cert_lifetime_s) + "}\n";
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// c4ictl as the admin, against `orch`.
RunResult ctl(const Orchestrator& orch, const TempDir& dir, std::vector<std::string> args) {
  std::vector<std::string> argv{"env", "-u", "C4I_CONTEXT", "-u", "C4I_TOKEN", "-u", "C4I_CONFIG", "HOME=" + dir.path(),
                                ctl_path(), "--server", "https://localhost:" + std::to_string(orch.port()),
                                "--token", kAdminToken, "--ca", test_pki().ca()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

// A bootstrap token made with c4ictl (the token alone on stdout).
std::string make_token(const Orchestrator& orch, const TempDir& dir, std::vector<std::string> flags) {
  std::vector<std::string> args{"gateway", "token", "create"};
  args.insert(args.end(), flags.begin(), flags.end());
  auto r = ctl(orch, dir, args);
  EXPECT_EQ(r.code, 0) << r.err;
  std::string t = r.out;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  EXPECT_NE(t.find('.'), std::string::npos) << t;
  return t;
}

// One gateway: its directory, its config, its daemon.
struct Gateway {
  TempDir dir;
  std::string name;
  std::unique_ptr<Child> daemon;

  Gateway(const Orchestrator& orch, std::string gw_name, double renew_at = 2.0 / 3.0) : name(std::move(gw_name)) {
    write_file(dir.file("discovery.yaml"),
               "gateway: " + name + "\n"
               "source: sim:unix:" + dir.file("sim.sock") + "\n"
               "orchestrator: {url: 'https://127.0.0.1:" + std::to_string(orch.port()) + "', ca_file: " + test_pki().ca() + "}\n"
               "outbox: {path: " + dir.file("outbox.db") + "}\n"
               "delivery: {batch_max: 10, backoff_base_ms: 20, backoff_max_ms: 300, request_timeout_ms: 3000}\n"
               "heartbeat: {interval_s: 1}\n"
               "enrolment: {dir: " + dir.file("identity") + ", renew_at: " + std::to_string(renew_at) + "}\n");
  }
  ~Gateway() {
    if (daemon && daemon->running()) {
      daemon->signal(SIGTERM);
      daemon->wait(10s);
    }
  }
  // Starts the daemon, with the token in a file when one is given.
  void start(const std::string& token = "") {
    std::vector<std::string> argv{discovery(), "--config", dir.file("discovery.yaml")};
    if (!token.empty()) {
      write_file(dir.file("token"), token + "\n");
      argv.insert(argv.end(), {"--enrol-token-file", dir.file("token")});
    }
    daemon = std::make_unique<Child>(argv, std::map<std::string, std::string>{}, dir.path());
  }
  // Runs the daemon to its end: exit code and stderr.
  std::pair<int, std::string> run_to_exit(const std::string& token) {
    start(token);
    auto code = daemon->wait(30s);
    return {code.value_or(-1), daemon->err()};
  }
  std::string key_file() const { return dir.file("identity/gateway.key"); }
  std::string cert_file() const { return dir.file("identity/gateway.pem"); }
};

json token_list(const Orchestrator& orch) {
  auto r = call(*orch.client(kAdminToken), "GET", "/v1/gateway-tokens");
  EXPECT_EQ(r.status, 200) << r.raw;
  return r.body["items"];
}

json node(const Orchestrator& orch, const std::string& name) {
  auto r = call(*orch.client(kViewerToken), "GET", "/v1/nodes/" + name);
  return r.status == 200 ? r.body : json();
}

TEST(Enrolment, AFreshGatewayEnrolsAndItsEventsMakeItANode) {
  Orchestrator orch(enrolment_config());
  ASSERT_TRUE(orch.start()) << orch.log();
  TempDir home;
  const std::string token = make_token(orch, home, {"--ttl", "1h", "--labels", "zone=kitchen,room=r2"});

  Gateway gw(orch, "pi-1");
  gw.start(token);
  auto admin = orch.client(kAdminToken);
  json n = wait_for(*admin, "/v1/nodes/pi-1", [](const json& b) { return b.is_object() && b.contains("name"); });
  ASSERT_TRUE(n.is_object() && n.value("name", "") == "pi-1") << gw.daemon->err() << orch.log();
  EXPECT_EQ(n["tier"], "gateway");
  EXPECT_EQ(n["source"], "heartbeat");
  EXPECT_EQ(n["labels"], (json{{"zone", "kitchen"}, {"room", "r2"}}));
  EXPECT_GT(n["cpu_capacity_m"].get<std::int64_t>(), 0);
  EXPECT_GT(n["mem_capacity_mb"].get<std::int64_t>(), 0);
  EXPECT_FALSE(n.value("unschedulable", true));
  // The operator sees it at once.
  auto nodes = ctl(orch, home, {"get", "nodes"});
  ASSERT_EQ(nodes.code, 0) << nodes.err;
  EXPECT_NE(nodes.out.find("pi-1"), std::string::npos) << nodes.out;

  // Its key stays on the gateway, readable by it alone; the certificate is
  // the fleet CA's, for its name.
  struct stat st{};
  ASSERT_EQ(::stat(gw.key_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto cert = x509::inspect_cert(read_file(gw.cert_file()));
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->common_name, "pi-1");
  EXPECT_TRUE(x509::key_matches_cert(read_file(gw.key_file()), read_file(gw.cert_file())));
  auto verify = run({"openssl", "verify", "-CAfile", test_pki().ca(), "-purpose", "sslclient", gw.cert_file()});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
  EXPECT_NE(orch.log().find("gateway pi-1 enrolled with bootstrap token"), std::string::npos) << orch.log();
  // Neither the bootstrap token's secret nor the gateway's key is anywhere on the orchestrator's side.
  const std::string secret = token.substr(token.find('.') + 1);
  std::string key_body = read_file(gw.key_file());
  key_body = key_body.substr(key_body.find('\n') + 1, 40);
  std::string state;
  for (const auto& e : std::filesystem::recursive_directory_iterator(orch.state_dir()))
    if (e.is_regular_file()) state += read_file(e.path().string());
  for (const std::string& where : {state, orch.log(), gw.daemon->err()}) {
    EXPECT_EQ(where.find(secret), std::string::npos);
    EXPECT_EQ(where.find(key_body), std::string::npos);
  }

  // Events keep being accepted (heartbeats each second move heartbeat_t).
  const auto first_hb = n["usage"]["heartbeat_t"];
  auto later = wait_for(*admin, "/v1/nodes/pi-1", [&](const json& b) { return b["usage"]["heartbeat_t"] != first_hb; });
  EXPECT_NE(later["usage"]["heartbeat_t"], first_hb);

  // The token was single-use: used up.
  auto tokens = token_list(orch);
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0]["uses"], 1);
  EXPECT_EQ(tokens[0]["state"], "used_up");
  EXPECT_FALSE(tokens[0].contains("token"));  // shown once, at creation

  // Restarted without the token, it keeps its identity: no second enrolment.
  gw.daemon->signal(SIGTERM);
  ASSERT_EQ(gw.daemon->wait(10s), 0) << gw.daemon->err();
  EXPECT_EQ(gw.daemon->err().find("enrolment refused"), std::string::npos);
  const std::string serial = cert->serial_hex;
  gw.start();
  const auto hb = node(orch, "pi-1")["usage"]["heartbeat_t"];
  wait_for(*admin, "/v1/nodes/pi-1", [&](const json& b) { return b["usage"]["heartbeat_t"] != hb; });
  EXPECT_NE(node(orch, "pi-1")["usage"]["heartbeat_t"], hb) << gw.daemon->err();
  EXPECT_EQ(gw.daemon->err().find("enrolled as"), std::string::npos) << gw.daemon->err();
  EXPECT_EQ(x509::inspect_cert(read_file(gw.cert_file()))->serial_hex, serial);
  EXPECT_EQ(count(orch.log(), "enrolled with bootstrap token"), 1);
}

TEST(Enrolment, EachBadEnrolmentIsRefusedAndLeavesNothingBehind) {
  Orchestrator orch(enrolment_config());
  ASSERT_TRUE(orch.start()) << orch.log();
  TempDir home;

  // An unknown token.
  {
    Gateway gw(orch, "pi-unknown");
    auto [code, err] = gw.run_to_exit("bt-0000000000.00000000000000000000000000000000");
    EXPECT_EQ(code, 6) << err;
    EXPECT_NE(err.find("HTTP 401 unknown_token"), std::string::npos) << err;
    EXPECT_FALSE(::access(gw.key_file().c_str(), F_OK) == 0) << "a refused gateway keeps no key";
  }
  // An expired token.
  {
    const std::string t = make_token(orch, home, {"--ttl", "1s"});
    ASSERT_TRUE(wait_until([&] { return token_list(orch).back()["state"] == "expired"; }, 10s));
    Gateway gw(orch, "pi-expired");
    auto [code, err] = gw.run_to_exit(t);
    EXPECT_EQ(code, 6) << err;
    EXPECT_NE(err.find("HTTP 401 token_expired"), std::string::npos) << err;
  }
  // A reused token: one use, two gateways.
  {
    const std::string t = make_token(orch, home, {"--ttl", "1h", "--uses", "1"});
    Gateway first(orch, "pi-first");
    first.start(t);
    ASSERT_TRUE(wait_until([&] { return !node(orch, "pi-first").is_null(); }, 20s)) << first.daemon->err();
    Gateway second(orch, "pi-second");
    auto [code, err] = second.run_to_exit(t);
    EXPECT_EQ(code, 6) << err;
    EXPECT_NE(err.find("HTTP 401 token_used_up"), std::string::npos) << err;
  }
  // A CSR for another name than the token assigns.
  {
    const std::string t = make_token(orch, home, {"--ttl", "1h", "--name", "pi-assigned"});
    Gateway gw(orch, "pi-impostor");
    auto [code, err] = gw.run_to_exit(t);
    EXPECT_EQ(code, 6) << err;
    EXPECT_NE(err.find("HTTP 403 name_mismatch"), std::string::npos) << err;
  }
  // A weak key and a malformed CSR, straight to the API (the daemon makes neither).
  const std::string t = make_token(orch, home, {"--ttl", "1h", "--uses", "1"});
  auto anon = orch.client("");
  {
    EVP_PKEY* rsa = EVP_RSA_gen(1024);
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, rsa, nullptr, nullptr, 0, nullptr, nullptr);
    char* p = nullptr;
    long len = BIO_get_mem_data(b, &p);
    std::string key(p, static_cast<std::size_t>(len));
    BIO_free(b);
    EVP_PKEY_free(rsa);
    auto r = call(*anon, "POST", "/v1/enrol", {{"csr", *x509::make_csr(key, "pi-weak")}, {"token", t}});
    EXPECT_EQ(r.status, 400) << r.raw;
    EXPECT_EQ(r.body["error"]["code"], "weak_key") << r.raw;
  }
  {
    auto r = call(*anon, "POST", "/v1/enrol", {{"csr", "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n"}, {"token", t}});
    EXPECT_EQ(r.status, 400) << r.raw;
    EXPECT_EQ(r.body["error"]["code"], "malformed_csr") << r.raw;
    auto no_token = call(*anon, "POST", "/v1/enrol", {{"csr", *x509::make_csr(*x509::generate_p256_key(), "pi-x")}});
    EXPECT_EQ(no_token.status, 401) << no_token.raw;
    // Renewal without a certificate.
    auto renew = call(*anon, "POST", "/v1/enrol/renew", {{"csr", *x509::make_csr(*x509::generate_p256_key(), "pi-x")}});
    EXPECT_EQ(renew.status, 401) << renew.raw;
  }
  // Nothing half-registered: no node for any refused gateway, and the
  // refusals did not spend the last token's single use.
  auto nodes = call(*orch.client(kViewerToken), "GET", "/v1/nodes");
  for (const auto& item : nodes.body["items"]) {
    const std::string name = item["name"];
    EXPECT_TRUE(name == "pi-first" || name.rfind("pi-", 0) != 0) << name;
  }
  EXPECT_EQ(token_list(orch).back()["uses"], 0);
  Gateway good(orch, "pi-good");
  good.start(t);
  ASSERT_TRUE(wait_until([&] { return !node(orch, "pi-good").is_null(); }, 20s)) << good.daemon->err();
  // A fleet certificate that did not enrol cannot renew.
  auto manual = orch.gateway("gw-1");
  auto r = call(*manual, "POST", "/v1/enrol/renew", {{"csr", *x509::make_csr(*x509::generate_p256_key(), "gw-1")}});
  EXPECT_EQ(r.status, 403) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "not_enrolled") << r.raw;
  // Every refusal said why in the orchestrator's log.
  for (const char* why : {"expired at", "was already used", "names gateway", "too weak", "not a PEM"})
    EXPECT_NE(orch.log().find(why), std::string::npos) << why << "\n" << orch.log();
}

TEST(Enrolment, RotationKeepsEventsFlowingWithNoGap) {
  // Certificates live 6 s and are renewed at half of that: several rotations,
  // and each old certificate expires while the daemon runs.
  Orchestrator orch(enrolment_config(6));
  ASSERT_TRUE(orch.start()) << orch.log();
  TempDir home;
  Gateway gw(orch, "pi-rot", 0.5);
  gw.start(make_token(orch, home, {"--ttl", "1h"}));
  ASSERT_TRUE(wait_until([&] { return !node(orch, "pi-rot").is_null(); }, 20s)) << gw.daemon->err();
  auto first = x509::inspect_cert(read_file(gw.cert_file()));
  ASSERT_TRUE(first);
  ASSERT_TRUE(wait_until([&] { return count(orch.log(), "gateway pi-rot renewed its certificate") >= 3; }, 40s))
      << gw.daemon->err() << orch.log();
  // The first certificate has expired by now; events are still accepted.
  ASSERT_TRUE(wait_until([&] { return unix_ms() > first->not_after_ms + 1500; }, 20s));
  const auto hb = node(orch, "pi-rot")["usage"]["heartbeat_t"];
  auto admin = orch.client(kAdminToken);
  wait_for(*admin, "/v1/nodes/pi-rot", [&](const json& b) { return b["usage"]["heartbeat_t"] != hb; });
  EXPECT_NE(node(orch, "pi-rot")["usage"]["heartbeat_t"], hb) << gw.daemon->err();
  auto now = x509::inspect_cert(read_file(gw.cert_file()));
  ASSERT_TRUE(now);
  EXPECT_NE(now->serial_hex, first->serial_hex);
  EXPECT_GT(now->not_after_ms, first->not_after_ms);
  struct stat st{};
  ASSERT_EQ(::stat(gw.key_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  gw.daemon->signal(SIGTERM);
  ASSERT_EQ(gw.daemon->wait(10s), 0) << gw.daemon->err();
  const std::string log = gw.daemon->err();
  EXPECT_GE(count(log, "delivery: using the renewed client certificate"), 3) << log;
  // No gap: every send of the whole run was accepted, none failed or waited.
  EXPECT_EQ(log.find("not delivered"), std::string::npos) << log;
  EXPECT_EQ(log.find("renewing certificate"), std::string::npos) << log;  // no failed renewal
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex(R"((\d+) events delivered this run, (\d+) failed sends)"))) << log;
  EXPECT_GE(std::stoi(m[1]), 8);
  EXPECT_EQ(m[2], "0");
}

TEST(Enrolment, ARevokedGatewayIsRefusedOnItsNextRequest) {
  Orchestrator orch(enrolment_config());
  ASSERT_TRUE(orch.start()) << orch.log();
  TempDir home;
  Gateway gw(orch, "pi-bad");
  gw.start(make_token(orch, home, {"--ttl", "1h"}));
  ASSERT_TRUE(wait_until([&] { return !node(orch, "pi-bad").is_null(); }, 20s)) << gw.daemon->err();

  auto r = ctl(orch, home, {"gateway", "revoke", "pi-bad"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("gateway pi-bad revoked"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("node pi-bad is unschedulable"), std::string::npos) << r.out;
  EXPECT_TRUE(node(orch, "pi-bad")["unschedulable"].get<bool>());
  auto nodes = ctl(orch, home, {"get", "nodes"});
  EXPECT_NE(nodes.out.find("pi-bad (unschedulable)"), std::string::npos) << nodes.out;

  // Its next request (a heartbeat within a second) is refused, and the log says so.
  ASSERT_TRUE(wait_until([&] { return orch.log().find("refused POST /v1/gateways/pi-bad/events from pi-bad") != std::string::npos; }, 10s))
      << orch.log();
  ASSERT_TRUE(wait_until([&] { return gw.daemon->err().find("HTTP 403") != std::string::npos; }, 10s)) << gw.daemon->err();
  // Any request with that certificate: a renewal too.
  http::ClientOptions o;
  o.host = "127.0.0.1";
  o.port = orch.port();
  o.server_name = "localhost";
  o.tls.ca_file = test_pki().ca();
  o.tls.cert_file = gw.cert_file();
  o.tls.key_file = gw.key_file();
  http::Client with_revoked(o);
  auto renew = call(with_revoked, "POST", "/v1/enrol/renew", {{"csr", *x509::make_csr(*x509::generate_p256_key(), "pi-bad")}});
  EXPECT_EQ(renew.status, 403) << renew.raw;
  EXPECT_EQ(renew.body["error"]["code"], "certificate_revoked") << renew.raw;
  // Only an admin revokes; an unknown gateway is 404; revoking twice is fine.
  auto op = call(*orch.client(kOperatorToken), "POST", "/v1/gateways/pi-bad:revoke", json::object());
  EXPECT_EQ(op.status, 403) << op.raw;
  auto unknown = ctl(orch, home, {"gateway", "revoke", "nobody"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("neither enrolled nor a node"), std::string::npos) << unknown.err;
  EXPECT_EQ(ctl(orch, home, {"gateway", "revoke", "pi-bad"}).code, 0);

  // A restarted orchestrator still refuses it.
  ASSERT_EQ(orch.stop(), 0);
  ASSERT_TRUE(orch.start()) << orch.log();
  o.port = orch.port();
  http::Client after(o);
  auto again = call(after, "POST", "/v1/gateways/pi-bad/events", batch("pi-bad", "b0", {heartbeat(1, 0.1, 0.1, unix_ms())}));
  EXPECT_EQ(again.status, 403) << again.raw;
  EXPECT_EQ(again.body["error"]["code"], "certificate_revoked") << again.raw;
}

TEST(Enrolment, TheCliChecksItsInput) {
  Orchestrator orch(enrolment_config());
  ASSERT_TRUE(orch.start()) << orch.log();
  TempDir home;
  auto bad_ttl = ctl(orch, home, {"gateway", "token", "create", "--ttl", "1h30"});
  EXPECT_EQ(bad_ttl.code, 2);
  EXPECT_NE(bad_ttl.err.find("--ttl"), std::string::npos) << bad_ttl.err;
  auto bad_labels = ctl(orch, home, {"gateway", "token", "create", "--labels", "zone"});
  EXPECT_EQ(bad_labels.code, 2);
  auto too_long = ctl(orch, home, {"gateway", "token", "create", "--ttl", "30d"});
  EXPECT_EQ(too_long.code, 1);
  EXPECT_NE(too_long.err.find("ttl_s"), std::string::npos) << too_long.err;
  auto viewer = run({"env", "HOME=" + home.path(), ctl_path(), "--server", "https://localhost:" + std::to_string(orch.port()),
                     "--token", kViewerToken, "--ca", test_pki().ca(), "gateway", "token", "create"});
  EXPECT_EQ(viewer.code, 1);
  auto made = ctl(orch, home, {"gateway", "token", "create", "--ttl", "2h", "--uses", "3", "--name", "pi-9", "-o", "json"});
  ASSERT_EQ(made.code, 0) << made.err;
  auto j = json::parse(made.out);
  EXPECT_EQ(j["uses_max"], 3);
  EXPECT_EQ(j["gateway"], "pi-9");
  EXPECT_EQ(j["expires_t"].get<std::int64_t>() - j["created_t"].get<std::int64_t>(), 7200 * 1000);
  auto list = ctl(orch, home, {"gateway", "token", "list"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find(j["id"].get<std::string>()), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("0/3"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find(j["token"].get<std::string>()), std::string::npos);  // never shown again
}

}  // namespace
}  // namespace c4i::testing
