// The stateful Planner: device events, apply, node and function updates, manual moves.
#include "placement/placement.hpp"

#include <algorithm>
#include <limits>

#include <gtest/gtest.h>

#include "tests/placement/builders.hpp"

namespace c4i::placement {
namespace {

using namespace testing;

World two_gateways() {
  World w;
  w.nodes = {gateway("gw-1"), gateway("gw-2"), edge("e-1")};
  w.templates = {near_template()};
  w.devices = {device("d1", {{"gw-1", -71}})};
  w.functions = {function("f1", "omh", "d1", "gw-1")};
  return w;
}

DeviceEvent seen(std::string gw, double rssi, Millis at = kT0) {
  return DeviceEvent{DeviceEvent::Kind::seen, "d1", std::move(gw), rssi, at};
}

TEST(PlacementIncremental, ADeviceEventDecidesLikeAFullPlan) {
  Planner p(test_policy());
  ASSERT_TRUE(p.load(two_gateways()));
  auto ds = p.on_device_event(seen("gw-2", -58), kT0);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0], (Decision{"f1", "gw-1", "gw-2", DecisionKind::roam, "rssi gw-2 -58 > gw-1 -71 + margin 6"}));
  // The event is recorded; the decision is not applied until apply().
  EXPECT_EQ(p.plan(kT0).decisions, ds);
  EXPECT_EQ(p.snapshot().functions[0].node, "gw-1");
}

TEST(PlacementIncremental, AnRssiOscillatingInsideTheBandNeverMoves) {
  Planner p(test_policy());
  ASSERT_TRUE(p.load(two_gateways()));
  Millis t = kT0;
  // gw-1 stays at -71: gw-2 wanders from -80 up to the bar (-71 + 6 = -65), never above it.
  for (int i = 0; i < 100; ++i, t += 1000) {
    auto a = p.on_device_event(seen("gw-2", -80.0 + (i % 31) * 0.5, t), t);
    ASSERT_TRUE(a.empty()) << i << " " << a[0].reason;
    ASSERT_TRUE(p.on_device_event(seen("gw-1", -71, t), t).empty());
  }
  // gw-2 stays at -79: gw-1 wanders below the threshold (-80) down to -84,
  // above threshold - hysteresis (-85), and -79 never beats it by the margin.
  for (int i = 0; i < 100; ++i, t += 1000) {
    ASSERT_TRUE(p.on_device_event(seen("gw-2", -79, t), t).empty());
    auto b = p.on_device_event(seen("gw-1", -71.0 - (i % 27) * 0.5, t), t);
    ASSERT_TRUE(b.empty()) << i << " " << b[0].reason;
  }
  EXPECT_TRUE(actions(p.plan(t).decisions).empty());
  // Out of the band, it moves.
  auto out = p.on_device_event(seen("gw-1", -86, t), t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reason, "rssi gw-2 -79 >= threshold -80; gw-1 -86 < threshold -80 - hysteresis 5");
}

TEST(PlacementIncremental, ApplyMovesTheFunctionAndCountsTheMove) {
  Planner p(test_policy());
  ASSERT_TRUE(p.load(two_gateways()));
  auto ds = p.on_device_event(seen("gw-2", -58), kT0);
  ASSERT_EQ(ds.size(), 1u);
  ASSERT_TRUE(p.apply(ds[0], kT0));
  World w = p.snapshot();
  EXPECT_EQ(w.functions[0].node, "gw-2");
  EXPECT_EQ(w.functions[0].last_move_ms, kT0);
  EXPECT_EQ(w.recent_moves_ms, std::vector<Millis>{kT0});
  ASSERT_EQ(w.nodes[2].name, "gw-2");  // a snapshot lists everything by name
  EXPECT_EQ(w.nodes[2].usage.cpu_millis, 100);  // the load arrived on gw-2
  EXPECT_TRUE(p.on_device_event(seen("gw-2", -57), kT0).empty());
  // A stale decision is refused.
  auto again = p.apply(ds[0], kT0);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "conflict");
}

TEST(PlacementIncremental, AGatewayGivingTheDeviceUpRoamsItAtOnce) {
  Planner p(test_policy());
  World w = two_gateways();
  w.devices[0] = device("d1", {{"gw-1", -60}, {"gw-2", -70}});
  ASSERT_TRUE(p.load(w));
  auto ds = p.on_device_event(DeviceEvent{DeviceEvent::Kind::lost, "d1", "gw-1", 0, kT0}, kT0);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].kind, DecisionKind::roam);
  EXPECT_EQ(ds[0].reason, "rssi gw-2 -70 >= threshold -80; gw-1 gave the device up");
}

TEST(PlacementIncremental, AnEventForANewDeviceOrGatewayIsKept) {
  Planner p(test_policy());
  ASSERT_TRUE(p.load(two_gateways()));
  EXPECT_TRUE(p.on_device_event(DeviceEvent{DeviceEvent::Kind::seen, "d9", "gw-1", -50, kT0}, kT0).empty());
  EXPECT_TRUE(p.on_device_event(seen("gw-77", -40), kT0).empty());
  World w = p.snapshot();
  ASSERT_EQ(w.devices.size(), 2u);
  EXPECT_EQ(w.devices[1].id, "d9");
  EXPECT_EQ(p.plan(kT0).stats.sightings_ignored, 1u);
}

TEST(PlacementIncremental, AnEventTheWorldCannotHoldIsDroppedAndCounted) {
  Planner p(test_policy());
  ASSERT_TRUE(p.load(two_gateways()));
  EXPECT_TRUE(p.on_device_event(seen("", -50), kT0).empty());
  EXPECT_TRUE(p.on_device_event(DeviceEvent{DeviceEvent::Kind::seen, "", "gw-1", -50, kT0}, kT0).empty());
  EXPECT_TRUE(p.on_device_event(seen("gw-2", std::numeric_limits<double>::quiet_NaN()), kT0).empty());
  EXPECT_EQ(p.plan(kT0).stats.sightings_ignored, 3u);
  EXPECT_EQ(p.snapshot().devices[0].sightings.size(), 1u);
  // The world still rebuilds (a new node reloads it from a snapshot).
  EXPECT_TRUE(p.update_node(gateway("gw-3")));
}

TEST(PlacementIncremental, AnEventPlacesTheFunctionOfANewlySeenDevice) {
  Planner p(test_policy());
  World w = two_gateways();
  w.devices.clear();
  w.functions[0].node = "";
  ASSERT_TRUE(p.load(w));
  auto ds = p.on_device_event(seen("gw-2", -60), kT0);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].kind, DecisionKind::place);
  EXPECT_EQ(ds[0].to, "gw-2");
}

TEST(PlacementIncremental, EventsLeaveTheAccountingAsItWas) {
  Planner p(test_policy());
  World w = two_gateways();
  w.functions.push_back(function("f2", "omh", "d1", ""));
  ASSERT_TRUE(p.load(w));
  World before = p.snapshot();
  auto ds = p.on_device_event(seen("gw-2", -50), kT0);
  EXPECT_EQ(ds.size(), 2u);
  World after = p.snapshot();
  EXPECT_EQ(after.nodes, before.nodes);
  EXPECT_EQ(after.functions, before.functions);
}

TEST(PlacementIncremental, UpdateNodeTakesReadinessAndUsage) {
  Planner p(test_policy());
  World w = two_gateways();
  w.devices[0] = device("d1", {{"gw-1", -60}, {"gw-2", -70}});
  ASSERT_TRUE(p.load(w));
  EXPECT_TRUE(p.plan(kT0).decisions.empty());
  Node down = gateway("gw-1");
  down.ready = false;
  ASSERT_TRUE(p.update_node(down));
  auto plan = p.plan(kT0);
  ASSERT_EQ(plan.decisions.size(), 1u);
  EXPECT_EQ(plan.decisions[0].reason, "node gw-1 not ready; rssi gw-2 -70 >= threshold -80");
  EXPECT_EQ(plan.stats.nodes_unavailable, 1u);
  // A new node (a rebuild) keeps the rest of the state.
  ASSERT_TRUE(p.update_node(gateway("gw-3")));
  EXPECT_EQ(p.snapshot().nodes.size(), 4u);
  EXPECT_EQ(p.snapshot().devices[0].sightings.size(), 2u);
}

TEST(PlacementIncremental, UpsertAndRemoveFunctions) {
  Planner p(test_policy());
  ASSERT_TRUE(p.load(two_gateways()));
  ASSERT_TRUE(p.upsert_function(function("a0", "omh", "d1", "")));
  auto plan = p.plan(kT0);
  ASSERT_EQ(plan.decisions.size(), 1u);
  EXPECT_EQ(plan.decisions[0].function, "a0");
  EXPECT_EQ(plan.decisions[0].to, "gw-1");
  ASSERT_TRUE(p.remove_function("f1"));
  ASSERT_EQ(p.snapshot().functions.size(), 1u);
  EXPECT_FALSE(p.remove_function("f1"));
  EXPECT_EQ(p.upsert_function(function("x", "nope", "", "")).error().code, "not_found");
  // The device's index follows the renumbering.
  auto ds = p.on_device_event(seen("gw-2", -40), kT0);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].function, "a0");
}

TEST(PlacementIncremental, CheckMoveAppliesTheHardRules) {
  Planner p(test_policy());
  World w = two_gateways();
  w.nodes.push_back(gateway("gw-x86", 1000, kGi, "riscv64"));
  ASSERT_TRUE(p.load(w));
  auto ok = p.check_move("f1", "e-1", kT0);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, (Decision{"f1", "gw-1", "e-1", DecisionKind::offload_up, "manual move by operator"}));
  EXPECT_EQ(p.check_move("f1", "gw-2", kT0)->kind, DecisionKind::roam);
  auto bad = p.check_move("f1", "gw-x86", kT0);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "conflict");
  EXPECT_EQ(bad.error().message, "gateway gw-x86 arch riscv64 not in template omh archs");
  EXPECT_EQ(p.check_move("f1", "nowhere", kT0).error().code, "not_found");
  EXPECT_EQ(p.check_move("nobody", "gw-2", kT0).error().code, "not_found");
}

TEST(PlacementIncremental, LoadRefusesAnInvalidWorldAndKeepsTheOldOne) {
  Planner p(test_policy());
  ASSERT_TRUE(p.load(two_gateways()));
  World bad = two_gateways();
  bad.nodes.push_back(gateway("gw-1"));
  auto s = p.load(bad);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "nodes[3].name: duplicate node \"gw-1\"");
  EXPECT_EQ(p.snapshot().nodes.size(), 3u);
  EXPECT_GT(p.memory_bytes(), 0u);
}

TEST(PlacementIncremental, ASnapshotReloadsToTheSameWorld) {
  Planner p(test_policy());
  World w = two_gateways();
  ASSERT_TRUE(p.load(w));
  std::rotate(w.nodes.begin(), w.nodes.begin() + 2, w.nodes.end());  // by name: e-1, gw-1, gw-2
  EXPECT_EQ(p.snapshot(), w);
}

}  // namespace
}  // namespace c4i::placement
