// Placement engine: decides where every IoT function should run, and says why.
//
// A pure library: no I/O, no clock, no threads. Time is always an argument
// (`now_ms`, milliseconds since the Unix epoch), so the same inputs give the
// same decisions. The orchestrator (and its backends) only apply what this
// library decides; see DESIGN.md "Roaming", "Offloading", "Offload policy".
//
// Typical use by the orchestrator:
//
//   auto policy = placement::policy_from_yaml(node);         // or policy_from_json
//   placement::Planner planner(*policy);
//   planner.load(world);                                      // once, or after big changes
//   auto plan = planner.plan(now_ms);                         // control-loop tick
//   for (auto& d : plan.decisions) {
//     if (d.kind == placement::DecisionKind::stay) continue;  // held back: show d.reason
//     backend.apply(d);  planner.apply(d, now_ms);            // keep the planner in sync
//   }
//   // one gateway event, between ticks (the fast path, a few microseconds):
//   for (auto& d : planner.on_device_event(event, now_ms)) ...
//
// A Planner is not thread-safe: one owner (a strand) calls it.
//
// The rules the decisions keep (each is a unit test and a property test in
// tests/placement/):
//  * Never on a node whose arch the template lacks, on a tier the template may
//    not use, on a node without the template's node_selector labels, on a
//    node that is not ready (or whose heartbeat is older than
//    policy.node_stale_after_s), or beyond a node's capacity: requests are
//    accounted as decisions are made within one plan.
//  * Roaming: a gateway becomes a candidate when its smoothed RSSI reaches
//    rssi_threshold_dbm; the current gateway keeps the device until its RSSI
//    falls below threshold - hysteresis_db; a roam needs the candidate to beat
//    the current gateway by more than roam_margin_db (strictly). Equal RSSI on
//    two gateways never moves a function.
//  * Offloading: a node above a high watermark (cpu or memory) moves its
//    cheapest movable functions to a higher tier until its projected usage is
//    at or under the high watermark (a greedy pass, then any move that turns
//    out not to be needed is dropped). A function comes back toward its
//    preferred tier when a node there is below both low watermarks, the
//    function's cooldown has passed, and the node stays at or under its high
//    watermarks with the function added. A target never ends above its high
//    watermark, so the same constant load never bounces a function.
//  * Moves (roam, offload_up, bring_down) are limited to
//    policy.max_moves_per_minute over a sliding 60 s window
//    (World::recent_moves_ms). A function moved less than cooldown_s ago is
//    not moved again, except a roam away from a gateway that has lost the
//    device (below threshold - hysteresis, or not seen) and the re-placement
//    of a function whose node is gone. Pinned functions (Function::pinned or
//    Policy::pinned) are never moved or undeployed; if unplaced they are
//    placed once.
//  * A near-device function goes to the gateway that hears its device best
//    (at or above the threshold) with room; if none has room, up its tiers;
//    while no gateway hears the device it is not placed at all.
//  * A device not seen by any gateway for lost_after_s: its deployed function
//    is undeployed (on_lost = undeploy) or kept where it is (on_lost = keep);
//    an undeployed function of a lost device is not placed again.
//  * Deterministic (input order does not matter: everything is ordered by
//    name), and a fixed point: applying every decision of a plan
//    (Planner::apply / apply_decisions) and planning again at the same time
//    gives no decision other than `stay`. (Within one plan, functions held
//    back for lack of room are retried after other decisions freed room.)
//
// Reasons are stable strings with numbers, e.g.
//   rssi gw-2 -58 > gw-1 -71 + margin 6
//   gateway gw-1 cpu 0.93 > high 0.85
//   no node of arch arm64 with 200m CPU free
// (the full list is in placement/reasons.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.hpp"

namespace c4i::config {
class Node;
}

namespace c4i::placement {

// Milliseconds since the Unix epoch. Every time in this library is one.
using Millis = std::int64_t;

// ---------------------------------------------------------------------------
// Tiers and kinds
// ---------------------------------------------------------------------------

// Ordered from the data upward: gateway (rank 0) < edge (1) < cloud (2).
// "Up" (offload) means a higher rank; "down" (bring back) a lower one.
enum class Tier : std::uint8_t { gateway = 0, edge = 1, cloud = 2 };
inline constexpr std::size_t kTierCount = 3;

std::string_view to_string(Tier t);                       // "gateway" | "edge" | "cloud"
std::optional<Tier> tier_from_string(std::string_view s);

enum class DecisionKind : std::uint8_t {
  place,       // an unplaced function gets a node, or one on a dead/unfit node is re-placed
  roam,        // follows its device to another gateway (horizontal)
  offload_up,  // moves to a higher tier (vertical, pressure or no room near the device)
  bring_down,  // moves back toward its preferred tier (vertical)
  undeploy,    // its device is lost and the policy says undeploy
  stay,        // a move was wanted but is held back; `reason` says why
};

std::string_view to_string(DecisionKind k);  // "place", "roam", "offload_up", ...
std::optional<DecisionKind> decision_kind_from_string(std::string_view s);
// roam, offload_up and bring_down: the kinds counted by max_moves_per_minute.
bool is_counted_move(DecisionKind k);

enum class OnLost : std::uint8_t { undeploy, keep };
std::string_view to_string(OnLost o);  // "undeploy" | "keep"

// ---------------------------------------------------------------------------
// World: what the orchestrator knows (inputs)
// ---------------------------------------------------------------------------

// Kubernetes-style quantities: CPU in millicores ("200m"), memory in bytes.
struct Resources {
  std::int64_t cpu_millis = 0;
  std::int64_t memory_bytes = 0;
  friend bool operator==(const Resources&, const Resources&) = default;
};

struct Node {
  std::string name;  // unique; for a gateway, the name its discovery daemon reports
  Tier tier = Tier::gateway;
  std::string arch;  // as kubernetes.io/arch: "arm64", "amd64", "arm"
  std::map<std::string, std::string> labels;
  Resources capacity;  // allocatable; a node with 0 CPU or 0 memory takes nothing
  Resources usage;     // measured (metrics.k8s.io or heartbeats); the watermarks use it
  bool ready = true;
  // Last heartbeat; absent when the node is not heartbeat-monitored (its
  // readiness comes from elsewhere, e.g. the Kubernetes Ready condition).
  std::optional<Millis> last_heartbeat_ms;
  friend bool operator==(const Node&, const Node&) = default;
};

// One gateway's view of one device (a device.seen event, smoothed by the
// discovery daemon).
struct DeviceSighting {
  std::string gateway;  // node name; sightings from unknown or non-gateway nodes are ignored (counted)
  double rssi_dbm = -127;
  Millis last_seen_ms = 0;
  friend bool operator==(const DeviceSighting&, const DeviceSighting&) = default;
};

struct Device {
  std::string id;  // e.g. the BLE address "c8:2b:96:0a:11:7f"
  std::vector<DeviceSighting> sightings;  // at most one per gateway
  friend bool operator==(const Device&, const Device&) = default;
};

struct FunctionTemplate {
  std::string name;
  Resources requests;               // per instance
  std::vector<std::string> archs;   // architectures it has images for (non-empty)
  // Allowed tiers, most preferred first, going up (e.g. [gateway, edge, cloud]
  // or [edge, cloud]); Policy::templates may override.
  std::vector<Tier> tiers;
  bool near_device = false;         // wants its device's gateway (follows roaming)
  std::map<std::string, std::string> node_selector;  // labels a node must carry
  // Offloading moves the cheapest functions first: ordered by (near_device
  // false first, move_cost, CPU load, memory load, id), where a function's
  // load is max(requests, its measured usage).
  std::int32_t move_cost = 1;
  friend bool operator==(const FunctionTemplate&, const FunctionTemplate&) = default;
};

struct Function {
  std::string id;         // unique, e.g. "omh-c82b960a117f"
  std::string template_name;
  // Device id; empty: a function with no device (never lost, never roams).
  // A device no gateway has ever reported counts as lost.
  std::string device;
  std::string node;       // current node; empty: not deployed. An unknown name counts as a dead node.
  bool pinned = false;
  std::optional<Millis> last_move_ms;  // for the cooldown
  // Measured usage of this instance; when known, the engine projects with
  // max(requests, usage) so a function using more than it asked for does not
  // bounce between tiers.
  std::optional<Resources> usage;
  friend bool operator==(const Function&, const Function&) = default;
};

struct World {
  std::vector<Node> nodes;
  std::vector<Device> devices;
  std::vector<FunctionTemplate> templates;
  std::vector<Function> functions;
  // When the counted moves (roam/offload_up/bring_down) of the last minute
  // were applied; older entries are ignored. Planner::apply appends.
  std::vector<Millis> recent_moves_ms;
  friend bool operator==(const World&, const World&) = default;
};

// Checks the world's own consistency: names unique (nodes, devices, templates,
// functions), every function's template known, templates valid (archs
// non-empty, tiers non-empty and distinct, requests >= 0), capacities and
// usages >= 0, at most one sighting per gateway per device. Unknown devices
// or nodes named by a function are allowed (the device counts as never seen,
// the node as dead). Error code "invalid_world", message names the field:
//   functions[3].template: unknown template "omh2"
Status validate(const World& world);

// ---------------------------------------------------------------------------
// Policy (DESIGN.md "Offload policy")
// ---------------------------------------------------------------------------

struct Watermarks {
  double cpu_high = 0.85;  // fractions of capacity, 0..1
  double cpu_low = 0.30;
  double mem_high = 0.85;
  double mem_low = 0.30;
  friend bool operator==(const Watermarks&, const Watermarks&) = default;
};

struct TemplatePolicy {
  std::vector<Tier> tiers;  // overrides FunctionTemplate::tiers, most preferred first
  friend bool operator==(const TemplatePolicy&, const TemplatePolicy&) = default;
};

struct Policy {
  Watermarks gateway;  // tiers.gateway
  Watermarks edge;     // tiers.edge
  Watermarks cloud{0.90, 0.50, 0.90, 0.50};
  std::int64_t cooldown_s = 60;            // >= 1: a function is not moved again before this (see rules)
  std::int64_t max_moves_per_minute = 30;  // counted moves over a sliding 60 s window; 0 = no limit
  std::map<std::string, TemplatePolicy> templates;  // by template name
  std::vector<std::string> pinned;                  // function ids never moved
  std::int64_t lost_after_s = 120;
  OnLost on_lost = OnLost::undeploy;
  double rssi_threshold_dbm = -80;  // a gateway enters at >= threshold
  double hysteresis_db = 5;         // the current gateway holds until < threshold - hysteresis
  double roam_margin_db = 6;        // a roam needs candidate > current + margin
  std::int64_t node_stale_after_s = 30;  // a heartbeat older than this: node not ready

  const Watermarks& tier(Tier t) const;
  Watermarks& tier(Tier t);
  friend bool operator==(const Policy&, const Policy&) = default;
};

// One problem in a policy, the field named by its path in the YAML/JSON form.
struct FieldError {
  std::string field;    // e.g. "tiers.gateway.cpu_low"
  std::string message;  // e.g. "must not be above cpu_high (0.9 > 0.85)"
  std::string text() const { return field + ": " + message; }
};

// The first problem, checked field by field in document order: watermarks in
// 0..1 and low <= high; cooldown_s >= 1, lost_after_s >= 1,
// node_stale_after_s >= 1; max_moves_per_minute >= 0; rssi_threshold_dbm in
// -127..20; hysteresis_db and roam_margin_db in 0..100; template tiers
// non-empty, distinct and going up (gateway before edge before cloud);
// pinned ids non-empty and distinct.
std::optional<FieldError> find_policy_error(const Policy& policy);
// Same as an Error {"invalid_policy", "tiers.gateway.cpu_low: must not be above cpu_high (0.9 > 0.85)"}.
Status validate(const Policy& policy);

// ---------------------------------------------------------------------------
// Decisions (output)
// ---------------------------------------------------------------------------

struct Decision {
  std::string function;  // Function::id
  std::string from;      // node now; empty when not deployed
  std::string to;        // target node; empty for undeploy; == from for stay
  DecisionKind kind = DecisionKind::stay;
  std::string reason;    // stable code with numbers
  friend bool operator==(const Decision&, const Decision&) = default;
};

// What one plan skipped or held back (for metrics; "count what you skip").
struct PlanStats {
  std::size_t functions = 0;            // functions considered
  std::size_t nodes_unavailable = 0;    // not ready or heartbeat stale
  std::size_t sightings_ignored = 0;    // from an unknown or non-gateway node, or a dropped event
  std::size_t unplaceable = 0;          // no node fits (a stay with a "no node ..." reason)
  std::size_t held_by_cooldown = 0;
  std::size_t held_by_budget = 0;       // max_moves_per_minute reached
  std::size_t held_by_pin = 0;
  std::size_t devices_lost = 0;
  friend bool operator==(const PlanStats&, const PlanStats&) = default;
};

struct Plan {
  // In a stable order: first the actions (undeploy, place, roam, offload_up,
  // bring_down) in the order they were decided (undeploys, places, roams by
  // function id, offloads by node name, bring-downs by function id, then any
  // retries), then the stays by function id. At most one decision per
  // function; only functions something happens to (or is held back for) appear.
  std::vector<Decision> decisions;
  PlanStats stats;
};

// A device event from a gateway (DESIGN.md "Interfaces": device.seen / device.lost).
struct DeviceEvent {
  enum class Kind : std::uint8_t { seen, lost };
  Kind kind = Kind::seen;
  std::string device;
  std::string gateway;
  double rssi_dbm = -127;  // smoothed; for seen
  Millis at_ms = 0;        // when the gateway saw it (seen) or gave it up (lost)
};

// ---------------------------------------------------------------------------
// Planner
// ---------------------------------------------------------------------------

// Holds an indexed copy of the world (names -> dense indexes, per-node
// accounting arrays, per (tier, arch) node heaps) so a full re-plan of
// 10,000 nodes / 100,000 functions takes milliseconds and one device event
// microseconds. plan() and on_device_event() never change the placement
// state; apply() does (call it for each decision the backend carried out).
class Planner {
 public:
  // `policy` must be valid (validate(policy)); an invalid one throws
  // std::invalid_argument (a bug in the caller, not an expected failure).
  explicit Planner(Policy policy);
  Planner(Planner&&) noexcept;
  Planner& operator=(Planner&&) noexcept;
  ~Planner();

  const Policy& policy() const;
  // Replaces the policy (validated as in the constructor; returns the error instead).
  Status set_policy(Policy policy);

  // Replaces the whole world. Fails (leaving the previous world) when
  // validate(world) fails.
  Status load(World world);
  // The current world, with every apply() and event folded in; every list
  // sorted by name (nodes, devices, templates, functions).
  World snapshot() const;

  // Full re-plan of the loaded world at `now_ms`.
  Plan plan(Millis now_ms) const;
  // load() + plan(): the form the fuzz target and simple callers use.
  Result<Plan> plan(World world, Millis now_ms);

  // Incremental: records the sighting and decides for that device's
  // functions only (undeploy, place, roam, bring_down, or a stay explaining a
  // held move), with the same rules and reasons as plan(); offloading is
  // node-driven and left to plan(). The returned decisions are not applied.
  //  * seen: upserts that gateway's sighting (an older at_ms than the one
  //    recorded is ignored; RSSI clamped to -127..20); an unknown device is
  //    created. An event with no device, no gateway or a non-finite RSSI is
  //    dropped and counted in PlanStats::sightings_ignored.
  //  * lost: that gateway no longer counts as in range (the function roams
  //    away at once if another gateway has it), but when it last saw the
  //    device still counts for lost_after.
  std::vector<Decision> on_device_event(const DeviceEvent& event, Millis now_ms);

  // Folds one carried-out decision into the world: the function's node
  // becomes `to` (empty for undeploy), last_move_ms = now_ms for a move, the
  // counted moves are appended to recent_moves_ms, and the per-node
  // accounting moves the function's load (requests, or measured usage when
  // larger) from `from` to `to`, so node usage stays consistent until the next
  // measurement. Fails on an unknown function or node, or when the function is
  // no longer on `from` (a stale decision). A stay is a no-op.
  Status apply(const Decision& decision, Millis now_ms);

  // Small updates between full loads.
  Status update_node(const Node& node);             // upsert by name (usage, readiness, heartbeat...)
  Status upsert_function(const Function& function); // template must exist
  Status remove_function(std::string_view id);
  Status upsert_template(const FunctionTemplate& t);

  // Checks an operator's manual move (REST functions/{id}:move) against the
  // hard rules (arch, tier, readiness, capacity) and returns the decision to
  // apply (kind by tier rank: offload_up, bring_down, roam for gateway to
  // gateway, place otherwise; reason "manual move by operator"). The
  // watermarks are not checked: an operator may overrule them. Error codes:
  // "not_found" (function or node), "conflict" (a rule; message says which).
  Result<Decision> check_move(std::string_view function_id, std::string_view node, Millis now_ms) const;

  // Bytes held by the indexed world (strings, vectors, indexes): for the bench.
  std::size_t memory_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Applies decisions to a World value (same semantics as Planner::apply):
// what the property tests and the orchestrator's dry runs use. Decisions that
// do not apply (stale) are skipped and counted in the return value.
std::size_t apply_decisions(World& world, const std::vector<Decision>& decisions, Millis now_ms);

// ---------------------------------------------------------------------------
// JSON (the orchestrator's REST bodies and store, and the fuzz target)
// ---------------------------------------------------------------------------
//
// Policy:
//   {"tiers": {"gateway": {"cpu_high": 0.85, "cpu_low": 0.3, "mem_high": 0.85, "mem_low": 0.3},
//              "edge": {...}, "cloud": {...}},
//    "cooldown_s": 60, "max_moves_per_minute": 30,
//    "templates": {"omh": {"tiers": ["gateway", "edge", "cloud"]}},
//    "pinned": ["omh-c82b960a117f"], "lost_after_s": 120, "on_lost": "undeploy",
//    "rssi_threshold_dbm": -80, "hysteresis_db": 5, "roam_margin_db": 6,
//    "node_stale_after_s": 30}
// Every field is optional (absent: the default above); unknown fields are
// errors; the result is validated. Errors: {"invalid_policy", "<field>: <what>"}.
//
// World:
//   {"nodes": [{"name": "gw-1", "tier": "gateway", "arch": "arm64", "labels": {},
//               "capacity": {"cpu_millis": 4000, "memory_bytes": 4294967296},
//               "usage": {"cpu_millis": 900, "memory_bytes": 1073741824},
//               "ready": true, "last_heartbeat_ms": 1763900000000}],
//    "devices": [{"id": "c8:2b:96:0a:11:7f",
//                 "sightings": [{"gateway": "gw-1", "rssi_dbm": -61.5, "last_seen_ms": 1763900000000}]}],
//    "templates": [{"name": "omh", "requests": {"cpu_millis": 200, "memory_bytes": 67108864},
//                   "archs": ["arm64", "amd64"], "tiers": ["gateway", "edge", "cloud"],
//                   "near_device": true, "node_selector": {}, "move_cost": 1}],
//    "functions": [{"id": "omh-c82b960a117f", "template": "omh", "device": "c8:2b:96:0a:11:7f",
//                   "node": "gw-1", "pinned": false, "last_move_ms": 1763899000000,
//                   "usage": {"cpu_millis": 150, "memory_bytes": 50000000}}],
//    "recent_moves_ms": [1763899990000]}
// Optional: labels, usage, ready (true), last_heartbeat_ms, sightings,
// node_selector, near_device (false), move_cost (1), device, node, pinned,
// last_move_ms, function usage, recent_moves_ms. The result is validated.
// Errors: {"invalid_world", "nodes[3].capacity.cpu_millis: must be an integer >= 0"}.
//
// Decoding never throws on any input (it is fuzzed); encoding then decoding
// gives back an equal value.

Result<Policy> policy_from_json(const nlohmann::json& j);
Result<Policy> policy_from_json_text(std::string_view text);
nlohmann::json to_json(const Policy& policy);

Result<World> world_from_json(const nlohmann::json& j);
Result<World> world_from_json_text(std::string_view text);
nlohmann::json to_json(const World& world);

Result<Decision> decision_from_json(const nlohmann::json& j);
nlohmann::json to_json(const Decision& decision);
nlohmann::json to_json(const std::vector<Decision>& decisions);
nlohmann::json to_json(const PlanStats& stats);

// ---------------------------------------------------------------------------
// YAML (policy files for the CLI and the orchestrator, via common/config.hpp)
// ---------------------------------------------------------------------------
//
// The same fields as the JSON form, at the root of `node` (pass
// root.child("policy") when the policy is nested). Errors name the field and
// file:line, including the whole-policy checks:
//   policy.tiers.gateway.cpu_low: must not be above cpu_high (0.9 > 0.85) (policy.yaml:4)
Result<Policy> policy_from_yaml(const config::Node& node);
// Emits a document policy_from_yaml reads back to an equal Policy.
std::string policy_to_yaml(const Policy& policy);

}  // namespace c4i::placement
