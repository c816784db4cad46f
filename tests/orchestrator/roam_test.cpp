// Migrations driven end to end through the real binary: a roam from gw-1 to
// gw-2 driven by gateway events with its complete timeline, an offload (and
// the way back) driven by heartbeats, a lost device undeployed, a crashing
// function restarted with backoff.
#include <gtest/gtest.h>

#include "tests/orchestrator/harness.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;

constexpr const char* kDev = "c4:7c:8d:6a:3e:01";
constexpr const char* kFn = "fn-c4-7c-8d-6a-3e-01";

class Migrations : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(orch.start()) << orch.log();
    op = orch.client(kOperatorToken);
    gw1 = orch.gateway("gw-1");
    gw2 = orch.gateway("gw-2");
  }
  void set_policy(const std::function<void(json&)>& edit) {
    auto cur = call(*op, "GET", "/v1/policy");
    ASSERT_EQ(cur.status, 200);
    json p = cur.body["policy"];
    edit(p);
    auto r = call(*op, "PUT", "/v1/policy", p, {{"If-Match", cur.headers["etag"]}});
    ASSERT_EQ(r.status, 200) << r.raw;
  }
  json post(http::Client& gw, const std::string& name, const std::vector<json>& events) {
    auto r = call(gw, "POST", "/v1/gateways/" + name + "/events", batch(name, "boot-" + name, events));
    EXPECT_EQ(r.status, 200) << r.raw;
    return r.body;
  }
  json migration_of_kind(const std::string& kind, const std::function<bool(const json&)>& pred) {
    json found;
    wait_until(
        [&] {
          auto r = call(*op, "GET", std::string("/v1/migrations?function=") + kFn + "&kind=" + kind);
          if (r.status != 200) return false;
          for (const auto& m : r.body["items"])
            if (pred(m)) {
              found = m;
              return true;
            }
          return false;
        },
        std::chrono::seconds(20));
    return found;
  }
  std::vector<std::pair<pid_t, std::string>> processes() { return function_processes(orch.state_dir())[kFn]; }

  Orchestrator orch;
  std::unique_ptr<http::Client> op, gw1, gw2;
  std::int64_t seq1 = 1, seq2 = 1;
};

TEST_F(Migrations, RoamFromGw1ToGw2HasACompleteTimeline) {
  orch.create_test_template("fn");
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", kDev}}).status, 201);
  post(*gw1, "gw-1", {seen(seq1++, kDev, -60, unix_ms())});
  auto place = migration_of_kind("place", [](const json& m) { return m["state"] == "done" && !m["timeline"]["first_data"].is_null(); });
  ASSERT_FALSE(place.is_null()) << orch.log();
  EXPECT_EQ(place["to"]["node"], "gw-1");
  ASSERT_EQ(processes().size(), 1u);
  EXPECT_EQ(processes()[0].second, "gw-1");

  // The device walks: gw-2 hears it strongly, gw-1 weakly (beyond the 6 dB margin).
  std::int64_t detected = unix_ms();
  post(*gw2, "gw-2", {seen(seq2++, kDev, -45, detected)});
  post(*gw1, "gw-1", {seen(seq1++, kDev, -72, detected + 1, "refresh")});
  auto roam = migration_of_kind("roam", [](const json& m) { return m["state"] == "done" && !m["timeline"]["first_data"].is_null(); });
  ASSERT_FALSE(roam.is_null()) << orch.log();
  EXPECT_EQ(roam["from"], "gw-1");
  EXPECT_EQ(roam["to"]["node"], "gw-2");
  EXPECT_NE(roam["reason"].get<std::string>().find("gw-2"), std::string::npos);
  const auto& tl = roam["timeline"];
  std::int64_t prev = 0;
  for (const char* step : {"detected", "notified", "decided", "applied", "scheduled", "started", "first_data"}) {
    ASSERT_TRUE(tl[step].is_number_integer()) << step << " missing in " << roam.dump();
    EXPECT_GE(tl[step].get<std::int64_t>(), prev) << step << " out of order in " << roam.dump();
    prev = tl[step].get<std::int64_t>();
  }
  EXPECT_EQ(tl["detected"], detected);
  // Exactly one copy, on gw-2.
  auto procs = processes();
  ASSERT_EQ(procs.size(), 1u);
  EXPECT_EQ(procs[0].second, "gw-2");
  auto f = call(*op, "GET", std::string("/v1/functions/") + kFn).body;
  EXPECT_EQ(f["node"], "gw-2");
  EXPECT_EQ(f["desired"]["kind"], "roam");
  // A weaker refresh from gw-1 within the margin moves nothing back.
  post(*gw1, "gw-1", {seen(seq1++, kDev, -50, unix_ms(), "refresh")});
  EXPECT_FALSE(wait_until([&] { return call(*op, "GET", std::string("/v1/migrations?function=") + kFn).body["items"].size() > 2; },
                          std::chrono::milliseconds(1500)));
}

TEST_F(Migrations, HeartbeatsOffloadUpAndBringBack) {
  set_policy([](json& p) { p["cooldown_s"] = 1; });
  orch.create_test_template("fn");
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", kDev}}).status, 201);
  post(*gw1, "gw-1", {heartbeat(seq1++, 0.2, 0.2, unix_ms()), seen(seq1++, kDev, -60, unix_ms())});
  ASSERT_FALSE(migration_of_kind("place", [](const json& m) { return m["state"] == "done"; }).is_null()) << orch.log();

  std::int64_t hot = unix_ms();
  post(*gw1, "gw-1", {heartbeat(seq1++, 0.97, 0.4, hot)});
  auto up = migration_of_kind("offload_up", [](const json& m) { return m["state"] == "done"; });
  ASSERT_FALSE(up.is_null()) << orch.log();
  EXPECT_EQ(up["from"], "gw-1");
  EXPECT_EQ(up["to"]["node"], "edge-1");
  EXPECT_EQ(up["timeline"]["detected"], hot);
  EXPECT_NE(up["reason"].get<std::string>().find("cpu"), std::string::npos) << up.dump();
  ASSERT_TRUE(wait_until([&] { auto p = processes(); return p.size() == 1 && p[0].second == "edge-1"; }, std::chrono::seconds(10)));

  post(*gw1, "gw-1", {heartbeat(seq1++, 0.05, 0.1, unix_ms())});
  auto down = migration_of_kind("bring_down", [](const json& m) { return m["state"] == "done"; });
  ASSERT_FALSE(down.is_null()) << orch.log();
  EXPECT_EQ(down["to"]["node"], "gw-1");
  ASSERT_TRUE(wait_until([&] { auto p = processes(); return p.size() == 1 && p[0].second == "gw-1"; }, std::chrono::seconds(10)));
}

TEST_F(Migrations, ALostDeviceIsUndeployed) {
  set_policy([](json& p) {
    p["lost_after_s"] = 1;
    p["on_lost"] = "undeploy";
  });
  orch.create_test_template("fn");
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", kDev}}).status, 201);
  post(*gw1, "gw-1", {seen(seq1++, kDev, -60, unix_ms())});
  ASSERT_FALSE(migration_of_kind("place", [](const json& m) { return m["state"] == "done"; }).is_null());
  post(*gw1, "gw-1", {lost(seq1++, kDev, unix_ms())});
  auto u = migration_of_kind("undeploy", [](const json& m) { return m["state"] == "done"; });
  ASSERT_FALSE(u.is_null()) << orch.log();
  EXPECT_TRUE(wait_until([&] { return processes().empty(); }, std::chrono::seconds(10)));
  auto f = wait_for(*op, std::string("/v1/functions/") + kFn, [](const json& b) { return b["state"] == "undeployed"; });
  EXPECT_EQ(f["state"], "undeployed");
  // It comes back with its device.
  post(*gw2, "gw-2", {seen(seq2++, kDev, -55, unix_ms())});
  f = wait_for(*op, std::string("/v1/functions/") + kFn, [](const json& b) { return b["state"] == "running"; });
  EXPECT_EQ(f["node"], "gw-2");
}

TEST_F(Migrations, AnExitingFunctionIsRestartedWithBackoffAndReported) {
  orch.create_test_template("fn", {{"C4I_TEST_EXIT_AFTER_MS", "100"}, {"C4I_TEST_NO_MARK", "1"}});
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", kDev}}).status, 201);
  post(*gw1, "gw-1", {seen(seq1++, kDev, -60, unix_ms())});
  auto f = wait_for(*op, std::string("/v1/functions/") + kFn, [](const json& b) { return b["restarts"].get<int>() >= 3; });
  EXPECT_GE(f["restarts"].get<int>(), 3) << f.dump();
  EXPECT_EQ(f["last_exit"], "exit 3");
  EXPECT_EQ(f["node"], "gw-1");
  EXPECT_LE(processes().size(), 1u);
}

}  // namespace
}  // namespace c4i::testing
