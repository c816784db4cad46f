// The kubernetes backend across an apiserver outage: the apiserver is
// stopped for 30 s. The state lives in the cluster, so meanwhile writes (a
// roam's events, a manual move) answer 503 and reads keep working; the
// writers send again (as the discovery daemon does) and once the apiserver
// is back (tests/k8s/apiserver.sh start --kick) they are acknowledged, the
// orchestrator resumes its watches, applies what was decided, and no
// function ever has two pods Running.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/orchestrator/kubernetes_plane.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;

constexpr const char* kDevA = "c4:7c:8d:6a:3e:0a";
constexpr const char* kDevB = "c4:7c:8d:6a:3e:0b";
constexpr const char* kDevC = "c4:7c:8d:6a:3e:0c";
std::string fn_of(const std::string& dev) {
  std::string s = "hr-" + dev;
  for (char& c : s)
    if (c == ':') c = '-';
  return s;
}

TEST(KubernetesOutage, ApiserverDownFor30sWritesAreRefusedThenRetriedAndApplied) {
  KubePlane plane;
  ASSERT_TRUE(plane.up()) << plane.error();
  KubeOrchestrator orch(plane, "outage");
  ASSERT_TRUE(orch.start()) << orch.log();
  auto watch = std::make_unique<PodWatch>(plane, "outage");
  auto op = orch.client(kOperatorToken);
  auto gw1 = orch.gateway("gw-1");
  auto gw2 = orch.gateway("gw-2");
  std::int64_t seq1 = 1, seq2 = 1;
  orch.create_template("hr", {"arm64", "amd64"});

  auto function = [&](const std::string& dev) { return call(*op, "GET", "/v1/functions/" + fn_of(dev)).body; };
  auto pods_of = [&](const std::string& dev) {
    json j = plane.get_json({"pods", "-n", "outage", "-l", "cloud4iot.io/function=" + fn_of(dev)});
    return j.is_object() ? j["items"] : json::array();
  };
  auto running_on = [&](const std::string& dev, const std::function<bool(const std::string&)>& ok) {
    return wait_until(
        [&] {
          json p = pods_of(dev);
          return p.size() == 1 && p[0]["status"].value("phase", "") == "Running" &&
                 !p[0]["metadata"].contains("deletionTimestamp") && ok(p[0]["spec"].value("nodeName", ""));
        },
        std::chrono::seconds(60));
  };
  auto on = [](const std::string& node) { return [node](const std::string& n) { return n == node; }; };

  std::vector<json> events;
  for (const char* dev : {kDevA, kDevB, kDevC}) {
    ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "hr"}, {"device", dev}}).status, 201);
    events.push_back(seen(seq1++, dev, -60, unix_ms()));
  }
  ASSERT_EQ(call(*gw1, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "boot-1", events)).status, 200);
  for (const char* dev : {kDevA, kDevB, kDevC}) ASSERT_TRUE(running_on(dev, on("gw-1"))) << dev << "\n" << orch.log();
  EXPECT_EQ(watch->overlap(), "");

  // Outage: the apiserver goes away for 30 s. The cluster holds the state,
  // so nothing is acknowledged meanwhile: writes answer 503 (the gateway's
  // daemon keeps its batch and sends it again), reads keep working.
  auto stopped = plane.apiserver({"stop"});
  ASSERT_EQ(stopped.code, 0) << stopped.err;
  auto outage_start = std::chrono::steady_clock::now();
  std::int64_t t = unix_ms();
  json roam_a2 = batch("gw-2", "boot-2", {seen(seq2++, kDevA, -45, t)});
  json roam_a1 = batch("gw-1", "boot-1", {seen(seq1++, kDevA, -75, t + 1, "refresh")});
  auto r = call(*gw2, "POST", "/v1/gateways/gw-2/events", roam_a2);
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "unavailable") << r.raw;
  auto mv = call(*op, "POST", "/v1/functions/" + fn_of(kDevB) + ":move", {{"tier", "cloud"}, {"pin", true}});
  EXPECT_EQ(mv.status, 503) << mv.raw;
  EXPECT_EQ(call(*op, "GET", "/v1/functions/" + fn_of(kDevA)).status, 200);
  // Like the daemon: the same requests again, until acknowledged (after the outage).
  std::atomic<bool> acked{false};
  std::thread retry([&] {
    auto g1 = orch.gateway("gw-1"), g2 = orch.gateway("gw-2");
    auto o = orch.client(kOperatorToken);
    auto until_ok = [&](http::Client& c, const std::string& target, const json& body, int ok) {
      for (int i = 0; i < 900; ++i) {
        if (call(c, "POST", target, body).status == ok) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      return false;
    };
    bool all = until_ok(*g2, "/v1/gateways/gw-2/events", roam_a2, 200) &&
               until_ok(*g1, "/v1/gateways/gw-1/events", roam_a1, 200) &&
               until_ok(*o, "/v1/functions/" + fn_of(kDevB) + ":move", json{{"tier", "cloud"}, {"pin", true}}, 202);
    acked = all;
  });
  // The outage lasts 30 s whatever happens above (the scenario's length, not a wait for a condition).
  std::this_thread::sleep_until(outage_start + std::chrono::seconds(30));
  EXPECT_FALSE(acked.load()) << "a write was acknowledged while the apiserver was down";

  auto started = plane.apiserver({"start", "--kick"});
  ASSERT_EQ(started.code, 0) << started.err;
  retry.join();
  ASSERT_TRUE(acked.load()) << "the writes retried after the outage were not acknowledged\n" << orch.log();
  EXPECT_EQ(function(kDevA)["desired"]["node"], "gw-2");
  // kubectl's watch ended with the apiserver; a new one lists and watches from here.
  auto before = watch->overlap();
  EXPECT_EQ(before, "");
  watch = std::make_unique<PodWatch>(plane, "outage");

  EXPECT_TRUE(running_on(kDevA, on("gw-2"))) << orch.log();
  EXPECT_TRUE(running_on(kDevB, [](const std::string& n) { return n == "cloud-1" || n == "cloud-2"; })) << orch.log();
  EXPECT_TRUE(running_on(kDevC, on("gw-1"))) << orch.log();
  // The roam completed with its whole timeline.
  auto done = wait_for(*op, "/v1/migrations?function=" + fn_of(kDevA) + "&kind=roam",
                       [](const json& b) { return !b["items"].empty() && b["items"][0]["state"] == "done"; },
                       std::chrono::seconds(60));
  ASSERT_FALSE(done["items"].empty()) << orch.log();
  EXPECT_TRUE(done["items"][0]["timeline"]["started"].is_number_integer()) << done.dump();

  // The watches resumed: a roam decided after the outage is followed to `started`.
  std::int64_t t2 = unix_ms();
  ASSERT_EQ(call(*gw2, "POST", "/v1/gateways/gw-2/events", batch("gw-2", "boot-2", {seen(seq2++, kDevC, -45, t2)})).status, 200);
  ASSERT_EQ(call(*gw1, "POST", "/v1/gateways/gw-1/events",
                 batch("gw-1", "boot-1", {seen(seq1++, kDevC, -75, t2 + 1, "refresh")}))
                .status,
            200);
  auto c = wait_for(*op, "/v1/migrations?function=" + fn_of(kDevC) + "&kind=roam",
                    [](const json& b) {
                      return !b["items"].empty() && b["items"][0]["state"] == "done" &&
                             b["items"][0]["timeline"]["started"].is_number_integer();
                    },
                    std::chrono::seconds(60));
  ASSERT_FALSE(c["items"].empty()) << orch.log();
  EXPECT_TRUE(running_on(kDevC, on("gw-2")));
  EXPECT_EQ(watch->overlap(), "");
  for (const char* dev : {kDevA, kDevB, kDevC}) EXPECT_LE(pods_of(dev).size(), 1u) << dev;
}

}  // namespace
}  // namespace c4i::testing
