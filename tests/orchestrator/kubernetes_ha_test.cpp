// High availability on the kubernetes backend, on the test control plane:
// two real c4i-orchestrator processes with --leader-elect share one Lease
// and keep their state in the cluster's objects. A simulated gateway pair
// walks one device back and forth between gw-1 and gw-2 (a roam every
// second or so), delivering each batch like the discovery daemon does: to
// any replica, again and again until one answers 200. Meanwhile the leader
// is killed with SIGKILL 20 times (and started again, so there are always
// two). Checked: one leader at a time; after each kill the other takes over
// within the lease duration (plus one retry period) and its state holds
// every event acknowledged before the kill; at the end every acknowledged
// event is reflected (REST and the Device object) and the function runs on
// the gateway the device went to last; the side watch never saw two pods
// of the function Running at once. Printed: leader loss -> acting and
// leader loss -> first decision of the new leader, for each kill, with the
// median and the maximum (C4I_HA_KILLS overrides the 20).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <thread>

#include "common/x509.hpp"
#include "orchestrator/k8s_objects.hpp"
#include "tests/orchestrator/kubernetes_plane.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kNs = "ha";
constexpr const char* kDev = "c4:7c:8d:6a:3e:21";
constexpr const char* kFn = "hr-c4-7c-8d-6a-3e-21";
constexpr int kLeaseSeconds = 4;
const std::vector<std::string> kElection = {"--leader-elect", "--lease-duration-s", std::to_string(kLeaseSeconds),
                                            "--renew-deadline-ms", "3000", "--retry-period-ms", "500",
                                            "--follower-sync-ms", "500"};

// One replica: a KubeOrchestrator restarted under a new identity each time.
struct Replica {
  std::string name;
  int generation = 0;
  std::unique_ptr<KubeOrchestrator> orch;
  std::string identity() const { return name + "-" + std::to_string(generation); }
};

// The last value of `key=<digits>` in a log line that contains `marker`, after `from` characters.
std::optional<std::int64_t> logged_ms(const std::string& log, const std::string& marker, std::size_t from) {
  std::optional<std::int64_t> out;
  std::size_t at = from;
  while ((at = log.find(marker, at)) != std::string::npos) {
    auto eol = log.find('\n', at);
    std::string line = log.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    std::smatch m;
    static const std::regex at_ms(R"(at (\d{13}) ms)");
    if (std::regex_search(line, m, at_ms)) {
      out = std::stoll(m[1]);
      return out;  // the first after `from`
    }
    at += marker.size();
  }
  return out;
}

double median(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v.size() % 2 ? static_cast<double>(v[v.size() / 2]) : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2.0;
}

class KubernetesHa : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(plane.up()) << plane.error();
    replicas[0].name = "orch-a";
    replicas[1].name = "orch-b";
  }

  bool start(Replica& r) {
    r.generation++;
    r.orch = std::make_unique<KubeOrchestrator>(plane, kNs);
    r.orch->extra_args = kElection;
    r.orch->extra_args.insert(r.orch->extra_args.end(), {"--identity", r.identity()});
    r.orch->extra_args.insert(r.orch->extra_args.end(), more_args.begin(), more_args.end());
    return r.orch->start();
  }
  std::string holder() {
    json l = plane.get_json({"lease", "-n", kNs, "c4i-orchestrator"});
    return l.is_object() ? l["spec"].value("holderIdentity", "") : "";
  }
  // The replica whose current process holds the Lease and acts (its log says so).
  Replica* leader() {
    std::string h = holder();
    for (auto& r : replicas)
      if (r.orch && r.orch->running() && r.identity() == h && r.orch->log().find("acting (at") != std::string::npos)
        return &r;
    return nullptr;
  }
  std::vector<std::uint16_t> ports() {
    std::lock_guard lock(ports_mu);
    return ports_;
  }
  void publish_ports() {
    std::lock_guard lock(ports_mu);
    ports_.clear();
    for (auto& r : replicas)
      if (r.orch && r.orch->running()) ports_.push_back(r.orch->port());
  }
  // As the discovery daemon: the same batch again and again, to any replica, until a 200.
  bool deliver(const std::string& gw, const json& b, std::chrono::milliseconds timeout = 60s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    std::size_t i = 0;
    while (std::chrono::steady_clock::now() < end) {
      auto p = ports();
      if (!p.empty()) {
        auto c = gateway_client(p[i++ % p.size()], gw);
        auto r = call(*c, "POST", "/v1/gateways/" + gw + "/events", b);
        if (r.status == 200) return true;
        if (r.status != 503 && r.status != -1) ADD_FAILURE() << "events to " << gw << ": " << r.status << " " << r.raw;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  // An operator call to whichever replica leads (followers answer 503).
  Reply to_leader(const std::string& method, const std::string& target, const json& body = nullptr,
                  const std::string& token = kOperatorToken,
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    Reply r;
    wait_until(
        [&] {
          for (auto p : ports()) {
            auto c = token_client(p, token);
            r = call(*c, method, target, body, headers);
            if (r.status != 503 && r.status != -1) return true;
          }
          return false;
        },
        30s);
    return r;
  }

  KubePlane plane;
  Replica replicas[2];
  std::vector<std::string> more_args;  // for every replica start()s
  std::mutex ports_mu;
  std::vector<std::uint16_t> ports_;
};

TEST_F(KubernetesHa, KillingTheLeaderDuringRoamsLosesNoAcknowledgedEventAndNeverRunsAFunctionTwice) {
  int kills = 20;
  if (const char* k = std::getenv("C4I_HA_KILLS"); k && *k) kills = std::max(1, std::atoi(k));
  ASSERT_TRUE(start(replicas[0])) << replicas[0].orch->log();
  ASSERT_TRUE(wait_until([&] { return leader() == &replicas[0]; }, 30s)) << replicas[0].orch->log();
  ASSERT_TRUE(start(replicas[1])) << replicas[1].orch->log();
  publish_ports();
  PodWatch pods(plane, kNs);

  // One leader: the follower refuses writes, naming the leader; it serves reads.
  {
    auto f = token_client(replicas[1].orch->port(), kOperatorToken);
    auto r = call(*f, "POST", "/v1/functions", {{"template", "hr"}, {"device", kDev}});
    EXPECT_EQ(r.status, 503) << r.raw;
    EXPECT_EQ(r.body["error"]["code"], "not_leader") << r.raw;
    EXPECT_NE(r.raw.find("orch-a-1"), std::string::npos) << r.raw;
    EXPECT_EQ(r.headers["retry-after"], "1");
    EXPECT_EQ(call(*f, "GET", "/v1/policy").status, 200);
  }
  // A gateway that reaches the follower is not turned away: its batch goes on
  // to the leader, is acknowledged once stored there, and shows there.
  {
    const std::string dev = "c4:7c:8d:00:00:01";
    auto g = gateway_client(replicas[1].orch->port(), "gw-1");
    auto r = call(*g, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "boot-forwarded", {seen(1, dev, -50, unix_ms())}));
    EXPECT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.body["accepted"], 1) << r.raw;
    auto l = token_client(replicas[0].orch->port(), kViewerToken);
    auto d = call(*l, "GET", "/v1/devices/" + dev);
    EXPECT_EQ(d.status, 200) << d.raw;
    EXPECT_NE(d.raw.find("gw-1"), std::string::npos) << d.raw;
    // Only a replica's certificate may name another gateway in the header.
    auto g3 = gateway_client(replicas[0].orch->port(), "gw-3");
    auto x = call(*g3, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "boot-forged", {seen(1, dev, -50, unix_ms())}),
                  {{"X-C4I-Forwarded-Gateway", "gw-1"}});
    EXPECT_EQ(x.status, 403) << x.raw;
  }
  // The follower's /v1/watch shows what the leader changes (its copy is reloaded from the cluster).
  std::mutex watch_mu;
  std::string watched;
  std::atomic<bool> saw_function{false};
  std::thread follower_watch([&] {
    auto w = token_client(replicas[1].orch->port(), kViewerToken);
    (void)w->stream("/v1/watch?kinds=functions", [&](std::string_view chunk) {
      std::lock_guard lock(watch_mu);
      watched += chunk;
      if (watched.find(std::string("\"id\":\"") + kFn + "\"") != std::string::npos) {
        saw_function = true;
        return false;
      }
      return true;
    }, std::chrono::seconds(20));
  });
  EXPECT_TRUE(wait_until(
      [&] {
        std::lock_guard lock(watch_mu);
        return watched.find("watching") != std::string::npos;
      },
      10s));
  {
    auto admin = token_client(replicas[0].orch->port(), kAdminToken);
    auto r = call(*admin, "POST", "/v1/templates",
                  {{"name", "hr"},
                   {"command", {"/usr/bin/c4i-fn-omh", "--input", "unix:/run/c4i/samples.sock"}},
                   {"image", "127.0.0.1:5123/cloud4iot/c4i-fn-omh:0.1.0"},
                   {"archs", {"arm64", "amd64"}},
                   {"cpu_m", 100},
                   {"mem_mb", 64}});
    ASSERT_EQ(r.status, 201) << r.raw;
    auto cur = call(*admin, "GET", "/v1/policy");
    ASSERT_EQ(cur.status, 200);
    json p = cur.body["policy"];
    p["cooldown_s"] = 1;
    ASSERT_EQ(call(*admin, "PUT", "/v1/policy", p, {{"If-Match", cur.headers["etag"]}}).status, 200);
    ASSERT_EQ(call(*admin, "POST", "/v1/functions", {{"template", "hr"}, {"device", kDev}}).status, 201);
  }
  follower_watch.join();
  EXPECT_TRUE(saw_function.load()) << "the follower's /v1/watch did not show the new function";
  // The follower's copy catches up from the cluster.
  {
    auto f = token_client(replicas[1].orch->port(), kViewerToken);
    EXPECT_EQ(wait_for(*f, std::string("/v1/functions/") + kFn, [](const json& j) { return j.contains("id"); }, 10s)["id"], kFn);
  }

  // The gateways: the device walks gw-1 -> gw-2 -> gw-1 ... Each step is one
  // batch per gateway, delivered until acknowledged, then the next.
  std::mutex acked_mu;
  std::map<std::string, std::int64_t> acked_t;  // gateway -> t of its last acknowledged event
  std::string last_enter;                       // the gateway the device last entered (acknowledged)
  std::atomic<bool> stop{false};
  std::atomic<int> steps{0};
  std::string stream_error;  // guarded by acked_mu
  auto failed = [&] {
    std::lock_guard lock(acked_mu);
    return stream_error;
  };
  std::thread gateways([&] {
    std::map<std::string, std::int64_t> seq{{"gw-1", 1}, {"gw-2", 1}};
    std::string at = "gw-1";
    bool first = true;
    // Delivers one batch of `gw` and records when it was acknowledged (and,
    // for an entering gateway, that it is the last the device entered).
    auto send = [&](const std::string& gw, const std::vector<json>& events, std::int64_t t, bool entered) {
      if (!deliver(gw, batch(gw, "boot-" + gw, events))) {
        std::lock_guard lock(acked_mu);
        stream_error = "a batch of " + gw + " was never acknowledged";
        return false;
      }
      std::lock_guard lock(acked_mu);
      acked_t[gw] = t;
      if (entered) last_enter = gw;
      return true;
    };
    while (!stop) {
      std::string near = first ? "gw-1" : (at == "gw-1" ? "gw-2" : "gw-1"), far = near == "gw-1" ? "gw-2" : "gw-1";
      std::int64_t t = unix_ms();
      std::vector<json> near_events;
      if (first) near_events.push_back(heartbeat(seq[near]++, 0.2, 0.2, t));
      near_events.push_back(seen(seq[near]++, kDev, -45, t));
      if (!send(near, near_events, t, true)) return;
      if (!first) {
        std::int64_t t2 = unix_ms();
        if (!send(far, {seen(seq[far]++, kDev, -75, t2, "refresh")}, t2, false)) return;
      }
      at = near;
      first = false;
      steps++;
      std::this_thread::sleep_for(1200ms);
    }
  });
  // A failed ASSERT returns early: the stream stops and is joined first.
  struct JoinOnExit {
    std::atomic<bool>& stop;
    std::thread& t;
    ~JoinOnExit() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } join_on_exit{stop, gateways};

  // The device's state on a replica holds every acknowledged event up to `snapshot`.
  auto reflects = [&](std::uint16_t port, const std::map<std::string, std::int64_t>& snapshot, std::string* why) {
    auto c = token_client(port, kViewerToken);
    auto r = call(*c, "GET", std::string("/v1/devices/") + kDev);
    if (r.status != 200) {
      *why = "GET device: " + std::to_string(r.status) + " " + r.raw;
      return false;
    }
    for (const auto& [gw, t] : snapshot) {
      bool ok = false;
      for (const auto& s : r.body["sightings"])
        if (s["gateway"] == gw && s["last_t"].get<std::int64_t>() >= t) ok = true;
      if (!ok) {
        *why = gw + ": the event at " + std::to_string(t) + " is missing from " + r.body.dump();
        return false;
      }
    }
    return true;
  };

  std::vector<std::int64_t> to_acting, to_decision;
  for (int k = 0; k < kills; ++k) {
    // The stream is alive under this leader: a roam decided since it took over.
    Replica* lead = nullptr;
    ASSERT_TRUE(wait_until([&] { return (lead = leader()) != nullptr; }, 30s)) << "no leader before kill " << k;
    std::size_t log_mark = 0;
    int steps_before = steps.load();
    ASSERT_TRUE(wait_until([&] { return steps.load() >= steps_before + 2 || !failed().empty(); }, 60s))
        << "the roam stream stalled before kill " << k << ": " << failed();
    ASSERT_EQ(failed(), "");
    Replica& other = lead == &replicas[0] ? replicas[1] : replicas[0];
    ASSERT_TRUE(other.orch && other.orch->running());
    log_mark = other.orch->log().size();

    std::map<std::string, std::int64_t> acked_before;
    {
      std::lock_guard lock(acked_mu);
      acked_before = acked_t;
    }
    std::int64_t killed_at = unix_ms();
    lead->orch->kill9();
    publish_ports();

    std::optional<std::int64_t> acting_at, decided_at;
    bool took_over = wait_until(
        [&] {
          std::string log = other.orch->log();
          acting_at = logged_ms(log, "leading: working copy loaded", log_mark);
          decided_at = logged_ms(log, "first decision since acting", log_mark);
          return acting_at && decided_at;
        },
        std::chrono::seconds(kLeaseSeconds * 3 + 20));
    ASSERT_TRUE(took_over) << "kill " << k << ": " << other.identity() << " did not take over and decide; its log:\n"
                           << other.orch->log().substr(log_mark);
    EXPECT_EQ(holder(), other.identity());
    to_acting.push_back(*acting_at - killed_at);
    to_decision.push_back(*decided_at - killed_at);
    // Nothing acknowledged before the kill was lost.
    std::string why;
    EXPECT_TRUE(reflects(other.orch->port(), acked_before, &why)) << "kill " << k << ": " << why;
    // How much of it was loading the state ("... loaded from N object(s) in M ms").
    std::string load_ms = "?";
    {
      std::string log = other.orch->log();
      std::smatch m;
      static const std::regex loaded(R"(loaded from (\d+) object\(s\) in (\d+) ms)");
      std::string tail = log.substr(log_mark);
      if (std::regex_search(tail, m, loaded)) load_ms = m[2].str() + " ms (" + m[1].str() + " objects)";
    }
    std::printf("kill %2d: %s -> %s  leader loss -> acting %5lld ms, -> first decision %5lld ms; loading the state %s\n",
                k + 1, lead->identity().c_str(), other.identity().c_str(), static_cast<long long>(to_acting.back()),
                static_cast<long long>(to_decision.back()), load_ms.c_str());
    std::fflush(stdout);

    // Two replicas again.
    ASSERT_TRUE(start(*lead)) << lead->orch->log();
    publish_ports();
  }

  stop = true;
  if (gateways.joinable()) gateways.join();
  ASSERT_EQ(failed(), "");
  // Everything acknowledged is reflected, on the leader and in the Device object.
  Replica* lead = nullptr;
  ASSERT_TRUE(wait_until([&] { return (lead = leader()) != nullptr; }, 30s));
  std::string why;
  EXPECT_TRUE(reflects(lead->orch->port(), acked_t, &why)) << why;
  json dev = plane.get_json({"devices.cloud4iot.io", "-n", kNs, "c4-7c-8d-6a-3e-21"});
  ASSERT_TRUE(dev.is_object());
  for (const auto& [gw, t] : acked_t) {
    bool found = false;
    for (const auto& s : dev["status"]["sightings"])
      if (s["gateway"] == gw) {
        found = true;
        auto seen_ms = orchestrator::k8s::parse_rfc3339_ms(s.value("lastSeenTime", ""));
        EXPECT_TRUE(seen_ms && *seen_ms >= t) << gw << ": the Device object misses the event at " << t << ": " << s.dump();
        EXPECT_EQ(s["rssi"], gw == last_enter ? -45 : -75) << s.dump();
      }
    EXPECT_TRUE(found) << gw << " missing in the Device object: " << dev["status"].dump();
  }
  // The function ends where the device went last, one pod Running there.
  auto c = token_client(lead->orch->port(), kViewerToken);
  auto f = wait_for(*c, std::string("/v1/functions/") + kFn,
                    [&](const json& j) { return j.value("node", "") == last_enter && j.value("state", "") == "running"; }, 60s);
  EXPECT_EQ(f.value("node", ""), last_enter) << f.dump();
  EXPECT_TRUE(wait_until(
      [&] {
        json p = plane.get_json({"pods", "-n", kNs, "-l", std::string("cloud4iot.io/function=") + kFn});
        if (!p.is_object() || p["items"].size() != 1) return false;
        const json& pod = p["items"][0];
        return pod["status"].value("phase", "") == "Running" && pod["spec"].value("nodeName", "") == last_enter;
      },
      60s));
  json fn_obj = plane.get_json({"iotfunctions.cloud4iot.io", "-n", kNs, kFn});
  ASSERT_TRUE(fn_obj.is_object());
  EXPECT_EQ(fn_obj["status"]["desired"]["node"], last_enter) << fn_obj.dump();

  EXPECT_FALSE(pods.events().empty()) << "the side watch (kubectl get --watch) saw nothing";
  EXPECT_EQ(pods.overlap(), "") << "a function had two pods Running at once";

  std::printf("%zu kills, lease %d s (renew deadline 3 s, retry 0.5 s), %d roam steps acknowledged\n", to_acting.size(),
              kLeaseSeconds, steps.load());
  std::printf("leader loss -> acting:          median %.0f ms, max %lld ms\n", median(to_acting),
              static_cast<long long>(*std::max_element(to_acting.begin(), to_acting.end())));
  std::printf("leader loss -> first decision:  median %.0f ms, max %lld ms\n", median(to_decision),
              static_cast<long long>(*std::max_element(to_decision.begin(), to_decision.end())));
  for (auto ms : to_acting) EXPECT_LE(ms, kLeaseSeconds * 1000 + 2000) << "a takeover took longer than the lease duration";
}


// A gateway enrolled with the fleet CA, as the discovery daemon holds it: its key and certificate in files.
struct EnrolledGateway {
  std::string name, cert, key, serial;
  std::unique_ptr<http::Client> client(std::uint16_t port) const { return certificate_client(port, cert, key); }
};

// Enrolment records live in the cluster (GatewayIdentity, BootstrapToken):
// what one leader issued, counted and revoked holds under the next, and a
// follower refuses a revoked gateway itself. So does the policy's history.
TEST_F(KubernetesHa, EnrolmentRecordsAndPolicyHistorySurviveATakeover) {
  more_args = {"--ca-cert", test_pki().ca(), "--ca-key", test_pki().dir + "/ca.key"};
  ASSERT_TRUE(start(replicas[0])) << replicas[0].orch->log();
  ASSERT_TRUE(wait_until([&] { return leader() == &replicas[0]; }, 30s)) << replicas[0].orch->log();
  ASSERT_TRUE(start(replicas[1])) << replicas[1].orch->log();
  publish_ports();
  TempDir dir;

  auto token = [&](const json& body) {
    auto r = to_leader("POST", "/v1/gateway-tokens", body, kAdminToken);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body.value("token", "");
  };
  // Enrols `name` with `tok` on whichever replica leads; the refusal's code, or "" once enrolled into `out`.
  auto enrol = [&](const std::string& name, const std::string& tok, EnrolledGateway* out) -> std::string {
    auto key = x509::generate_p256_key();
    auto csr = x509::make_csr(*key, name);
    EXPECT_TRUE(key && csr);
    auto r = to_leader("POST", "/v1/enrol", {{"csr", *csr}, {"token", tok}}, "");
    if (r.status != 201) return r.body.is_object() && r.body.contains("error") ? r.body["error"].value("code", r.raw) : r.raw;
    if (out) {
      out->name = name;
      out->serial = r.body.value("serial", "");
      out->cert = dir.file(name + "-" + out->serial + ".pem");  // a gateway enrolled again keeps its old files apart
      out->key = dir.file(name + "-" + out->serial + ".key");
      write_file(out->cert, r.body.value("certificate", ""));
      write_file(out->key, *key);
    }
    return "";
  };
  auto events = [&](const EnrolledGateway& g, std::uint16_t port, std::int64_t seq) {
    auto c = g.client(port);
    return call(*c, "POST", "/v1/gateways/" + g.name + "/events",
                batch(g.name, "boot-" + g.name, {heartbeat(seq, 0.1, 0.1, unix_ms())}));
  };

  // Under A: two gateways enrol, one token is used up, one is half used, one is left unused; pi-2 is revoked.
  EnrolledGateway pi1, pi2;
  const std::string once = token({{"ttl_s", 3600}});
  const std::string twice = token({{"ttl_s", 3600}, {"uses", 2}, {"labels", {{"ward", "3"}}}});
  const std::string spare = token({{"ttl_s", 3600}, {"gateway", "pi-4"}});
  ASSERT_EQ(enrol("pi-1", once, &pi1), "");
  ASSERT_EQ(enrol("pi-2", twice, &pi2), "");
  ASSERT_EQ(events(pi1, replicas[0].orch->port(), 1).status, 200);
  ASSERT_EQ(events(pi2, replicas[0].orch->port(), 1).status, 200);
  auto rv = to_leader("POST", "/v1/gateways/pi-2:revoke", json::object(), kAdminToken);
  ASSERT_EQ(rv.status, 200) << rv.raw;
  auto refused = [](const Reply& r) { return r.status == 403 && r.raw.find("certificate_revoked") != std::string::npos; };
  EXPECT_TRUE(refused(events(pi2, replicas[0].orch->port(), 2)));
  // The follower refuses it too, by itself (its copy is reloaded from the cluster), before anything is forwarded.
  EXPECT_TRUE(wait_until(
      [&] {
        return refused(events(pi2, replicas[1].orch->port(), 2)) &&
               replicas[1].orch->log().find("refused POST /v1/gateways/pi-2/events from pi-2") != std::string::npos;
      },
      10s))
      << replicas[1].orch->log();
  // kubectl shows the records; the token itself is nowhere in the cluster.
  json gw = plane.get_json({"gatewayidentities.cloud4iot.io", "-n", kNs, "pi-2"});
  ASSERT_TRUE(gw.is_object());
  EXPECT_TRUE(gw["spec"].contains("revokedTime")) << gw.dump();
  EXPECT_EQ(gw["spec"]["certificates"][0]["serial"], pi2.serial) << gw.dump();
  auto all = plane.kubectl({"get", "bootstraptokens.cloud4iot.io,gatewayidentities.cloud4iot.io", "-n", kNs, "-o", "json"});
  ASSERT_EQ(all.code, 0) << all.err;
  for (const auto& t : {once, twice, spare}) EXPECT_EQ(all.out.find(t.substr(t.find('.') + 1)), std::string::npos);

  // Two policy versions under A (the first is the default the leader wrote).
  for (int cooldown : {7, 9}) {
    auto cur = to_leader("GET", "/v1/policy", nullptr, kAdminToken);
    ASSERT_EQ(cur.status, 200) << cur.raw;
    json p = cur.body["policy"];
    p["cooldown_s"] = cooldown;
    auto put = to_leader("PUT", "/v1/policy", p, kAdminToken, {{"If-Match", cur.headers["etag"]}});
    ASSERT_EQ(put.status, 200) << put.raw;
  }

  // A dies; B leads.
  Replica& a = replicas[0];
  Replica& b = replicas[1];
  const std::size_t mark = b.orch->log().size();
  a.orch->kill9();
  publish_ports();
  ASSERT_TRUE(wait_until([&] { return leader() == &b; }, std::chrono::seconds(kLeaseSeconds * 3 + 20)))
      << b.orch->log().substr(mark);
  const auto port = b.orch->port();

  // The revoked gateway stays refused, the enrolled one is served and may renew.
  EXPECT_TRUE(refused(events(pi2, port, 3)));
  EXPECT_EQ(events(pi1, port, 2).status, 200);
  {
    auto c = pi1.client(port);
    auto r = call(*c, "POST", "/v1/enrol/renew", {{"csr", *x509::make_csr(*x509::generate_p256_key(), "pi-1")}});
    EXPECT_EQ(r.status, 201) << r.raw;
  }
  // Tokens keep their counts: the used-up one stays used up, the half-used one enrols once more, then no more.
  EXPECT_EQ(enrol("pi-5", once, nullptr), "token_used_up");
  EXPECT_EQ(enrol("pi-3", twice, nullptr), "");
  EXPECT_EQ(enrol("pi-6", twice, nullptr), "token_used_up");
  EXPECT_EQ(enrol("pi-4", spare, nullptr), "");
  // pi-2 comes back only with a token made for it, under the new leader.
  EXPECT_EQ(enrol("pi-2", token({{"ttl_s", 600}}), nullptr), "gateway_revoked");
  EnrolledGateway pi2b;
  ASSERT_EQ(enrol("pi-2", token({{"ttl_s", 600}, {"gateway", "pi-2"}}), &pi2b), "");
  {
    auto ok = events(pi2b, port, 4);
    EXPECT_EQ(ok.status, 200) << ok.raw;
    auto old = events(pi2, port, 5);
    EXPECT_TRUE(refused(old)) << old.raw << "\n" << b.orch->log();  // its old certificate stays revoked
  }
  // The policy's history came along.
  auto history = to_leader("GET", "/v1/policy/history", nullptr, kAdminToken);
  ASSERT_EQ(history.status, 200) << history.raw;
  std::vector<int> cooldowns;
  for (const auto& v : history.body["items"]) cooldowns.push_back(v["policy"].value("cooldown_s", 0));
  ASSERT_GE(cooldowns.size(), 3u) << history.raw;
  EXPECT_EQ(cooldowns[cooldowns.size() - 2], 7) << history.raw;
  EXPECT_EQ(cooldowns.back(), 9) << history.raw;
  auto list = to_leader("GET", "/v1/gateway-tokens", nullptr, kAdminToken);
  ASSERT_EQ(list.status, 200) << list.raw;
  EXPECT_EQ(list.body["items"].size(), 5u) << list.raw;

  // And the other way: A again, B killed; A loads what B did.
  ASSERT_TRUE(start(a)) << a.orch->log();
  publish_ports();
  b.orch->kill9();
  publish_ports();
  ASSERT_TRUE(wait_until([&] { return leader() == &a; }, std::chrono::seconds(kLeaseSeconds * 3 + 20))) << a.orch->log();
  {
    auto ok = events(pi2b, a.orch->port(), 5);
    EXPECT_EQ(ok.status, 200) << ok.raw << "\n" << a.orch->log();
  }
  EXPECT_TRUE(refused(events(pi2, a.orch->port(), 6)));
  EXPECT_EQ(enrol("pi-7", twice, nullptr), "token_used_up");
}

}  // namespace
}  // namespace c4i::testing
