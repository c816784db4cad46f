// The real c4ictl against a real c4i-orchestrator over TLS on 127.0.0.1: the
// test PKI, a token file (admin, operator, viewer), a topology with gw-1 gw-2
// edge-1 cloud-1, state in a TempDir. Data comes in through the API itself
// (templates, functions) and through gateway gw-1's client certificate
// (a heartbeat, a device sighting).
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <regex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "common/https_client.hpp"
#include "common/https_server.hpp"
#include "tests/ctl/golden.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::ctl {
namespace {

using nlohmann::json;
using namespace c4i::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kAdminToken = "admin-secret-1";
const std::string kOperatorToken = "operator-secret-2";
const std::string kViewerToken = "viewer-secret-3";
const std::string kDevice = "aa:bb:cc:00:00:01";
const std::string kOmh = "omh-aa-bb-cc-00-00-01";

std::string ctl_path() { return binary_dir() + "/ctl/c4ictl"; }
std::string orchestrator_path() { return binary_dir() + "/orchestrator/c4i-orchestrator"; }

std::string hash(const std::string& token) {
  auto r = run({orchestrator_path(), "hash-token", token});
  EXPECT_EQ(r.code, 0) << r.err;
  return r.out.substr(0, 64);
}

// YAML -> JSON (core schema), to check that YAML output reads back.
json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& x : n) a.push_back(yaml_to_json(x));
    return a;
  }
  if (n.IsNull()) return nullptr;
  std::string s = n.Scalar();
  if (n.Tag() == "!") return s;
  if (s == "true" || s == "false") return s == "true";
  try {
    std::size_t used = 0;
    long long i = std::stoll(s, &used);
    if (used == s.size()) return i;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (const std::exception&) {
  }
  return s;
}

// Ages are the only clock-dependent part of a table: the last column.
std::string normalise_ages(const std::string& table) {
  static const std::regex age(R"((^|   )\d+(ms|s|m|h|d|y)(\d+(s|m|h|d))?$)");
  std::string out;
  std::size_t pos = 0;
  while (pos < table.size()) {
    auto nl = table.find('\n', pos);
    std::string line = table.substr(pos, nl - pos);
    out += std::regex_replace(line, age, "$1<age>") + "\n";
    pos = nl + 1;
  }
  return out;
}

class CtlCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Pki& pki = test_pki();
    home_ = dir_.path() + "/home";
    fs::create_directories(home_);
    write_file(dir_.file("topology.yaml"),
               "nodes:\n"
               "  - {name: gw-1, tier: gateway, arch: arm64, cpu_capacity_m: 4000, mem_capacity_mb: 4096, labels: {site: ward-3}}\n"
               "  - {name: gw-2, tier: gateway, arch: arm64, cpu_capacity_m: 4000, mem_capacity_mb: 4096}\n"
               "  - {name: edge-1, tier: edge, arch: amd64, cpu_capacity_m: 16000, mem_capacity_mb: 32768}\n"
               "  - {name: cloud-1, tier: cloud, arch: amd64, cpu_capacity_m: 64000, mem_capacity_mb: 262144}\n");
    write_file(dir_.file("tokens.yaml"), "tokens:\n  - {name: admin, role: admin, sha256: " + hash(kAdminToken) +
                                             "}\n  - {name: alice, role: operator, sha256: " + hash(kOperatorToken) +
                                             "}\n  - {name: watcher, role: viewer, sha256: " + hash(kViewerToken) + "}\n");
    write_file(dir_.file("config.yaml"),
               "control: {reconcile_interval_ms: 100, stop_grace_ms: 500, retry_base_ms: 5000, retry_max_ms: 10000}\n");
    write_file(dir_.file("operator.token"), kOperatorToken + "\n");
    orch_ = std::make_unique<Child>(std::vector<std::string>{orchestrator_path(), "--config", dir_.file("config.yaml"), "--listen",
                                                             "127.0.0.1:0", "--port-file", dir_.file("port"), "--state-dir",
                                                             dir_.file("state"), "--topology", dir_.file("topology.yaml"),
                                                             "--tokens", dir_.file("tokens.yaml"), "--tls-cert",
                                                             pki.cert("server"), "--tls-key", pki.key("server"),
                                                             "--client-ca", pki.ca(), "--log-level", "warn"},
                                    std::map<std::string, std::string>{}, dir_.path());
    ASSERT_TRUE(wait_until([&] { return fs::exists(dir_.file("port")) || !orch_->running(); }, 30s));
    ASSERT_TRUE(orch_->running()) << orch_->err();
    port_ = std::stoi(read_file(dir_.file("port")));
    url_ = "https://127.0.0.1:" + std::to_string(port_);
    auto r = ctl({"config", "set-context", "test", "--server", url_, "--ca", pki.ca(), "--token-file",
                  dir_.file("operator.token"), "--use"});
    ASSERT_EQ(r.code, 0) << r.err;
  }

  void TearDown() override {
    if (orch_) {
      orch_->signal(SIGTERM);
      orch_->wait(10s);
    }
  }

  // c4ictl in a clean environment: HOME in the TempDir, none of our variables.
  RunResult ctl(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                std::chrono::milliseconds timeout = 60s) {
    std::vector<std::string> argv{"env", "-u", "C4I_CONTEXT", "-u", "C4I_TOKEN", "-u", "C4I_CONFIG", "-u", "XDG_CONFIG_HOME",
                                  "-u", "NO_COLOR", "-u", "EDITOR", "-u", "VISUAL", "-u", "C4I_EDITOR", "HOME=" + home_};
    for (const auto& [k, v] : env) argv.push_back(k + "=" + v);
    argv.push_back(ctl_path());
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, timeout);
  }

  json ctl_json(const std::vector<std::string>& args) {
    auto r = ctl(args);
    EXPECT_EQ(r.code, 0) << r.err;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }

  http::Client api(const std::string& token) {
    http::ClientOptions o;
    o.port = static_cast<std::uint16_t>(port_);
    o.tls.ca_file = test_pki().ca();
    o.bearer_token = token;
    return http::Client(o);
  }

  json call(const std::string& method, const std::string& target, const json& body = nullptr,
            const std::string& token = kAdminToken, int want = 0) {
    auto c = api(token);
    auto r = c.request(method, target, body.is_null() ? "" : body.dump(), {{"Content-Type", "application/json"}});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    if (!r) return nullptr;
    if (want) {
      EXPECT_EQ(r->status, want) << r->body;
    }
    return json::parse(r->body, nullptr, false);
  }

  void gateway_batch(const std::string& gateway, int seq, const json& events) {
    http::ClientOptions o;
    o.port = static_cast<std::uint16_t>(port_);
    o.tls.ca_file = test_pki().ca();
    o.tls.cert_file = test_pki().cert(gateway);
    o.tls.key_file = test_pki().key(gateway);
    http::Client c(o);
    json batch{{"gateway", gateway}, {"boot_id", "boot-1"}, {"seq", seq}, {"events", events}};
    auto r = c.request("POST", "/v1/gateways/" + gateway + "/events", batch.dump(), {{"Content-Type", "application/json"}});
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->status, 200) << r->body;
  }

  bool function_is(const std::string& id, const std::string& state, const std::string& node) {
    json f = call("GET", "/v1/functions/" + id);
    return f.is_object() && f.value("state", "") == state && f["node"].is_string() && f["node"] == node;
  }

  // Fixed data: two templates; gw-1 reports a heartbeat and sees the device;
  // omh (near the device) lands on gw-1, engine (edge, cloud) on edge-1.
  void seed() {
    write_file(dir_.file("fn.sh"), "#!/bin/sh\nexec sleep 600\n");
    chmod(dir_.file("fn.sh").c_str(), 0755);
    call("POST", "/v1/templates",
         {{"name", "omh"}, {"command", json::array({dir_.file("fn.sh")})}, {"cpu_m", 100}, {"mem_mb", 64}, {"image", "c4i/fn-omh:0.1"}}, kAdminToken,
         201);
    call("POST", "/v1/templates",
         {{"name", "engine"}, {"command", json::array({"sleep", "600"})}, {"cpu_m", 500}, {"mem_mb", 256}, {"tiers", json::array({"edge", "cloud"})}},
         kAdminToken, 201);
    std::int64_t t = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    gateway_batch("gw-1", 1,
                  {{{"seq", 1}, {"type", "gateway.heartbeat"}, {"t", t}, {"cpu", 0.42}, {"mem", 0.3}, {"arch", "arm64"},
                    {"cpu_capacity_m", 4000}, {"mem_capacity_mb", 4096}},
                   {{"seq", 2}, {"type", "device.seen"}, {"t", t}, {"addr", kDevice}, {"addr_type", "public"}, {"rssi", -60},
                    {"name", "HR bracelet"}, {"reason", "enter"}}});
    call("POST", "/v1/functions", {{"template", "omh"}, {"device", kDevice}}, kOperatorToken, 201);
    ASSERT_TRUE(wait_until([&] { return function_is(kOmh, "running", "gw-1"); }, 30s)) << call("GET", "/v1/functions/" + kOmh).dump();
    call("POST", "/v1/functions", {{"template", "engine"}, {"device", kDevice}, {"id", "engine-1"}}, kOperatorToken, 201);
    ASSERT_TRUE(wait_until([&] { return function_is("engine-1", "running", "edge-1"); }, 30s))
        << call("GET", "/v1/functions/engine-1").dump();
  }

  std::int64_t policy_version() { return call("GET", "/v1/policy")["version"].get<std::int64_t>(); }

  TempDir dir_;
  std::string home_;
  std::unique_ptr<Child> orch_;
  int port_ = 0;
  std::string url_;
};

// ------------------------------------------------------------------ get

TEST_F(CtlCliTest, GetEveryKindInEveryFormat) {
  seed();
  std::map<std::string, std::size_t> counts{{"nodes", 4}, {"devices", 1}, {"functions", 2}, {"templates", 2}, {"migrations", 2}};
  for (const auto& [kind, n] : counts) {
    auto table = ctl({"get", kind});
    ASSERT_EQ(table.code, 0) << kind << ": " << table.err;
    EXPECT_EQ(std::count(table.out.begin(), table.out.end(), '\n'), static_cast<long>(n + 1)) << table.out;
    EXPECT_EQ(table.out.find('\x1b'), std::string::npos) << "no colours when stdout is not a terminal";
    auto wide = ctl({"get", kind, "-o", "wide"});
    ASSERT_EQ(wide.code, 0) << wide.err;
    EXPECT_GT(wide.out.find('\n'), table.out.find('\n')) << "wide has more columns:\n" << wide.out;

    json j = ctl_json({"get", kind, "-o", "json"});
    ASSERT_TRUE(j["items"].is_array()) << j.dump();
    EXPECT_EQ(j["items"].size(), n) << kind;
    auto y = ctl({"get", kind, "-o", "yaml"});
    ASSERT_EQ(y.code, 0) << y.err;
    EXPECT_EQ(yaml_to_json(YAML::Load(y.out)), j) << kind << " YAML does not read back to the JSON:\n" << y.out;

    auto names = ctl({"get", kind, "-o", "name"});
    ASSERT_EQ(names.code, 0);
    EXPECT_EQ(std::count(names.out.begin(), names.out.end(), '\n'), static_cast<long>(n));
  }
  // One object, by name, in each format.
  json one = ctl_json({"get", "function", kOmh, "-o", "json"});
  EXPECT_EQ(one["id"], kOmh);
  EXPECT_EQ(one["node"], "gw-1");
  auto y = ctl({"get", "fn", kOmh, "-o", "yaml"});
  EXPECT_EQ(yaml_to_json(YAML::Load(y.out)), one) << y.out;
  auto row = ctl({"get", "node", "gw-1"});
  ASSERT_EQ(row.code, 0);
  EXPECT_EQ(row.out.rfind("NAME   TIER      ARCH    CPU   MEMORY   HEARTBEAT\ngw-1   gateway   arm64   42%   30%", 0), 0u) << row.out;
  auto missing = ctl({"get", "function", "nope"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("function nope does not exist"), std::string::npos) << missing.err;
}

TEST_F(CtlCliTest, GoldenTablesFromTheRealServer) {
  seed();
  for (const char* kind : {"nodes", "devices", "functions", "templates", "migrations"}) {
    auto r = ctl({"get", kind});
    ASSERT_EQ(r.code, 0) << r.err;
    testing::expect_golden(std::string("live-") + kind + ".txt", normalise_ages(r.out));
  }
}

TEST_F(CtlCliTest, WatchPrintsEachChangeAsItHappens) {
  seed();
  Child table({"/usr/bin/env", "HOME=" + home_, ctl_path(), "get", "functions", "--watch"}, {}, dir_.path());
  Child lines({"/usr/bin/env", "HOME=" + home_, ctl_path(), "get", "migrations", "--watch", "-o", "json"}, {}, dir_.path());
  ASSERT_TRUE(wait_until([&] { return table.out().find(kOmh) != std::string::npos; }, 20s)) << table.err();
  ASSERT_TRUE(wait_until([&] {
    std::string out = lines.out();
    return std::count(out.begin(), out.end(), '\n') >= 2;
  }, 20s)) << lines.err();
  // A change made by someone else shows up in both streams.
  call("POST", "/v1/functions/" + kOmh + ":move", {{"node", "gw-2"}}, kOperatorToken, 202);
  ASSERT_TRUE(wait_until([&] { return table.out().find("gw-2") != std::string::npos; }, 20s)) << table.out() << table.err();
  ASSERT_TRUE(wait_until([&] { return lines.out().find("\"state\":\"done\"") != std::string::npos &&
                                      lines.out().find("\"id\":3") != std::string::npos; }, 20s))
      << lines.out();
  EXPECT_EQ(table.out().rfind("NAME", 0), 0u) << table.out();
  std::string all = lines.out();
  std::size_t pos = 0, n = 0;
  while (pos < all.size()) {
    auto nl = all.find('\n', pos);
    json ev = json::parse(all.substr(pos, nl - pos), nullptr, false);
    ASSERT_TRUE(ev.is_object()) << all.substr(pos, nl - pos);
    EXPECT_TRUE(ev.contains("type") && ev["object"].is_object());
    pos = nl + 1;
    ++n;
  }
  EXPECT_GE(n, 3u);
  table.signal(SIGINT);
  lines.signal(SIGINT);
}

// ------------------------------------------------------------------ describe

TEST_F(CtlCliTest, DescribeFunctionAndMigrationTimeline) {
  seed();
  auto f = ctl({"describe", "function", kOmh});
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_NE(f.out.find("Name:         " + kOmh), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("Phase:        running"), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("Node:         gw-1"), std::string::npos) << f.out;
  EXPECT_NE(f.out.find("Migrations:\n  ID   FUNCTION"), std::string::npos) << f.out;
  auto m = ctl({"describe", "migration", "1"});
  ASSERT_EQ(m.code, 0) << m.err;
  EXPECT_NE(m.out.find("Timeline:\n  STEP         TIME                       GAP"), std::string::npos) << m.out;
  for (const char* step : {"detected", "notified", "decided", "applied", "scheduled", "started"})
    EXPECT_TRUE(std::regex_search(m.out, std::regex(std::string("\n  ") + step + " +20\\d\\d-\\d\\d-\\d\\dT[0-9:.]+Z")))
        << step << "\n" << m.out;
  EXPECT_NE(m.out.find("Total:        detected -> started"), std::string::npos) << m.out;
  EXPECT_EQ(ctl({"describe", "migration", "999"}).code, 1);
  EXPECT_EQ(ctl({"describe", "node", "gw-1"}).code, 2);
}

// ------------------------------------------------------------------ move

TEST_F(CtlCliTest, MoveWaitFollowsTheMigrationUntilStarted) {
  seed();
  auto r = ctl({"move", kOmh, "--node", "gw-2", "--pin", "--wait"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("migration 3: moving " + kOmh + " from gw-1 to gw-2 (pinned)"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\n  applied +20[0-9T:.-]+Z"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\n  started +20[0-9T:.-]+Z +\\+\\d"))) << r.out;
  EXPECT_NE(r.out.find("migration 3 started on gw-2"), std::string::npos) << r.out;
  json f = call("GET", "/v1/functions/" + kOmh);
  EXPECT_EQ(f["node"], "gw-2");
  EXPECT_EQ(f["pinned"], true);
  // To a tier, without waiting: exit 0 once the orchestrator accepted it.
  auto t = ctl({"move", "engine-1", "--tier", "cloud"});
  EXPECT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("to tier cloud"), std::string::npos) << t.out;
}

TEST_F(CtlCliTest, MoveWaitFailsNamingTheFailedStep) {
  seed();
  // The function's executable disappears: the new instance cannot start.
  fs::remove(dir_.file("fn.sh"));
  auto r = ctl({"move", kOmh, "--node", "gw-2", "--wait"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("migration 3 failed at step started: exec " + dir_.file("fn.sh")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the orchestrator retries at"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("  applied"), std::string::npos) << r.out;
}

TEST_F(CtlCliTest, MoveRefusalsAndUsage) {
  seed();
  auto unknown = ctl({"move", kOmh, "--node", "nope"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("nope is not a known node"), std::string::npos) << unknown.err;
  auto viewer = ctl({"move", kOmh, "--node", "gw-2", "--token", kViewerToken});
  EXPECT_EQ(viewer.code, 1);
  EXPECT_NE(viewer.err.find("token watcher has role viewer; this needs operator"), std::string::npos) << viewer.err;
  EXPECT_EQ(ctl({"move", kOmh, "--node", "gw-2", "--tier", "edge"}).code, 2);
  EXPECT_EQ(ctl({"move", kOmh}).code, 2);
  EXPECT_EQ(ctl({"move", kOmh, "--tier", "fog"}).code, 2);
}

// ------------------------------------------------------------------ policy

TEST_F(CtlCliTest, PolicyGetSetAndHistory) {
  json p = ctl_json({"policy", "get", "-o", "json"});
  EXPECT_EQ(p["version"], 1);
  EXPECT_EQ(p["policy"]["tiers"]["gateway"]["cpu_high"], 0.85);
  auto y = ctl({"policy", "get"});
  ASSERT_EQ(y.code, 0);
  EXPECT_EQ(yaml_to_json(YAML::Load(y.out)), p) << y.out;

  auto set = ctl({"policy", "set", "tiers.gateway.cpu_high=0.9", "cooldown_s=30", "pinned=" + kOmh});
  ASSERT_EQ(set.code, 0) << set.err;
  EXPECT_NE(set.out.find("policy updated to version 2"), std::string::npos) << set.out;
  EXPECT_NE(set.out.find("tiers.gateway.cpu_high: 0.85 -> 0.9"), std::string::npos) << set.out;
  json now = call("GET", "/v1/policy");
  EXPECT_EQ(now["version"], 2);
  EXPECT_EQ(now["policy"]["cooldown_s"], 30);
  EXPECT_EQ(now["policy"]["pinned"], json::array({kOmh}));
  EXPECT_EQ(now["changed_by"], "alice");  // the operator token's name

  auto same = ctl({"policy", "set", "cooldown_s=30"});
  EXPECT_EQ(same.code, 0);
  EXPECT_NE(same.out.find("policy unchanged (version 2)"), std::string::npos);

  auto h = ctl({"policy", "history"});
  ASSERT_EQ(h.code, 0) << h.err;
  EXPECT_EQ(h.out.rfind("VERSION   CHANGED-BY", 0), 0u) << h.out;
  EXPECT_NE(h.out.find("alice"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("cooldown_s: 60 -> 30"), std::string::npos) << h.out;
  json hj = ctl_json({"policy", "history", "-o", "json"});
  EXPECT_EQ(hj["items"].size(), 2u);
  auto hy = ctl({"policy", "history", "-o", "yaml"});
  EXPECT_EQ(yaml_to_json(YAML::Load(hy.out)), hj) << hy.out;
}

TEST_F(CtlCliTest, PolicySetInvalidIsRefusedLocallyNamingTheField) {
  auto r = ctl({"policy", "set", "tiers.gateway.cpu_low=0.95"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("tiers.gateway.cpu_low"), std::string::npos) << r.err;
  auto typo = ctl({"policy", "set", "cooldown=5"});
  EXPECT_EQ(typo.code, 2);
  EXPECT_NE(typo.err.find("unknown policy field cooldown"), std::string::npos) << typo.err;
  EXPECT_EQ(policy_version(), 1);
}

TEST_F(CtlCliTest, ConcurrentPolicyChangeIsAClearConflict) {
  // Someone else changes the policy after version 1 was read.
  auto other = ctl({"policy", "set", "cooldown_s=99", "--token", kAdminToken});
  ASSERT_EQ(other.code, 0) << other.err;
  auto r = ctl({"policy", "set", "cooldown_s=15", "--if-version", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("error: conflict: the policy was changed on the server after version 1 was read; it is now "
                       "version 2, changed by admin at 20"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("Nothing was applied"), std::string::npos) << r.err;
  write_file(dir_.file("p.yaml"), "cooldown_s: 15\n");
  auto a = ctl({"policy", "apply", "-f", dir_.file("p.yaml"), "--if-version", "1"});
  EXPECT_EQ(a.code, 1);
  EXPECT_NE(a.err.find("conflict"), std::string::npos) << a.err;
  EXPECT_EQ(call("GET", "/v1/policy")["policy"]["cooldown_s"], 99);
}

TEST_F(CtlCliTest, PolicyValidateApplyAndDiff) {
  write_file(dir_.file("good.yaml"), "cooldown_s: 45\ntiers:\n  edge: {cpu_high: 0.8, cpu_low: 0.2, mem_high: 0.8, mem_low: 0.2}\n");
  write_file(dir_.file("bad.yaml"), "cooldown_s: 45\ntiers:\n  gateway:\n    cpu_low: 0.99\n");
  // Offline: no configuration, no server.
  auto offline = run({"env", "HOME=" + dir_.file("nowhere"), ctl_path(), "policy", "validate", "-f", dir_.file("good.yaml")});
  EXPECT_EQ(offline.code, 0) << offline.err;
  EXPECT_NE(offline.out.find("good.yaml: valid"), std::string::npos);
  auto bad = ctl({"policy", "validate", "-f", dir_.file("bad.yaml")});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("tiers.gateway.cpu_low"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("bad.yaml:4"), std::string::npos) << bad.err;
  auto missing = ctl({"policy", "validate", "-f", dir_.file("absent.yaml")});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("absent.yaml"), std::string::npos);

  auto d = ctl({"policy", "diff", "-f", dir_.file("good.yaml")});
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_NE(d.out.find("--- server (version 1)\n+++ " + dir_.file("good.yaml")), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("\n-cooldown_s: 60"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("\n+cooldown_s: 45"), std::string::npos) << d.out;
  EXPECT_EQ(ctl({"policy", "apply", "-f", dir_.file("bad.yaml")}).code, 2);
  EXPECT_EQ(policy_version(), 1);

  auto a = ctl({"policy", "apply", "-f", dir_.file("good.yaml")});
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_NE(a.out.find("policy updated to version 2"), std::string::npos) << a.out;
  EXPECT_EQ(ctl({"policy", "diff", "-f", dir_.file("good.yaml")}).out, "");
  EXPECT_NE(ctl({"policy", "apply", "-f", dir_.file("good.yaml")}).out.find("policy unchanged (version 2)"), std::string::npos);
  // What `policy get -o json` printed applies back as it is.
  write_file(dir_.file("got.json"), ctl({"policy", "get", "-o", "json"}).out);
  EXPECT_NE(ctl({"policy", "apply", "-f", dir_.file("got.json")}).out.find("unchanged"), std::string::npos);
}

TEST_F(CtlCliTest, PolicyEditWithScriptedEditor) {
  write_file(dir_.file("editor.sh"), "#!/bin/sh\nsed -i 's/^cooldown_s: .*/cooldown_s: 42/' \"$1\"\n");
  chmod(dir_.file("editor.sh").c_str(), 0755);
  auto r = ctl({"policy", "edit"}, {{"EDITOR", dir_.file("editor.sh")}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("cooldown_s: 60 -> 42"), std::string::npos) << r.out;
  EXPECT_EQ(call("GET", "/v1/policy")["policy"]["cooldown_s"], 42);

  // No change, or an editor that fails: nothing is applied.
  auto same = ctl({"policy", "edit"}, {{"EDITOR", "true"}});
  EXPECT_EQ(same.code, 0);
  EXPECT_NE(same.err.find("no changes made"), std::string::npos) << same.err;
  auto failing = ctl({"policy", "edit"}, {{"EDITOR", "false"}});
  EXPECT_EQ(failing.code, 2);
  EXPECT_NE(failing.err.find("the editor exited with status 1"), std::string::npos) << failing.err;
  EXPECT_EQ(policy_version(), 2);
}

TEST_F(CtlCliTest, PolicyEditReopensWithTheValidationErrorOnTop) {
  // First save: an invalid watermark. Second: the file must come back with
  // the error at the top; the editor keeps a copy and fixes it.
  write_file(dir_.file("editor.sh"),
             "#!/bin/sh\n"
             "n=$(cat \"$0.count\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$0.count\"\n"
             "cp \"$1\" \"$0.seen.$n\"\n"
             "if [ $n = 1 ]; then sed -i 's/^    cpu_low: 0.3$/    cpu_low: 0.99/' \"$1\"; exit 0; fi\n"
             "sed -i 's/^    cpu_low: 0.99$/    cpu_low: 0.25/' \"$1\"\n");
  chmod(dir_.file("editor.sh").c_str(), 0755);
  auto r = ctl({"policy", "edit"}, {{"EDITOR", dir_.file("editor.sh")}});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_file(dir_.file("editor.sh.count")), "2\n");
  std::string second = read_file(dir_.file("editor.sh.seen.2"));
  EXPECT_EQ(second.rfind("# The policy was not applied:\n#   tiers.gateway.cpu_low: must not be above cpu_high", 0), 0u) << second;
  EXPECT_NE(second.find("cpu_low: must not be above cpu_high"), std::string::npos) << second;
  EXPECT_NE(second.find("cpu_low: 0.99"), std::string::npos) << "the operator's text is kept:\n" << second;
  json p = call("GET", "/v1/policy");
  EXPECT_EQ(p["version"], 2);
  EXPECT_EQ(p["policy"]["tiers"]["gateway"]["cpu_low"], 0.25);
}

TEST_F(CtlCliTest, PolicyEditReopensOnAConflictAndGivesUpIfNothingIsFixed) {
  // While the operator edits, an admin changes the policy: the save gets a
  // 409, the file reopens with the conflict and the other change on top.
  write_file(dir_.file("editor.sh"),
             "#!/bin/sh\n"
             "n=$(cat \"$0.count\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$0.count\"\n"
             "cp \"$1\" \"$0.seen.$n\"\n"
             "if [ $n = 1 ]; then\n"
             "  env EDITOR= HOME=\"$HOME\" \"" + ctl_path() + "\" policy set lost_after_s=300 --token " + kAdminToken + " >/dev/null || exit 9\n"
             "  sed -i 's/^cooldown_s: .*/cooldown_s: 20/' \"$1\"\n"
             "fi\n");
  chmod(dir_.file("editor.sh").c_str(), 0755);
  auto r = ctl({"policy", "edit"}, {{"EDITOR", dir_.file("editor.sh")}});
  ASSERT_EQ(r.code, 0) << r.err;
  std::string second = read_file(dir_.file("editor.sh.seen.2"));
  EXPECT_EQ(second.rfind("# The policy was not applied:\n#   conflict: the policy was changed on the server after version 1", 0), 0u)
      << second;
  EXPECT_NE(second.find("#   -lost_after_s: 120\n#   +lost_after_s: 300"), std::string::npos) << second;
  EXPECT_NE(second.find("(version 2 on the server)"), std::string::npos) << second;
  // Saved as it stood, the operator's file applies over version 2.
  json p = call("GET", "/v1/policy");
  EXPECT_EQ(p["version"], 3);
  EXPECT_EQ(p["policy"]["cooldown_s"], 20);

  // Saving an invalid file twice unchanged gives up, naming the error.
  write_file(dir_.file("stubborn.sh"), "#!/bin/sh\nsed -i 's/^cooldown_s: .*/cooldown_s: 0/' \"$1\"\n");
  chmod(dir_.file("stubborn.sh").c_str(), 0755);
  auto g = ctl({"policy", "edit"}, {{"EDITOR", dir_.file("stubborn.sh")}});
  EXPECT_EQ(g.code, 2);
  EXPECT_NE(g.err.find("Edit cancelled: the errors were not fixed"), std::string::npos) << g.err;
  EXPECT_NE(g.err.find("cooldown_s"), std::string::npos) << g.err;
  EXPECT_EQ(policy_version(), 3);
}

// ------------------------------------------------------------------ errors

TEST_F(CtlCliTest, WrongTokenExitsOneWithTheServersMessage) {
  auto r = ctl({"get", "nodes", "--token", "not-a-token"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "error: the bearer token is not valid (HTTP 401 unauthenticated)\n");
  EXPECT_EQ(r.out, "");
  write_file(dir_.file("empty.token"), "\n");
  auto empty = ctl({"get", "nodes", "--token-file", dir_.file("empty.token")});
  EXPECT_EQ(empty.code, 2);
  EXPECT_NE(empty.err.find("is empty"), std::string::npos);
}

TEST_F(CtlCliTest, UnreachableServerExitsThree) {
  // A port nobody listens on: the orchestrator's, after it stopped.
  orch_->signal(SIGTERM);
  ASSERT_TRUE(orch_->wait(20s));
  auto r = ctl({"get", "functions"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("cannot reach the orchestrator at " + url_), std::string::npos) << r.err;
  auto v = ctl({"version"});
  EXPECT_EQ(v.code, 3);
  EXPECT_NE(v.out.find("Client: c4ictl"), std::string::npos);
  auto move = ctl({"move", kOmh, "--node", "gw-2", "--wait"});
  EXPECT_EQ(move.code, 3);
}

// A server that answers 200 with JSON of the wrong shape (another program on
// the port, or an orchestrator of another version): shown as far as it
// reads, else one line naming that and exit 1, never an abort.
TEST_F(CtlCliTest, AnAnswerOfTheWrongShapeIsAClearErrorNotACrash) {
  http::ServerOptions o;
  o.address = "127.0.0.1";
  o.port = 0;
  o.tls.cert_file = test_pki().cert("server");
  o.tls.key_file = test_pki().key("server");
  o.threads = 1;
  http::Server odd(o);
  for (const char* path : {"/v1/functions", "/v1/nodes", "/v1/functions/{id}", "/v1/migrations", "/v1/migrations/{id}",
                           "/v1/policy", "/v1/policy/history", "/v1/gateway-tokens"})
    odd.route("GET", path, [](http::Request&) {
      return http::json_response(200, {{"items", 5}, {"policy", {1, 2}}, {"version", {{"x", 1}}}, {"id", {1}}, {"timeline", "no"}});
    });
  ASSERT_TRUE(odd.start());
  std::thread t([&] { odd.run(); });
  const std::string server = "https://127.0.0.1:" + std::to_string(odd.port());
  int refused = 0;
  for (const auto& args : std::vector<std::vector<std::string>>{{"get", "functions"},
                                                                {"get", "nodes", "-o", "wide"},
                                                                {"describe", "function", kOmh},
                                                                {"describe", "migration", "1"},
                                                                {"policy", "get"},
                                                                {"policy", "history"},
                                                                {"gateway", "token", "list"}}) {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"--server", server});
    auto r = ctl(a);
    std::string what;
    for (const auto& w : args) what += w + " ";
    // What it can show it shows (fields of another type read as absent); what it cannot is one line, exit 1.
    EXPECT_TRUE(r.code == 0 || r.code == 1) << what << "exit " << r.code << ": " << r.err << r.out;
    if (r.code == 1) {
      EXPECT_NE(r.err.find("the server's answer"), std::string::npos) << what << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << r.err;
    }
    refused += r.code == 1;
  }
  EXPECT_GT(refused, 0);  // `gateway token list` aborted here before
  odd.shutdown();
  t.join();
}

TEST_F(CtlCliTest, ServerWithAnUntrustedCertificateIsUnreachable) {
  auto r = ctl({"get", "nodes", "--ca", test_pki().dir + "/other-ca.pem"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("TLS handshake"), std::string::npos) << r.err;
  auto missing = ctl({"get", "nodes", "--ca", dir_.file("no-ca.pem")});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("no-ca.pem"), std::string::npos) << missing.err;
}

TEST_F(CtlCliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(ctl({"get", "pods"}).code, 2);
  EXPECT_EQ(ctl({"get"}).code, 2);
  EXPECT_EQ(ctl({"get", "nodes", "-o", "xml"}).code, 2);
  EXPECT_EQ(ctl({"policy", "set"}).code, 2);
  EXPECT_EQ(ctl({"policy"}).code, 2);
  auto none = run({"env", "-u", "C4I_CONFIG", "HOME=" + dir_.file("nowhere"), ctl_path(), "get", "nodes"});
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("no server"), std::string::npos) << none.err;
}

// ------------------------------------------------------------------ config, version, completion, colour

TEST_F(CtlCliTest, ConfigContextsChooseServerAndCredentials) {
  auto second = ctl({"config", "set-context", "broken", "--server", "https://127.0.0.1:1", "--token", "x"});
  ASSERT_EQ(second.code, 0) << second.err;
  auto list = ctl({"config", "get-contexts"});
  ASSERT_EQ(list.code, 0);
  EXPECT_EQ(list.out.rfind("CURRENT   NAME     SERVER", 0), 0u) << list.out;
  EXPECT_NE(list.out.find("*         test     " + url_), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find(kOperatorToken), std::string::npos) << "tokens are never printed";
  EXPECT_EQ(ctl({"config", "current-context"}).out, "test\n");
  // The file is private: it may hold tokens.
  struct stat st {};
  ASSERT_EQ(stat((home_ + "/.config/c4i/config.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  EXPECT_EQ(ctl({"get", "nodes"}).code, 0);
  EXPECT_EQ(ctl({"get", "nodes"}, {{"C4I_CONTEXT", "broken"}}).code, 3);
  EXPECT_EQ(ctl({"get", "nodes", "--context", "test"}, {{"C4I_CONTEXT", "broken"}}).code, 0);
  auto unknown = ctl({"get", "nodes", "--context", "nope"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("--context: no context named nope (known: test, broken)"), std::string::npos) << unknown.err;

  ASSERT_EQ(ctl({"config", "use-context", "broken"}).code, 0);
  EXPECT_EQ(ctl({"get", "nodes"}).code, 3);
  EXPECT_EQ(ctl({"config", "use-context", "nope"}).code, 2);
  json j = ctl_json({"config", "get-contexts", "-o", "json"});
  EXPECT_EQ(j["current_context"], "broken");
  EXPECT_EQ(j["contexts"].size(), 2u);
  auto y = ctl({"config", "get-contexts", "-o", "yaml"});
  EXPECT_EQ(yaml_to_json(YAML::Load(y.out)), j);
  // A broken file is one clear error naming the place.
  write_file(home_ + "/.config/c4i/config.yaml", "contexts:\n  - name: a\n    server: ftp://x\n");
  auto broken = ctl({"get", "nodes"});
  EXPECT_EQ(broken.code, 2);
  EXPECT_NE(broken.err.find("contexts[0].server"), std::string::npos) << broken.err;
  EXPECT_NE(broken.err.find("config.yaml:3"), std::string::npos) << broken.err;
}

TEST_F(CtlCliTest, VersionShowsClientAndServer) {
  auto r = ctl({"version"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Client: c4ictl 0.1.0\nServer: c4i-orchestrator, API 0.1.0 at " + url_ + "\n");
  json j = ctl_json({"version", "-o", "json"});
  EXPECT_EQ(j["client"]["version"], "0.1.0");
  EXPECT_EQ(j["server"]["api_version"], "0.1.0");
  auto y = ctl({"version", "-o", "yaml"});
  EXPECT_EQ(yaml_to_json(YAML::Load(y.out)), j);
  auto client = run({"env", "HOME=" + dir_.file("nowhere"), ctl_path(), "version", "--client"});
  EXPECT_EQ(client.code, 0);
  EXPECT_EQ(client.out, "Client: c4ictl 0.1.0\n");
}

TEST_F(CtlCliTest, BashCompletionCompletesCommandsAndNames) {
  seed();
  write_file(dir_.file("c4ictl.bash"), ctl({"completion", "bash"}).out);
  std::string path = binary_dir() + "/ctl:" + std::string(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
  auto complete = [&](const std::string& words, int cword) {
    return run({"env", "HOME=" + home_, "PATH=" + path, "bash", "-c",
                "source " + dir_.file("c4ictl.bash") + " && COMP_WORDS=(" + words + ") && COMP_CWORD=" + std::to_string(cword) +
                    " && _c4ictl && echo \"${COMPREPLY[*]}\""});
  };
  EXPECT_EQ(complete("c4ictl po", 1).out, "policy\n");
  EXPECT_EQ(complete("c4ictl get fu", 2).out, "functions\n");
  EXPECT_EQ(complete("c4ictl get functions ''", 3).out, "engine-1 " + kOmh + "\n");
  EXPECT_EQ(complete("c4ictl move " + kOmh + " --node gw", 4).out, "gw-1 gw-2\n");
  EXPECT_EQ(complete("c4ictl policy set tiers.edge.cpu_h", 3).out, "tiers.edge.cpu_high=\n");
  auto zsh = ctl({"completion", "zsh"});
  EXPECT_EQ(zsh.code, 0);
  EXPECT_EQ(zsh.out.rfind("#compdef c4ictl\n", 0), 0u);
  EXPECT_EQ(run({"bash", "-n", dir_.file("c4ictl.bash")}).code, 0);
}

TEST_F(CtlCliTest, ColoursOnlyOnATerminalAndNeverWithNoColor) {
  seed();
  // script(1) gives c4ictl a pseudo-terminal as stdout.
  std::string cmd = "env HOME=" + home_ + " " + ctl_path() + " get functions";
  auto tty = run({"script", "-qec", cmd, "/dev/null"});
  ASSERT_EQ(tty.code, 0) << tty.err;
  EXPECT_NE(tty.out.find("\x1b[32mrunning\x1b[0m"), std::string::npos) << tty.out;
  auto no_color = run({"script", "-qec", "env NO_COLOR=1 " + cmd.substr(4), "/dev/null"});
  EXPECT_NE(no_color.out.find("running"), std::string::npos);
  EXPECT_EQ(no_color.out.find('\x1b'), std::string::npos) << no_color.out;
  auto flag = run({"script", "-qec", cmd + " --no-color", "/dev/null"});
  EXPECT_EQ(flag.out.find('\x1b'), std::string::npos) << flag.out;
}

}  // namespace
}  // namespace c4i::ctl
