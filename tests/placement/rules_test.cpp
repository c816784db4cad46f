// One test per rule of issue 4 and per reason code, on small hand-built worlds.
#include "placement/placement.hpp"

#include <algorithm>
#include <map>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/placement/builders.hpp"

namespace c4i::placement {
namespace {

using namespace testing;

// Two gateways, one edge, one cloud; device d1 with function f1 (omh) on gw-1.
World roam_world(double rssi_gw1, double rssi_gw2) {
  World w;
  w.nodes = {gateway("gw-1"), gateway("gw-2"), edge("e-1"), cloud("c-1")};
  w.templates = {near_template()};
  w.devices = {device("d1", {{"gw-1", rssi_gw1}, {"gw-2", rssi_gw2}})};
  w.functions = {function("f1", "omh", "d1", "gw-1")};
  return w;
}

Decision only(const Plan& p) {
  EXPECT_EQ(p.decisions.size(), 1u);
  return p.decisions.empty() ? Decision{} : p.decisions.front();
}

// ---------------------------------------------------------------- hard rules

TEST(PlacementRules, PlacesNearDeviceFunctionOnTheGatewayThatHearsItBest) {
  World w = roam_world(-71, -58);
  w.functions[0].node = "";
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::place);
  EXPECT_EQ(d.from, "");
  EXPECT_EQ(d.to, "gw-2");
  EXPECT_EQ(d.reason, "rssi gw-2 -58 >= threshold -80");
}

TEST(PlacementRules, NeverPlacesOnANodeOfAnotherArchitecture) {
  World w;
  FunctionTemplate t = free_template("engine", 200);
  t.archs = {"arm64"};
  t.tiers = {Tier::gateway};
  w.templates = {t};
  // The amd64 gateway is idle; the arm64 one has no room for 200m under its high watermark.
  w.nodes = {gateway("gw-amd", 4000, 4 * kGi, "amd64"), with_usage(gateway("gw-arm"), 800, 0)};
  w.functions = {function("f1", "engine", "")};
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::stay);
  EXPECT_EQ(d.to, "");
  EXPECT_EQ(d.reason, "no node of arch arm64 with 200m CPU free");
}

TEST(PlacementRules, ReasonNamesMemoryWhenMemoryIsShort) {
  World w;
  FunctionTemplate t = free_template("engine", 100, 512 * kMi);
  t.archs = {"arm64"};
  t.tiers = {Tier::gateway};
  w.templates = {t};
  w.nodes = {with_usage(gateway("gw-1"), 0, 600 * kMi)};
  w.functions = {function("f1", "engine", "")};
  EXPECT_EQ(only(plan_of(w)).reason, "no node of arch arm64 with 512Mi memory free");
}

TEST(PlacementRules, ReasonSaysWhenNoReadyNodeOfTheArchExists) {
  World w;
  FunctionTemplate t = free_template("engine");
  t.archs = {"riscv64"};
  t.tiers = {Tier::edge, Tier::cloud};
  w.templates = {t};
  w.nodes = {edge("e-1")};
  w.functions = {function("f1", "engine", "")};
  EXPECT_EQ(only(plan_of(w)).reason, "no ready node of arch riscv64 in tiers edge,cloud");
}

TEST(PlacementRules, NeverPlacesOnATierTheTemplateMayNotUse) {
  World w;
  FunctionTemplate t = free_template("engine");
  t.tiers = {Tier::edge, Tier::cloud};
  w.templates = {t};
  w.nodes = {gateway("gw-1", 64000, 64 * kGi, "amd64"), edge("e-1")};
  w.functions = {function("f1", "engine", "")};
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::place);
  EXPECT_EQ(d.to, "e-1");
  EXPECT_EQ(d.reason, "edge e-1 has most room (cpu 0.01, mem 0.00)");
}

TEST(PlacementRules, PolicyTemplateTiersOverrideTheTemplate) {
  World w;
  w.templates = {free_template("engine")};
  w.nodes = {gateway("gw-1"), edge("e-1", 8000, 16 * kGi, "arm64")};
  w.functions = {function("f1", "engine", "")};
  Policy p = test_policy();
  p.templates["engine"].tiers = {Tier::edge};
  EXPECT_EQ(only(plan_of(w, kT0, p)).to, "e-1");
}

TEST(PlacementRules, MovesFunctionsOffANodeThatIsNotReady) {
  World w = roam_world(-60, -70);
  w.nodes[0].ready = false;
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::place);
  EXPECT_EQ(d.from, "gw-1");
  EXPECT_EQ(d.to, "gw-2");
  EXPECT_EQ(d.reason, "node gw-1 not ready; rssi gw-2 -70 >= threshold -80");
}

TEST(PlacementRules, ANodeWithAStaleHeartbeatCountsAsNotReady) {
  World w = roam_world(-60, -70);
  w.nodes[0].last_heartbeat_ms = kT0 - 45'000;
  w.nodes[1].last_heartbeat_ms = kT0 - 1'000;
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.to, "gw-2");
  EXPECT_EQ(d.reason, "node gw-1 heartbeat 45s old > 30s; rssi gw-2 -70 >= threshold -80");
}

TEST(PlacementRules, AFunctionOnAnUnknownNodeIsPlacedAgain) {
  World w = roam_world(-60, -70);
  w.functions[0].node = "gw-9";
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.from, "gw-9");
  EXPECT_EQ(d.to, "gw-1");
  EXPECT_EQ(d.reason, "node gw-9 unknown; rssi gw-1 -60 >= threshold -80");
}

TEST(PlacementRules, RequestsAreAccountedAsDecisionsAreMade) {
  World w;
  FunctionTemplate t = free_template("engine", 400, 64 * kMi);
  t.tiers = {Tier::edge};
  w.templates = {t};
  w.nodes = {edge("e-1", 1000, kGi)};
  w.functions = {function("f1", "engine", ""), function("f2", "engine", ""), function("f3", "engine", "")};
  Plan p = plan_of(w);
  ASSERT_EQ(p.decisions.size(), 3u);
  EXPECT_EQ(p.decisions[0].kind, DecisionKind::place);
  EXPECT_EQ(p.decisions[1].kind, DecisionKind::place);
  EXPECT_EQ(p.decisions[2].function, "f3");
  EXPECT_EQ(p.decisions[2].kind, DecisionKind::stay);
  EXPECT_EQ(p.decisions[2].reason, "no node of arch arm64,amd64 with 400m CPU free");
  EXPECT_EQ(p.stats.unplaceable, 1u);
}

TEST(PlacementRules, NeverBeyondCapacityEvenUnderTheWatermark) {
  World w;
  FunctionTemplate t = free_template("engine", 600, 64 * kMi);
  t.tiers = {Tier::edge};
  w.templates = {t};
  // Measured usage is low but the requests already on the node fill it.
  w.nodes = {edge("e-1", 1000, kGi)};
  w.functions = {function("f0", "engine", "", "e-1"), function("f1", "engine", "")};
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::stay);
  EXPECT_EQ(d.function, "f1");
}

TEST(PlacementRules, NodeSelectorLabelsMustMatch) {
  World w;
  FunctionTemplate t = free_template("engine");
  t.tiers = {Tier::edge};
  t.node_selector = {{"zone", "b"}};
  w.templates = {t};
  Node a = edge("e-a"), b = edge("e-b");
  a.labels = {{"zone", "a"}};
  b.labels = {{"zone", "b"}};
  w.nodes = {a, b};
  w.functions = {function("f1", "engine", "")};
  EXPECT_EQ(only(plan_of(w)).to, "e-b");
}

TEST(PlacementRules, APolicyThatNoLongerAllowsATierMovesItsFunctionsOff) {
  World w;
  w.templates = {free_template("engine")};
  w.nodes = {gateway("gw-1"), edge("e-1")};
  w.functions = {function("f1", "engine", "", "gw-1")};
  Planner planner(test_policy());
  ASSERT_TRUE(planner.load(w));
  EXPECT_TRUE(planner.plan(kT0).decisions.empty());
  Policy p = test_policy();
  p.templates["engine"].tiers = {Tier::edge, Tier::cloud};
  ASSERT_TRUE(planner.set_policy(p));
  Plan plan = planner.plan(kT0);
  ASSERT_EQ(plan.decisions.size(), 1u);
  EXPECT_EQ(plan.decisions[0].kind, DecisionKind::place);
  EXPECT_EQ(plan.decisions[0].reason,
            "node gw-1 tier gateway not allowed for template engine; edge e-1 has most room (cpu 0.01, mem 0.00)");
}

TEST(PlacementRules, ANodeThatLostALabelOrArchLosesItsFunctions) {
  World w;
  FunctionTemplate t = free_template("engine");
  t.tiers = {Tier::edge};
  t.node_selector = {{"zone", "a"}};
  w.templates = {t};
  Node a = edge("e-a"), b = edge("e-b");
  b.labels = {{"zone", "a"}};
  w.nodes = {a, b};
  w.functions = {function("f1", "engine", "", "e-a")};
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.to, "e-b");
  EXPECT_EQ(d.reason, "node e-a lacks label zone=a; edge e-b has most room (cpu 0.01, mem 0.00)");
  w.templates[0].node_selector.clear();
  w.templates[0].archs = {"arm64"};
  w.nodes[1].arch = "arm64";
  d = only(plan_of(w));
  EXPECT_EQ(d.reason, "node e-a arch amd64 not in template engine archs; edge e-b has most room (cpu 0.01, mem 0.00)");
}

// ---------------------------------------------------------------- roaming

TEST(PlacementRules, RoamNeedsTheMargin) {
  EXPECT_TRUE(plan_of(roam_world(-71, -66)).decisions.empty());  // -66 > -65 is false
  EXPECT_TRUE(plan_of(roam_world(-71, -65)).decisions.empty());  // equal to the bar: not more
  Decision d = only(plan_of(roam_world(-71, -58)));
  EXPECT_EQ(d.kind, DecisionKind::roam);
  EXPECT_EQ(d.from, "gw-1");
  EXPECT_EQ(d.to, "gw-2");
  EXPECT_EQ(d.reason, "rssi gw-2 -58 > gw-1 -71 + margin 6");
}

TEST(PlacementRules, ADeviceSeenEquallyByTwoGatewaysStays) {
  EXPECT_TRUE(plan_of(roam_world(-60, -60)).decisions.empty());
  Policy p = test_policy();
  p.roam_margin_db = 0;
  EXPECT_TRUE(plan_of(roam_world(-60, -60), kT0, p).decisions.empty());
}

TEST(PlacementRules, HysteresisKeepsTheCurrentGatewayBelowTheThreshold) {
  // gw-1 at -83 is under the threshold (-80) but above threshold - hysteresis (-85).
  EXPECT_TRUE(plan_of(roam_world(-83, -79)).decisions.empty());
  Decision d = only(plan_of(roam_world(-83, -76)));
  EXPECT_EQ(d.reason, "rssi gw-2 -76 > gw-1 -83 + margin 6");
}

TEST(PlacementRules, RoamsWithoutMarginWhenTheCurrentGatewayLostTheDevice) {
  Decision d = only(plan_of(roam_world(-90, -79)));
  EXPECT_EQ(d.kind, DecisionKind::roam);
  EXPECT_EQ(d.reason, "rssi gw-2 -79 >= threshold -80; gw-1 -90 < threshold -80 - hysteresis 5");
}

TEST(PlacementRules, ROAMReasonWhenTheCurrentGatewayNoLongerSeesTheDevice) {
  World w = roam_world(-60, -75);
  w.devices[0].sightings.erase(w.devices[0].sightings.begin());
  EXPECT_EQ(only(plan_of(w)).reason, "rssi gw-2 -75 >= threshold -80; gw-1 does not see the device");
  w = roam_world(-60, -75);
  w.devices[0].sightings[0].last_seen_ms = kT0 - 125'000;
  EXPECT_EQ(only(plan_of(w)).reason, "rssi gw-2 -75 >= threshold -80; gw-1 not seen for 125s");
}

TEST(PlacementRules, AGatewayBelowTheThresholdIsNoCandidate) {
  EXPECT_TRUE(plan_of(roam_world(-90, -81)).decisions.empty());
}

TEST(PlacementRules, RoamIntoAFullGatewayIsHeldWithTheReason) {
  World w = roam_world(-71, -58);
  w.nodes[1] = with_usage(gateway("gw-2"), 900, 0);
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::stay);
  EXPECT_EQ(d.reason, "roam to gw-2 held: gateway gw-2 cpu 1.00 > high 0.85");
}

TEST(PlacementRules, WhenTheDeviceLeftAndItsGatewayIsFullTheFunctionGoesUp) {
  World w = roam_world(-95, -58);
  w.nodes[1] = with_usage(gateway("gw-2"), 900, 0);
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::offload_up);
  EXPECT_EQ(d.to, "e-1");
  EXPECT_EQ(d.reason, "no room near device d1: gateway gw-2 cpu 1.00 > high 0.85; gw-1 lost it");
}

TEST(PlacementRules, AnImprovingRoamWaitsForTheCooldown) {
  World w = roam_world(-71, -58);
  w.functions[0].last_move_ms = kT0 - 10'000;
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::stay);
  EXPECT_EQ(d.reason, "cooldown 60s: moved 10s ago; rssi gw-2 -58 > gw-1 -71 + margin 6");
  // But a gateway that lost the device does not hold it.
  w = roam_world(-95, -58);
  w.functions[0].last_move_ms = kT0 - 10'000;
  EXPECT_EQ(only(plan_of(w)).kind, DecisionKind::roam);
}

TEST(PlacementRules, FunctionsNotTiedToTheirDeviceDoNotRoam) {
  World w = roam_world(-90, -50);
  w.templates = {free_template("omh")};
  EXPECT_TRUE(plan_of(w).decisions.empty());
}

// ---------------------------------------------------------------- offloading

World pressure_world(std::int64_t gw_cpu_used) {
  World w;
  w.nodes = {with_usage(gateway("gw-1"), gw_cpu_used, 0), edge("e-1"), cloud("c-1")};
  w.templates = {near_template("omh", 100), free_template("engine", 100), free_template("engine-big", 300)};
  w.devices = {device("d1", {{"gw-1", -60}})};
  w.functions = {function("f-big", "engine-big", "", "gw-1"), function("f-near", "omh", "d1", "gw-1"),
                 function("f-small", "engine", "", "gw-1")};
  return w;
}

TEST(PlacementRules, OffloadMovesTheCheapestFunctionUpUntilUnderTheHighWatermark) {
  Decision d = only(plan_of(pressure_world(930)));
  EXPECT_EQ(d.kind, DecisionKind::offload_up);
  EXPECT_EQ(d.function, "f-small");
  EXPECT_EQ(d.from, "gw-1");
  EXPECT_EQ(d.to, "e-1");
  EXPECT_EQ(d.reason, "gateway gw-1 cpu 0.93 > high 0.85");
}

TEST(PlacementRules, OffloadKeepsMovingUntilUnderHighAndNearDeviceFunctionsGoLast) {
  Plan p = plan_of(pressure_world(1000));  // 1000 - 100 - 300 = 600 <= 850 after two moves... but one suffices?
  // f-small (100) first: 900 > 850; then f-big (300): 600. Then f-small turns out
  // unneeded (600 + 100 <= 850) and is dropped: one move, the big one.
  ASSERT_EQ(p.decisions.size(), 1u);
  EXPECT_EQ(p.decisions[0].function, "f-big");
  EXPECT_EQ(p.decisions[0].kind, DecisionKind::offload_up);
}

TEST(PlacementRules, OffloadReasonNamesMemory) {
  World w = pressure_world(0);
  w.nodes[0].usage.memory_bytes = 900 * kMi;  // 0.88; one 64Mi function brings it to 0.82
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.reason, "gateway gw-1 mem 0.88 > high 0.85");
}

TEST(PlacementRules, OffloadSkipsFunctionsInCooldownAndPinned) {
  World w = pressure_world(930);
  w.functions[2].last_move_ms = kT0 - 5'000;  // f-small
  w.functions[0].pinned = true;                // f-big
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.function, "f-near");
}

TEST(PlacementRules, OffloadWithNowhereToGoSaysWhy) {
  World w = pressure_world(930);
  w.nodes = {w.nodes[0]};
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::stay);
  EXPECT_EQ(d.reason, "gateway gw-1 cpu 0.93 > high 0.85; no ready node of arch arm64,amd64 in tiers edge,cloud");
}

World offloaded_world(std::int64_t gw_cpu_used, Millis last_move) {
  World w;
  w.nodes = {with_usage(gateway("gw-1"), gw_cpu_used, 100 * kMi), with_usage(edge("e-1"), 100, 64 * kMi)};
  w.templates = {near_template("omh", 100)};
  w.devices = {device("d1", {{"gw-1", -60}})};
  w.functions = {function("f1", "omh", "d1", "e-1")};
  w.functions[0].last_move_ms = last_move;
  return w;
}

TEST(PlacementRules, BringsBackBelowTheLowWatermarkAfterTheCooldown) {
  EXPECT_TRUE(plan_of(offloaded_world(200, kT0 - 30'000)).decisions.empty());
  Decision d = only(plan_of(offloaded_world(200, kT0 - 120'000)));
  EXPECT_EQ(d.kind, DecisionKind::bring_down);
  EXPECT_EQ(d.from, "e-1");
  EXPECT_EQ(d.to, "gw-1");
  EXPECT_EQ(d.reason, "gateway gw-1 cpu 0.20 < low 0.30, mem 0.10 < low 0.30");
}

TEST(PlacementRules, NoBringDownAboveTheLowWatermark) {
  EXPECT_TRUE(plan_of(offloaded_world(400, kT0 - 120'000)).decisions.empty());
}

TEST(PlacementRules, NoBringDownThatWouldCrossTheHighWatermark) {
  World w = offloaded_world(200, kT0 - 120'000);
  w.templates[0].requests.cpu_millis = 700;  // 0.20 + 0.70 > 0.85
  EXPECT_TRUE(plan_of(w).decisions.empty());
}

TEST(PlacementRules, MeasuredUsageAboveRequestsCountsForTheProjection) {
  World w = offloaded_world(200, kT0 - 120'000);
  w.functions[0].usage = Resources{700, 0};
  EXPECT_TRUE(plan_of(w).decisions.empty());
}

TEST(PlacementRules, ConstantLoadNeverOscillates) {
  // Low and high close together: the worst case for bouncing.
  Policy p = test_policy();
  p.gateway = {0.85, 0.60, 0.85, 0.60};
  World w;
  w.nodes = {with_usage(gateway("gw-1"), 900, 0), edge("e-1")};
  w.templates = {free_template("a", 400), free_template("b", 500)};
  w.functions = {function("fa", "a", "", "gw-1"), function("fb", "b", "", "gw-1")};
  std::map<std::string, int> moves;
  Millis now = kT0;
  for (int round = 0; round < 30; ++round, now += 61'000) {
    Planner planner(p);
    auto plan = planner.plan(w, now);
    ASSERT_TRUE(plan);
    for (const auto& d : actions(plan->decisions)) moves[d.function]++;
    apply_decisions(w, plan->decisions, now);
  }
  EXPECT_EQ(moves["fa"], 1);  // up once (900 -> 500 < low 600), never back: 500 + 400 > 850
  EXPECT_EQ(moves["fb"], 0);
}

// ---------------------------------------------------------------- limits

World three_roams() {
  World w;
  w.nodes = {gateway("gw-1"), gateway("gw-2")};
  w.templates = {near_template()};
  for (std::string i : {"1", "2", "3"}) {
    w.devices.push_back(device("d" + i, {{"gw-1", -71}, {"gw-2", -58}}));
    w.functions.push_back(function("f" + i, "omh", "d" + i, "gw-1"));
  }
  return w;
}

TEST(PlacementRules, MaxMovesPerMinuteHoldsTheRest) {
  Policy p = test_policy();
  p.max_moves_per_minute = 2;
  World w = three_roams();
  w.recent_moves_ms = {kT0 - 61'000, kT0 - 30'000};  // one counts
  Plan plan = plan_of(w, kT0, p);
  ASSERT_EQ(plan.decisions.size(), 3u);
  EXPECT_EQ(plan.decisions[0].kind, DecisionKind::roam);
  EXPECT_EQ(plan.decisions[0].function, "f1");
  EXPECT_EQ(plan.decisions[1].kind, DecisionKind::stay);
  EXPECT_EQ(plan.decisions[1].reason, "max moves per minute 2 reached; rssi gw-2 -58 > gw-1 -71 + margin 6");
  EXPECT_EQ(plan.decisions[2].kind, DecisionKind::stay);
  EXPECT_EQ(plan.stats.held_by_budget, 2u);
}

TEST(PlacementRules, ZeroMaxMovesPerMinuteMeansNoLimit) {
  EXPECT_EQ(actions(plan_of(three_roams()).decisions).size(), 3u);
}

TEST(PlacementRules, PinnedFunctionsNeverMove) {
  Policy p = test_policy();
  p.pinned = {"f1"};
  Decision d = only(plan_of(roam_world(-71, -58), kT0, p));
  EXPECT_EQ(d.kind, DecisionKind::stay);
  EXPECT_EQ(d.reason, "pinned; rssi gw-2 -58 > gw-1 -71 + margin 6");
  World w = roam_world(-71, -58);
  w.functions[0].pinned = true;
  w.nodes[0].ready = false;
  EXPECT_EQ(only(plan_of(w)).reason, "pinned; node gw-1 not ready");
}

TEST(PlacementRules, AnUnplacedPinnedFunctionIsPlaced) {
  World w = roam_world(-71, -58);
  w.functions[0].node = "";
  w.functions[0].pinned = true;
  EXPECT_EQ(only(plan_of(w)).kind, DecisionKind::place);
}

// ---------------------------------------------------------------- lost devices

TEST(PlacementRules, ALostDeviceUndeploysItsFunction) {
  World w = roam_world(-60, -70);
  for (auto& s : w.devices[0].sightings) s.last_seen_ms = kT0 - 130'000;
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::undeploy);
  EXPECT_EQ(d.from, "gw-1");
  EXPECT_EQ(d.to, "");
  EXPECT_EQ(d.reason, "device d1 lost: not seen for 130s >= lost_after 120s");
  // Undeployed, it is not placed again while the device stays lost.
  apply_decisions(w, {d}, kT0);
  EXPECT_TRUE(plan_of(w).decisions.empty());
}

TEST(PlacementRules, ADeviceNeverSeenCountsAsLost) {
  World w = roam_world(-60, -70);
  w.devices.clear();
  EXPECT_EQ(only(plan_of(w)).reason, "device d1 lost: never seen by a gateway");
}

TEST(PlacementRules, ALostDeviceKeepsItsFunctionWhenPolicySaysKeep) {
  World w = roam_world(-60, -70);
  for (auto& s : w.devices[0].sightings) s.last_seen_ms = kT0 - 130'000;
  Policy p = test_policy();
  p.on_lost = OnLost::keep;
  EXPECT_TRUE(plan_of(w, kT0, p).decisions.empty());
}

TEST(PlacementRules, ADeviceSeenJustInsideLostAfterIsNotLost) {
  World w = roam_world(-60, -70);
  for (auto& s : w.devices[0].sightings) s.last_seen_ms = kT0 - 119'999;
  EXPECT_TRUE(plan_of(w).decisions.empty());
}

TEST(PlacementRules, ANearDeviceFunctionIsNotPlacedWhileNoGatewayHearsIt) {
  World w = roam_world(-90, -95);
  w.functions[0].node = "";
  Decision d = only(plan_of(w));
  EXPECT_EQ(d.kind, DecisionKind::stay);
  EXPECT_EQ(d.reason, "device d1 not seen by any gateway at >= -80 dBm");
}

// ---------------------------------------------------------------- determinism and fixed point

TEST(PlacementRules, InputOrderDoesNotChangeTheDecisions) {
  World w = three_roams();
  w.nodes.push_back(edge("e-1"));
  w.functions.push_back(function("g1", "omh", "d1", ""));
  Plan a = plan_of(w);
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(w.nodes.begin(), w.nodes.end(), rng);
    std::shuffle(w.devices.begin(), w.devices.end(), rng);
    std::shuffle(w.functions.begin(), w.functions.end(), rng);
    EXPECT_EQ(plan_of(w).decisions, a.decisions);
  }
}

TEST(PlacementRules, ApplyingAPlanLeavesNothingToDo) {
  World w = pressure_world(1000);
  w.nodes.push_back(gateway("gw-2"));
  w.devices.push_back(device("d2", {{"gw-1", -90}, {"gw-2", -50}}));
  w.functions.push_back(function("f-roam", "omh", "d2", "gw-1"));
  w.functions.push_back(function("f-new", "engine", "", ""));
  Plan p = plan_of(w);
  EXPECT_FALSE(actions(p.decisions).empty());
  EXPECT_EQ(apply_decisions(w, p.decisions, kT0), 0u);
  EXPECT_TRUE(actions(plan_of(w).decisions).empty());
}

TEST(PlacementRules, HeldFunctionsAreRetriedOnceRoomIsFreed) {
  // f-a (id first) wants the edge but it is full until f-z, offloaded from the
  // gateway... no: until f-z leaves the edge for its preferred gateway.
  World w;
  FunctionTemplate edge_only = free_template("batch", 500);
  edge_only.tiers = {Tier::edge};
  w.templates = {edge_only, free_template("engine", 500)};
  w.nodes = {gateway("gw-1", 4000, 4 * kGi), with_usage(edge("e-1", 1000, 4 * kGi), 500, 0)};
  w.functions = {function("f-a", "batch", ""), function("f-z", "engine", "", "e-1")};
  Plan p = plan_of(w);
  auto acts = actions(p.decisions);
  ASSERT_EQ(acts.size(), 2u) << to_json(p.decisions).dump();
  EXPECT_EQ(acts[0].function, "f-z");
  EXPECT_EQ(acts[0].kind, DecisionKind::bring_down);
  EXPECT_EQ(acts[1].function, "f-a");
  EXPECT_EQ(acts[1].kind, DecisionKind::place);
  EXPECT_EQ(p.decisions.size(), 2u);  // no stale stay left for f-a
}

}  // namespace
}  // namespace c4i::placement
