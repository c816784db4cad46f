// The JSON forms: round trips, and errors that name the path.
#include "placement/placement.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/placement/builders.hpp"

namespace c4i::placement {
namespace {

using namespace testing;
using nlohmann::json;

World sample_world() {
  World w;
  Node g = gateway("gw-1");
  g.labels = {{"zone", "a"}};
  g.last_heartbeat_ms = kT0 - 1000;
  g.usage = {250, 100 * kMi};
  Node e = edge("e-1");
  e.ready = false;
  w.nodes = {g, e};
  FunctionTemplate t = near_template();
  t.node_selector = {{"zone", "a"}};
  t.move_cost = 3;
  w.templates = {t, free_template()};
  w.devices = {device("c8:2b:96:0a:11:7f", {{"gw-1", -61.5}})};
  Function f = function("omh-1", "omh", "c8:2b:96:0a:11:7f", "gw-1");
  f.last_move_ms = kT0 - 5000;
  f.usage = Resources{50, 30 * kMi};
  f.pinned = true;
  w.functions = {f, function("engine-1", "engine", "")};
  w.recent_moves_ms = {kT0 - 5000};
  return w;
}

TEST(PlacementJson, WorldRoundTrips) {
  World w = sample_world();
  auto back = world_from_json_text(to_json(w).dump());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, w);
}

TEST(PlacementJson, PolicyRoundTrips) {
  Policy p = test_policy();
  p.templates["omh"].tiers = {Tier::gateway, Tier::cloud};
  p.pinned = {"omh-1"};
  p.on_lost = OnLost::keep;
  auto back = policy_from_json_text(to_json(p).dump());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, p);
}

TEST(PlacementJson, DecisionRoundTrips) {
  Decision d{"f1", "gw-1", "gw-2", DecisionKind::roam, "rssi gw-2 -58 > gw-1 -71 + margin 6"};
  auto back = decision_from_json(to_json(d));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, d);
  EXPECT_EQ(to_json(d).dump(),
            R"({"from":"gw-1","function":"f1","kind":"roam","reason":"rssi gw-2 -58 > gw-1 -71 + margin 6","to":"gw-2"})");
}

TEST(PlacementJson, TheDocumentedExampleDecodes) {
  auto w = world_from_json_text(R"({"nodes": [{"name": "gw-1", "tier": "gateway", "arch": "arm64", "labels": {},
               "capacity": {"cpu_millis": 4000, "memory_bytes": 4294967296},
               "usage": {"cpu_millis": 900, "memory_bytes": 1073741824},
               "ready": true, "last_heartbeat_ms": 1763900000000}],
    "devices": [{"id": "c8:2b:96:0a:11:7f",
                 "sightings": [{"gateway": "gw-1", "rssi_dbm": -61.5, "last_seen_ms": 1763900000000}]}],
    "templates": [{"name": "omh", "requests": {"cpu_millis": 200, "memory_bytes": 67108864},
                   "archs": ["arm64", "amd64"], "tiers": ["gateway", "edge", "cloud"],
                   "near_device": true, "node_selector": {}, "move_cost": 1}],
    "functions": [{"id": "omh-c82b960a117f", "template": "omh", "device": "c8:2b:96:0a:11:7f",
                   "node": "gw-1", "pinned": false, "last_move_ms": 1763899000000,
                   "usage": {"cpu_millis": 150, "memory_bytes": 50000000}}],
    "recent_moves_ms": [1763899990000]})");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(w->nodes[0].capacity.memory_bytes, 4294967296);
  EXPECT_EQ(w->devices[0].sightings[0].rssi_dbm, -61.5);
  auto p = policy_from_json_text(R"({"tiers": {"gateway": {"cpu_high": 0.85, "cpu_low": 0.3}},
    "cooldown_s": 60, "max_moves_per_minute": 30, "templates": {"omh": {"tiers": ["gateway", "edge", "cloud"]}},
    "pinned": ["omh-c82b960a117f"], "lost_after_s": 120, "on_lost": "undeploy",
    "rssi_threshold_dbm": -80, "hysteresis_db": 5, "roam_margin_db": 6, "node_stale_after_s": 30})");
  ASSERT_TRUE(p) << p.error().message;
}

std::string world_error(const std::string& text) {
  auto w = world_from_json_text(text);
  return w ? std::string() : w.error().code + " " + w.error().message;
}

TEST(PlacementJson, WorldErrorsNameThePath) {
  EXPECT_EQ(world_error("["), "invalid_world (document): not valid JSON");
  EXPECT_EQ(world_error("[]"), "invalid_world (document): must be an object");
  EXPECT_EQ(world_error(R"({"nodes": [{"name": "a", "tier": "gateway", "arch": "arm64", "capacity": {"cpu_millis": -1}}]})"),
            "invalid_world nodes[0].capacity.cpu_millis: must be between 0 and 9007199254740992, got -1");
  EXPECT_EQ(world_error(R"({"nodes": [{"name": "a", "tier": "fog", "arch": "arm64", "capacity": {}}]})"),
            "invalid_world nodes[0].tier: must be one of gateway, edge, cloud, got fog");
  EXPECT_EQ(world_error(R"({"nodes": [{"name": "a", "tier": "edge", "arch": "arm64"}]})"),
            "invalid_world nodes[0].capacity: is required");
  EXPECT_EQ(world_error(R"({"nodez": []})"),
            "invalid_world nodez: unknown field (expected one of: nodes, devices, templates, functions, recent_moves_ms)");
  EXPECT_EQ(world_error(R"({"functions": [{"id": "f", "template": "nope"}]})"),
            "invalid_world functions[0].template: unknown template \"nope\"");
  EXPECT_EQ(world_error(R"({"devices": [{"id": "d", "sightings": [{"gateway": "g", "rssi_dbm": "loud", "last_seen_ms": 1}]}]})"),
            "invalid_world devices[0].sightings[0].rssi_dbm: must be a number");
  EXPECT_EQ(world_error(R"({"devices": [{"id": "d"}, {"id": "d"}]})"), "invalid_world devices[1].id: duplicate device \"d\"");
  EXPECT_EQ(world_error(R"({"recent_moves_ms": [1.5]})"), "invalid_world recent_moves_ms[0]: must be an integer");
  EXPECT_EQ(world_error(R"({"templates": [{"name": "t", "requests": {}, "archs": [], "tiers": ["edge"]}]})"),
            "invalid_world templates[0].archs: must name at least one architecture");
}

TEST(PlacementJson, PolicyErrorsNameThePath) {
  auto err = [](const std::string& text) {
    auto p = policy_from_json_text(text);
    return p ? std::string() : p.error().message;
  };
  EXPECT_EQ(err(R"({"tiers": {"gateway": {"cpu_low": 0.9}}})"),
            "tiers.gateway.cpu_low: must not be above cpu_high (0.9 > 0.85)");
  EXPECT_EQ(err(R"({"tiers": {"fog": {}}})"), "tiers.fog: unknown field (expected one of: gateway, edge, cloud)");
  EXPECT_EQ(err(R"({"cooldown_s": "60"})"), "cooldown_s: must be an integer");
  EXPECT_EQ(err(R"({"on_lost": "forget"})"), "on_lost: must be one of undeploy, keep, got forget");
  EXPECT_EQ(err(R"({"templates": {"omh": {"tiers": ["edge", "sky"]}}})"),
            "templates.omh.tiers[1]: must be one of gateway, edge, cloud, got sky");
  EXPECT_EQ(err(R"({"pinned": [1]})"), "pinned[0]: must be a string");
  EXPECT_EQ(err(R"({"cooldown_s": 18446744073709551615})"),
            "cooldown_s: must be between -9223372036854775808 and 9223372036854775807");
}

TEST(PlacementJson, PlanStatsEncode) {
  PlanStats s;
  s.unplaceable = 2;
  EXPECT_EQ(to_json(s)["unplaceable"], 2);
}

}  // namespace
}  // namespace c4i::placement
