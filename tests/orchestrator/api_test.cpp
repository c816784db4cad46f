// c4i-orchestrator's REST API over real TLS: each endpoint and each error.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/sqlite.hpp"
#include "tests/orchestrator/harness.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(orch.start()) << orch.log();
    op = orch.client(kOperatorToken);
    admin = orch.client(kAdminToken);
    viewer = orch.client(kViewerToken);
  }
  Orchestrator orch;
  std::unique_ptr<http::Client> op, admin, viewer;
};

TEST_F(Api, HealthReadyAndMetrics) {
  auto anon = orch.client("");
  EXPECT_EQ(call(*anon, "GET", "/healthz").status, 200);
  auto ready = wait_for(*anon, "/readyz", [](const json& b) { return b.value("status", "") == "ready"; });
  EXPECT_EQ(ready["status"], "ready");
  EXPECT_EQ(call(*anon, "GET", "/metrics").status, 401);
  auto m = call(*viewer, "GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.raw.find("c4i_http_requests_total"), std::string::npos);
  EXPECT_EQ(m.headers["content-type"].rfind("text/plain", 0), 0u);
}

TEST_F(Api, TokensAndRoles) {
  auto anon = orch.client("");
  auto r = call(*anon, "GET", "/v1/nodes");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body["error"]["code"], "unauthenticated");
  auto wrong = orch.client("not-a-token");
  EXPECT_EQ(call(*wrong, "GET", "/v1/nodes").status, 401);
  EXPECT_EQ(call(*viewer, "GET", "/v1/nodes").status, 200);
  // viewer < operator < admin
  r = call(*viewer, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:01"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["error"]["code"], "forbidden");
  r = call(*op, "POST", "/v1/templates", {{"name", "t"}, {"command", {"/bin/true"}}});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("admin"), std::string::npos);
  EXPECT_EQ(call(*admin, "POST", "/v1/templates", {{"name", "t"}, {"command", {"/bin/true"}}}).status, 201);
  // A client certificate is no token.
  auto gw = orch.gateway("gw-1");
  EXPECT_EQ(call(*gw, "GET", "/v1/nodes").status, 401);
}

TEST_F(Api, NodesComeFromTheTopologyWithFiltersAndPaging) {
  auto r = call(*viewer, "GET", "/v1/nodes?tier=gateway");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body["items"].size(), 2u);
  EXPECT_EQ(r.body["items"][0]["name"], "gw-1");
  EXPECT_TRUE(r.body["continue"].is_null());
  std::vector<std::string> names;
  std::string target = "/v1/nodes?limit=1";
  for (int i = 0; i < 10; ++i) {
    r = call(*viewer, "GET", target);
    ASSERT_EQ(r.status, 200);
    for (auto& n : r.body["items"]) names.push_back(n["name"]);
    if (r.body["continue"].is_null()) break;
    target = "/v1/nodes?limit=1&continue=" + r.body["continue"].get<std::string>();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"cloud-1", "edge-1", "gw-1", "gw-2"}));
  r = call(*viewer, "GET", "/v1/nodes/edge-1");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["labels"]["zone"], "a");
  EXPECT_EQ(call(*viewer, "GET", "/v1/nodes/nope").status, 404);
  r = call(*viewer, "GET", "/v1/nodes?limit=0");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["message"].get<std::string>().rfind("limit:", 0), 0u);
  EXPECT_EQ(call(*viewer, "GET", "/v1/nodes?continue=garbage!").status, 400);
  r = call(*viewer, "GET", "/v1/nodes?color=blue");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["message"].get<std::string>().rfind("color:", 0), 0u);
}

TEST_F(Api, TemplatesCreateGetDeleteAndConflicts) {
  auto r = call(*admin, "POST", "/v1/templates", {{"name", "omh"}, {"command", {"/bin/sleep", "100"}}, {"tiers", {"gateway", "edge"}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["created_by"], "alice");
  EXPECT_EQ(r.headers["location"], "/v1/templates/omh");
  EXPECT_EQ(call(*admin, "POST", "/v1/templates", {{"name", "omh"}, {"command", {"/bin/true"}}}).status, 409);
  r = call(*admin, "POST", "/v1/templates", {{"name", "x"}, {"command", "not-a-list"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["message"].get<std::string>().rfind("command:", 0), 0u);
  r = call(*admin, "POST", "/v1/templates", {{"name", "x"}, {"command", {"/bin/true"}}, {"tiers", {"fog"}}});
  EXPECT_EQ(r.body["error"]["message"].get<std::string>().rfind("tiers[0]:", 0), 0u);
  auto raw = admin->request("POST", "/v1/templates", "{not json", {{"Content-Type", "application/json"}}, false);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 400);
  EXPECT_EQ(call(*viewer, "GET", "/v1/templates/omh").body["tiers"], json({"gateway", "edge"}));
  EXPECT_EQ(call(*viewer, "GET", "/v1/templates").body["items"].size(), 1u);
  EXPECT_EQ(call(*viewer, "GET", "/v1/templates/none").status, 404);
  // In use: 409; then free: 204; then gone: 404.
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "omh"}, {"device", "aa:bb:cc:dd:ee:01"}}).status, 201);
  EXPECT_EQ(call(*admin, "DELETE", "/v1/templates/omh").status, 409);
  EXPECT_EQ(call(*op, "DELETE", "/v1/functions/omh-aa-bb-cc-dd-ee-01").status, 204);
  EXPECT_EQ(call(*admin, "DELETE", "/v1/templates/omh").status, 204);
  EXPECT_EQ(call(*admin, "DELETE", "/v1/templates/omh").status, 404);
}

TEST_F(Api, FunctionsCreateListFilterDelete) {
  orch.create_test_template("fn");
  auto r = call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:01"}});
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["id"], "fn-aa-bb-cc-dd-ee-01");
  EXPECT_EQ(r.body["created_by"], "oscar");
  EXPECT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:01"}}).status, 409);
  EXPECT_EQ(call(*op, "POST", "/v1/functions", {{"template", "nope"}, {"device", "aa:bb:cc:dd:ee:02"}}).status, 404);
  r = call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", "not-an-address"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["message"].get<std::string>().rfind("device:", 0), 0u);
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:02"}, {"id", "second"}}).status, 201);
  EXPECT_EQ(call(*viewer, "GET", "/v1/functions").body["items"].size(), 2u);
  r = call(*viewer, "GET", "/v1/functions?device=aa:bb:cc:dd:ee:02");
  ASSERT_EQ(r.body["items"].size(), 1u);
  EXPECT_EQ(r.body["items"][0]["id"], "second");
  EXPECT_EQ(call(*viewer, "GET", "/v1/functions/second").body["state"], "pending");
  EXPECT_EQ(call(*viewer, "GET", "/v1/functions/none").status, 404);
  EXPECT_EQ(call(*op, "DELETE", "/v1/functions/second").status, 204);
  EXPECT_EQ(call(*op, "DELETE", "/v1/functions/second").status, 404);
}

TEST_F(Api, EventBatchIsAppliedAndAReplayIsAppliedOnce) {
  auto gw = orch.gateway("gw-1");
  auto t = unix_ms();
  json b = batch("gw-1", "boot-a", {seen(1, "aa:bb:cc:dd:ee:01", -60, t), seen(2, "aa:bb:cc:dd:ee:01", -58, t + 1, "refresh"),
                                    heartbeat(3, 0.2, 0.3, t + 2)});
  auto r = call(*gw, "POST", "/v1/gateways/gw-1/events", b);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["accepted"], 3);
  EXPECT_EQ(r.body["last_seq"], 3);
  for (int i = 0; i < 3; ++i) {
    r = call(*gw, "POST", "/v1/gateways/gw-1/events", b);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body["accepted"], 0);
    EXPECT_EQ(r.body["duplicates"], 3);
  }
  auto d = call(*viewer, "GET", "/v1/devices/aa:bb:cc:dd:ee:01");
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(d.body["seen_events"], 2);  // applied once, not four times
  EXPECT_EQ(d.body["state"], "present");
  EXPECT_EQ(d.body["sightings"][0]["gateway"], "gw-1");
  // A retry re-batched: starts at an applied seq and carries a new one.
  r = call(*gw, "POST", "/v1/gateways/gw-1/events",
           batch("gw-1", "boot-a", {heartbeat(3, 0.2, 0.3, t + 2), lost(4, "aa:bb:cc:dd:ee:01", t + 3)}));
  EXPECT_EQ(r.body["accepted"], 1);
  EXPECT_EQ(r.body["duplicates"], 1);
  EXPECT_EQ(call(*viewer, "GET", "/v1/devices/aa:bb:cc:dd:ee:01").body["state"], "lost");
  auto node = call(*viewer, "GET", "/v1/nodes/gw-1").body;
  EXPECT_DOUBLE_EQ(node["usage"]["cpu"].get<double>(), 0.2);
  EXPECT_EQ(call(*viewer, "GET", "/v1/devices?state=lost").body["items"].size(), 1u);
}

TEST_F(Api, AMalformedEventRejectsTheWholeBatchNamingIndexAndField) {
  auto gw = orch.gateway("gw-1");
  auto t = unix_ms();
  json bad_event = seen(3, "aa:bb:cc:dd:ee:09", -60, t);
  bad_event["rssi"] = "loud";
  json b = batch("gw-1", "boot-b", {seen(1, "aa:bb:cc:dd:ee:07", -60, t), seen(2, "aa:bb:cc:dd:ee:08", -60, t), bad_event});
  auto r = call(*gw, "POST", "/v1/gateways/gw-1/events", b);
  ASSERT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["code"], "invalid_batch");
  EXPECT_EQ(r.body["error"]["message"], "events[2].rssi: must be an integer");
  // Nothing of it was applied, and the sequence did not advance.
  EXPECT_EQ(call(*viewer, "GET", "/v1/devices/aa:bb:cc:dd:ee:07").status, 404);
  b["events"][2]["rssi"] = -61;
  r = call(*gw, "POST", "/v1/gateways/gw-1/events", b);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body["accepted"], 3);
}

TEST_F(Api, AGatewayMaySpeakOnlyForItself) {
  auto t = unix_ms();
  json b = batch("gw-1", "boot-c", {seen(1, "aa:bb:cc:dd:ee:01", -60, t)});
  auto gw2 = orch.gateway("gw-2");
  auto r = call(*gw2, "POST", "/v1/gateways/gw-1/events", b);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["error"]["code"], "forbidden");
  // The body must agree with the path and certificate too.
  r = call(*gw2, "POST", "/v1/gateways/gw-2/events", b);
  EXPECT_EQ(r.status, 403);
  // No certificate: 401; a token does not make a gateway.
  auto tok = orch.client(kAdminToken);
  EXPECT_EQ(call(*tok, "POST", "/v1/gateways/gw-1/events", b).status, 401);
  EXPECT_EQ(call(*viewer, "GET", "/v1/devices/aa:bb:cc:dd:ee:01").status, 404);
}

TEST_F(Api, TooLargeBodiesAndBatchesAre413) {
  auto gw = orch.gateway("gw-1");
  std::string huge = batch("gw-1", "boot-d", {seen(1, "aa:bb:cc:dd:ee:01", -60, 1)}).dump();
  huge.insert(huge.size() - 1, ",\"pad\":\"" + std::string(300 * 1024, 'x') + "\"");
  auto raw = gw->request("POST", "/v1/gateways/gw-1/events", huge, {{"Content-Type", "application/json"}}, false);
  ASSERT_TRUE(raw) << raw.error().message;
  EXPECT_EQ(raw->status, 413);
  gw = orch.gateway("gw-1");
  std::vector<json> events;
  for (int i = 1; i <= 1001; ++i) events.push_back(heartbeat(i, 0.1, 0.1, 1));
  auto r = call(*gw, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "boot-d", events));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body["error"]["code"], "too_many_events");
}

TEST_F(Api, PolicyIsVersionedWithIfMatchAndHistory) {
  auto r = call(*viewer, "GET", "/v1/policy");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["version"], 1);
  EXPECT_EQ(r.headers["etag"], "\"1\"");
  json p = r.body["policy"];
  p["roam_margin_db"] = 4;
  EXPECT_EQ(call(*viewer, "PUT", "/v1/policy", p, {{"If-Match", "\"1\""}}).status, 403);
  r = call(*op, "PUT", "/v1/policy", p);
  EXPECT_EQ(r.status, 428);
  r = call(*op, "PUT", "/v1/policy", p, {{"If-Match", "\"1\""}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["version"], 2);
  EXPECT_EQ(r.body["changed_by"], "oscar");
  EXPECT_EQ(r.headers["etag"], "\"2\"");
  // A writer who read version 1 is told it is stale.
  r = call(*admin, "PUT", "/v1/policy", p, {{"If-Match", "\"1\""}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body["error"]["code"], "stale_version");
  json bad = p;
  bad["tiers"]["gateway"]["cpu_low"] = 0.95;
  r = call(*op, "PUT", "/v1/policy", bad, {{"If-Match", "\"2\""}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("tiers.gateway.cpu_low"), std::string::npos) << r.raw;
  p["cooldown_s"] = 5;
  r = call(*admin, "PUT", "/v1/policy", {{"policy", p}}, {{"If-Match", "2"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["policy"]["cooldown_s"], 5);
  auto h = call(*viewer, "GET", "/v1/policy/history");
  ASSERT_EQ(h.status, 200);
  ASSERT_EQ(h.body["items"].size(), 3u);
  EXPECT_EQ(h.body["items"][0]["changed_by"], "system");
  EXPECT_EQ(h.body["items"][1]["changed_by"], "oscar");
  EXPECT_EQ(h.body["items"][2]["changed_by"], "alice");
  EXPECT_EQ(h.body["items"][1]["policy"]["roam_margin_db"], 4.0);
  h = call(*viewer, "GET", "/v1/policy/history?limit=2");
  ASSERT_FALSE(h.body["continue"].is_null());
  h = call(*viewer, "GET", "/v1/policy/history?limit=2&continue=" + h.body["continue"].get<std::string>());
  ASSERT_EQ(h.body["items"].size(), 1u);
  EXPECT_EQ(h.body["items"][0]["version"], 3);
}

TEST_F(Api, ManualMoveToNodeAndTier) {
  orch.create_test_template("fn");
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:01"}}).status, 201);
  const std::string id = "fn-aa-bb-cc-dd-ee-01";
  // Its device is present (a function of a device never seen is undeployed by the policy).
  auto gw = orch.gateway("gw-1");
  ASSERT_EQ(call(*gw, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "b", {seen(1, "aa:bb:cc:dd:ee:01", -60, unix_ms())})).status, 200);
  wait_for(*viewer, "/v1/functions/" + id, [](const json& b) { return b["node"] == "gw-1" && b["state"] == "running"; });
  auto r = call(*op, "POST", "/v1/functions/" + id + ":move", {{"node", "edge-1"}});
  ASSERT_EQ(r.status, 202) << r.raw;
  EXPECT_EQ(r.body["kind"], "manual");
  EXPECT_EQ(r.body["requested_by"], "oscar");
  auto mid = r.body["id"].get<std::int64_t>();
  auto m = wait_for(*viewer, "/v1/migrations/" + std::to_string(mid), [](const json& b) { return b["state"] == "done"; });
  ASSERT_EQ(m["state"], "done") << m.dump();
  auto f = wait_for(*viewer, "/v1/functions/" + id, [](const json& b) { return b["node"] == "edge-1" && b["state"] == "running"; });
  EXPECT_EQ(f["node"], "edge-1");
  auto procs = function_processes(orch.state_dir());
  ASSERT_EQ(procs[id].size(), 1u) << call(*viewer, "GET", "/v1/migrations").raw << "\n" << orch.log();
  EXPECT_EQ(procs[id][0].second, "edge-1");
  // To a tier, pinned: the backend picks the node; the planner leaves it there.
  r = call(*op, "POST", "/v1/functions/" + id + ":move", {{"tier", "cloud"}, {"pin", true}});
  ASSERT_EQ(r.status, 202) << r.raw;
  f = wait_for(*viewer, "/v1/functions/" + id, [](const json& b) { return b["node"] == "cloud-1" && b["state"] == "running"; });
  EXPECT_EQ(f["node"], "cloud-1");
  EXPECT_TRUE(f["pinned"].get<bool>());
  procs = function_processes(orch.state_dir());
  ASSERT_EQ(procs[id].size(), 1u);
  EXPECT_EQ(procs[id][0].second, "cloud-1");
  // Errors
  EXPECT_EQ(call(*op, "POST", "/v1/functions/none:move", {{"node", "edge-1"}}).status, 404);
  r = call(*op, "POST", "/v1/functions/" + id + ":move", {{"node", "mars-1"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(call(*op, "POST", "/v1/functions/" + id + ":move", {{"node", "edge-1"}, {"tier", "edge"}}).status, 400);
  EXPECT_EQ(call(*viewer, "POST", "/v1/functions/" + id + ":move", {{"node", "edge-1"}}).status, 403);
  EXPECT_EQ(call(*viewer, "GET", "/v1/migrations?function=" + id + "&kind=manual").body["items"].size(), 2u);
  EXPECT_EQ(call(*viewer, "GET", "/v1/migrations/999999").status, 404);
}

TEST_F(Api, ManualMoveBreakingAPlacementRuleIs409) {
  auto r = call(*admin, "POST", "/v1/templates",
                {{"name", "armonly"}, {"command", {"/bin/sleep", "100"}}, {"archs", {"arm64"}}});
  ASSERT_EQ(r.status, 201) << r.raw;
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "armonly"}, {"device", "aa:bb:cc:dd:ee:03"}}).status, 201);
  // Let a control loop pass load the function into the placement engine.
  auto passes = [&] {
    auto m = call(*viewer, "GET", "/metrics").raw;
    const std::string key = "\nc4i_control_passes_total ";
    auto at = m.find(key);
    return at == std::string::npos ? 0.0 : std::stod(m.substr(at + key.size()));
  };
  double before = passes();
  ASSERT_TRUE(wait_until([&] { return passes() >= before + 2; }, std::chrono::seconds(10)));
  r = call(*op, "POST", "/v1/functions/armonly-aa-bb-cc-dd-ee-03:move", {{"node", "edge-1"}});
  EXPECT_EQ(r.status, 409) << r.raw;
  EXPECT_EQ(r.body["error"]["code"], "conflict");
}

TEST_F(Api, MarksNeedTheNodeCertificateOrAnOperator) {
  orch.create_test_template("fn", {{"C4I_TEST_NO_MARK", "1"}});
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:01"}}).status, 201);
  const std::string id = "fn-aa-bb-cc-dd-ee-01";
  auto gw = orch.gateway("gw-2");
  ASSERT_EQ(call(*gw, "POST", "/v1/gateways/gw-2/events", batch("gw-2", "b", {seen(1, "aa:bb:cc:dd:ee:01", -60, unix_ms())})).status, 200);
  auto f = wait_for(*viewer, "/v1/functions/" + id, [](const json& b) { return b["node"] == "gw-2"; });
  ASSERT_EQ(f["node"], "gw-2");
  auto gw1 = orch.gateway("gw-1");
  EXPECT_EQ(call(*gw1, "POST", "/v1/functions/" + id + "/marks", {{"mark", "first_data"}}).status, 403);
  auto gw2 = orch.gateway("gw-2");
  auto r = call(*gw2, "POST", "/v1/functions/" + id + "/marks", {{"mark", "first_data"}, {"t", 1234}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(call(*viewer, "GET", "/v1/functions/" + id).body["first_data_t"], 1234);
  EXPECT_EQ(call(*op, "POST", "/v1/functions/" + id + "/marks", {{"mark", "last_data"}}).status, 400);
  EXPECT_EQ(call(*op, "POST", "/v1/functions/none/marks", {{"mark", "first_data"}}).status, 404);
  EXPECT_EQ(call(*viewer, "POST", "/v1/functions/" + id + "/marks", {{"mark", "first_data"}}).status, 403);
}

TEST_F(Api, UnknownRoutesAre404AndWrongMethods405) {
  auto r = call(*viewer, "GET", "/v1/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["code"], "not_found");
  EXPECT_EQ(call(*viewer, "PATCH", "/v1/nodes").status, 405);
}

TEST_F(Api, WatchStreamsChangesOfTheRequestedKinds) {
  auto r = call(*viewer, "GET", "/v1/watch?kinds=bogus");
  EXPECT_EQ(r.status, 400);
  auto watcher = orch.client(kViewerToken);
  std::string seen_text;
  std::atomic<bool> got{false};
  std::thread t([&] {
    auto st = watcher->stream("/v1/watch?kinds=functions", [&](std::string_view chunk) {
      seen_text += chunk;
      if (seen_text.find("\"id\":\"watched-fn\"") != std::string::npos) {
        got = true;
        return false;
      }
      return true;
    }, std::chrono::seconds(20));
    (void)st;
  });
  ASSERT_TRUE(wait_until([&] { return seen_text.find("watching") != std::string::npos; }, std::chrono::seconds(10)));
  orch.create_test_template("fn");
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:05"}, {"id", "watched-fn"}}).status, 201);
  t.join();
  EXPECT_TRUE(got.load());
  EXPECT_NE(seen_text.find("event: functions"), std::string::npos);
  EXPECT_EQ(seen_text.find("event: templates"), std::string::npos);  // filtered out
}

TEST_F(Api, StateIsDurableAcrossARestart) {
  orch.create_test_template("fn");
  ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", "aa:bb:cc:dd:ee:01"}}).status, 201);
  auto gw = orch.gateway("gw-1");
  ASSERT_EQ(call(*gw, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "b", {seen(1, "aa:bb:cc:dd:ee:01", -60, unix_ms())})).status, 200);
  ASSERT_EQ(orch.stop(), 0);
  ASSERT_TRUE(orch.start()) << orch.log();
  auto v = orch.client(kViewerToken);
  EXPECT_EQ(call(*v, "GET", "/v1/functions/fn-aa-bb-cc-dd-ee-01").status, 200);
  EXPECT_EQ(call(*v, "GET", "/v1/devices/aa:bb:cc:dd:ee:01").body["seen_events"], 1);
  gw = orch.gateway("gw-1");
  EXPECT_EQ(call(*gw, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "b", {seen(1, "aa:bb:cc:dd:ee:01", -60, unix_ms())})).body["duplicates"], 1);
}

TEST(OrchestratorCli, BadConfigIsOneLineNamingFileLineFieldAndExit2) {
  TempDir d;
  write_file(d.file("bad.yaml"), "listen: 127.0.0.1:0\ncontrol:\n  stop_grace_ms: soon\n");
  auto r = run({binary_dir() + "/orchestrator/c4i-orchestrator", "--config", d.file("bad.yaml")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("control.stop_grace_ms"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad.yaml:3"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = run({binary_dir() + "/orchestrator/c4i-orchestrator", "--listen", "127.0.0.1:0", "--bogus"});
  EXPECT_EQ(r.code, 2);
  r = run({binary_dir() + "/orchestrator/c4i-orchestrator", "hash-token", "abc"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n");
}

}  // namespace
}  // namespace c4i::testing
