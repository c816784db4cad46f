// Property tests: thousands of seeded random worlds; every rule of issue 4 is
// checked on every plan. A failure prints its seed; rerun one world with
//   C4I_PLACEMENT_SEED=<seed> ./placement_property_test
// and more worlds with C4I_PLACEMENT_WORLDS=<n> (default 3000).
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "placement/placement.hpp"
#include "tests/placement/builders.hpp"
#include "tests/placement/random_world.hpp"

namespace c4i::placement {
namespace {

using namespace testing;

std::vector<std::uint64_t> seeds() {
  if (const char* one = std::getenv("C4I_PLACEMENT_SEED")) return {std::strtoull(one, nullptr, 10)};
  std::uint64_t n = 3000;
  if (const char* many = std::getenv("C4I_PLACEMENT_WORLDS")) n = std::strtoull(many, nullptr, 10);
  std::vector<std::uint64_t> s;
  for (std::uint64_t i = 1; i <= n; ++i) s.push_back(i * 0x9E3779B97F4A7C15ull);
  return s;
}

// An independent reading of the world to check decisions against.
struct Facts {
  const World& w;
  const Policy& p;
  Millis now;
  std::unordered_map<std::string, const Node*> nodes;
  std::unordered_map<std::string, const FunctionTemplate*> templates;
  std::unordered_map<std::string, const Device*> devices;
  std::unordered_map<std::string, const Function*> functions;

  Facts(const World& world, const Policy& policy, Millis t) : w(world), p(policy), now(t) {
    for (const auto& n : w.nodes) nodes[n.name] = &n;
    for (const auto& x : w.templates) templates[x.name] = &x;
    for (const auto& x : w.devices) devices[x.id] = &x;
    for (const auto& x : w.functions) functions[x.id] = &x;
  }
  const Node* node(const std::string& n) const {
    auto it = nodes.find(n);
    return it == nodes.end() ? nullptr : it->second;
  }
  std::vector<Tier> tiers(const FunctionTemplate& t) const {
    auto o = p.templates.find(t.name);
    return o != p.templates.end() ? o->second.tiers : t.tiers;
  }
  bool usable(const Node& n) const {
    return n.ready && (!n.last_heartbeat_ms || now - *n.last_heartbeat_ms <= p.node_stale_after_s * 1000);
  }
  bool pinned(const Function& f) const {
    return f.pinned || std::find(p.pinned.begin(), p.pinned.end(), f.id) != p.pinned.end();
  }
  bool cooling(const Function& f) const { return f.last_move_ms && now - *f.last_move_ms < p.cooldown_s * 1000; }
  const DeviceSighting* sighting(const Function& f, const std::string& gw) const {
    auto d = devices.find(f.device);
    if (d == devices.end()) return nullptr;
    for (const auto& s : d->second->sightings)
      if (s.gateway == gw) return &s;
    return nullptr;
  }
  bool fresh(const DeviceSighting& s) const { return now - s.last_seen_ms < p.lost_after_s * 1000; }
  bool lost(const Function& f) const {
    if (f.device.empty()) return false;
    auto d = devices.find(f.device);
    if (d == devices.end()) return true;
    std::optional<Millis> last;
    for (const auto& s : d->second->sightings) {
      const Node* n = node(s.gateway);
      if (!n || n->tier != Tier::gateway) continue;
      if (!last || s.last_seen_ms > *last) last = s.last_seen_ms;
    }
    return !last || now - *last >= p.lost_after_s * 1000;
  }
  std::int64_t budget() const {
    if (p.max_moves_per_minute == 0) return 1 << 30;
    std::int64_t used = 0;
    for (Millis t : w.recent_moves_ms)
      if (t > now - 60'000 && t <= now) ++used;
    return std::max<std::int64_t>(0, p.max_moves_per_minute - used);
  }
};

void check_rules(const Facts& f, const Plan& plan, const World& applied) {
  std::set<std::string> seen;
  std::int64_t counted = 0;
  std::map<std::string, bool> received;
  for (const Decision& d : plan.decisions) {
    SCOPED_TRACE(to_json(d).dump());
    ASSERT_TRUE(seen.insert(d.function).second) << "two decisions for one function";
    const Function* fn = f.functions.at(d.function);
    const FunctionTemplate* t = f.templates.at(fn->template_name);
    ASSERT_EQ(d.from, fn->node);
    if (d.kind == DecisionKind::stay) {
      EXPECT_EQ(d.to, d.from);
      EXPECT_FALSE(d.reason.empty());
      continue;
    }
    if (is_counted_move(d.kind)) ++counted;
    if (f.pinned(*fn)) {
      EXPECT_TRUE(d.kind == DecisionKind::place && d.from.empty()) << "a pinned function moved";
    }
    if (d.kind == DecisionKind::undeploy) {
      EXPECT_TRUE(f.lost(*fn));
      EXPECT_EQ(f.p.on_lost, OnLost::undeploy);
      EXPECT_TRUE(d.to.empty());
      continue;
    }
    // The hard rules on the target.
    const Node* to = f.node(d.to);
    ASSERT_NE(to, nullptr);
    EXPECT_TRUE(f.usable(*to)) << "target not ready";
    EXPECT_NE(std::find(t->archs.begin(), t->archs.end(), to->arch), t->archs.end()) << "wrong arch";
    auto tiers = f.tiers(*t);
    EXPECT_NE(std::find(tiers.begin(), tiers.end(), to->tier), tiers.end()) << "tier not allowed";
    for (const auto& [k, v] : t->node_selector) EXPECT_EQ(to->labels.count(k) ? to->labels.at(k) : "", v);
    received[d.to] = true;
    const Node* from = f.node(d.from);
    switch (d.kind) {
      case DecisionKind::roam: {
        ASSERT_NE(from, nullptr);
        EXPECT_EQ(from->tier, Tier::gateway);
        EXPECT_EQ(to->tier, Tier::gateway);
        const DeviceSighting* s_new = f.sighting(*fn, d.to);
        ASSERT_NE(s_new, nullptr);
        EXPECT_GE(s_new->rssi_dbm, f.p.rssi_threshold_dbm);
        const DeviceSighting* s_old = f.sighting(*fn, d.from);
        bool old_in = s_old && f.fresh(*s_old) && s_old->rssi_dbm >= f.p.rssi_threshold_dbm - f.p.hysteresis_db;
        if (old_in) {
          EXPECT_GT(s_new->rssi_dbm, s_old->rssi_dbm + f.p.roam_margin_db) << "roam without the margin";
          EXPECT_FALSE(f.cooling(*fn)) << "improving roam in cooldown";
        }
        break;
      }
      case DecisionKind::offload_up:
        ASSERT_NE(from, nullptr);
        EXPECT_GT(static_cast<int>(to->tier), static_cast<int>(from->tier));
        if (f.cooling(*fn)) {
          EXPECT_NE(d.reason.find("lost it"), std::string::npos) << "offload in cooldown";
        }
        break;
      case DecisionKind::bring_down:
        ASSERT_NE(from, nullptr);
        EXPECT_LT(static_cast<int>(to->tier), static_cast<int>(from->tier));
        EXPECT_FALSE(f.cooling(*fn)) << "bring-down in cooldown";
        break;
      case DecisionKind::place:
        if (from) {  // only off a node that is unusable or no longer fits
          bool fits = f.usable(*from) &&
                      std::find(t->archs.begin(), t->archs.end(), from->arch) != t->archs.end() &&
                      std::find(tiers.begin(), tiers.end(), from->tier) != tiers.end();
          for (const auto& [k, v] : t->node_selector)
            fits = fits && from->labels.count(k) && from->labels.at(k) == v;
          EXPECT_FALSE(fits) << "re-placed off a fine node";
        }
        break;
      default:
        break;
    }
  }
  EXPECT_LE(counted, f.budget()) << "max moves per minute";
  // Lost devices under `undeploy`: every deployed, unpinned function goes.
  if (f.p.on_lost == OnLost::undeploy)
    for (const auto& fn : f.w.functions)
      if (!fn.node.empty() && f.lost(fn) && !f.pinned(fn)) {
        bool undeployed = false;
        for (const auto& d : plan.decisions) undeployed |= d.function == fn.id && d.kind == DecisionKind::undeploy;
        EXPECT_TRUE(undeployed) << fn.id << " of a lost device kept";
      }
  // Capacity and high watermarks on every node that received a function.
  std::map<std::string, Resources> requested;
  for (const auto& fn : applied.functions)
    if (!fn.node.empty()) {
      const auto* t = f.templates.at(fn.template_name);
      requested[fn.node].cpu_millis += t->requests.cpu_millis;
      requested[fn.node].memory_bytes += t->requests.memory_bytes;
    }
  for (const auto& n : applied.nodes) {
    if (!received.count(n.name)) continue;
    SCOPED_TRACE("node " + n.name);
    EXPECT_LE(requested[n.name].cpu_millis, n.capacity.cpu_millis) << "beyond CPU capacity";
    EXPECT_LE(requested[n.name].memory_bytes, n.capacity.memory_bytes) << "beyond memory capacity";
    const Watermarks& wm = f.p.tier(n.tier);
    EXPECT_LE(static_cast<double>(n.usage.cpu_millis) / static_cast<double>(n.capacity.cpu_millis), wm.cpu_high);
    EXPECT_LE(static_cast<double>(n.usage.memory_bytes) / static_cast<double>(n.capacity.memory_bytes), wm.mem_high);
  }
}

TEST(PlacementProperties, EveryRuleHoldsOnRandomWorlds) {
  std::size_t decisions = 0, moves = 0;
  std::map<std::string, std::size_t> by_kind;
  for (std::uint64_t seed : seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: C4I_PLACEMENT_SEED=" + std::to_string(seed) + ")");
    RandomCase c = random_case(seed);
    ASSERT_TRUE(validate(c.world)) << validate(c.world).error().message;
    ASSERT_TRUE(validate(c.policy)) << validate(c.policy).error().message;

    Planner planner(c.policy);
    ASSERT_TRUE(planner.load(c.world));
    Plan plan = planner.plan(c.now);
    decisions += plan.decisions.size();
    moves += actions(plan.decisions).size();
    for (const auto& d : plan.decisions) by_kind[std::string(to_string(d.kind))]++;

    // Deterministic: again, and with every input list in another order.
    EXPECT_EQ(planner.plan(c.now).decisions, plan.decisions);
    World shuffled = c.world;
    std::mt19937_64 rng(seed);
    std::shuffle(shuffled.nodes.begin(), shuffled.nodes.end(), rng);
    std::shuffle(shuffled.devices.begin(), shuffled.devices.end(), rng);
    std::shuffle(shuffled.functions.begin(), shuffled.functions.end(), rng);
    std::shuffle(shuffled.templates.begin(), shuffled.templates.end(), rng);
    Planner other(c.policy);
    auto replan = other.plan(shuffled, c.now);
    ASSERT_TRUE(replan);
    EXPECT_EQ(replan->decisions, plan.decisions);

    World applied = c.world;
    ASSERT_EQ(apply_decisions(applied, plan.decisions, c.now), 0u);
    check_rules(Facts(c.world, c.policy, c.now), plan, applied);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "world: " << to_json(c.world).dump() << "\npolicy: " << to_json(c.policy).dump()
                    << "\ndecisions: " << to_json(plan.decisions).dump();
      return;
    }

    // A fixed point: planning the applied world again gives nothing to do,
    // through a fresh planner and through Planner::apply alike.
    Planner again(c.policy);
    auto second = again.plan(applied, c.now);
    ASSERT_TRUE(second);
    auto extra = actions(second->decisions);
    EXPECT_TRUE(extra.empty()) << "not a fixed point: " << to_json(extra).dump() << "\nfirst: "
                               << to_json(plan.decisions).dump() << "\nworld: " << to_json(c.world).dump()
                               << "\npolicy: " << to_json(c.policy).dump();
    for (const auto& d : plan.decisions) ASSERT_TRUE(planner.apply(d, c.now)) << to_json(d).dump();
    World snap = planner.snapshot();
    EXPECT_EQ(snap.functions, again.snapshot().functions);
    EXPECT_EQ(snap.nodes, again.snapshot().nodes);
    EXPECT_TRUE(actions(planner.plan(c.now).decisions).empty());
    // The incremental path agrees: re-sending any sighting changes nothing.
    for (const auto& dev : applied.devices)
      for (const auto& s : dev.sightings) {
        auto ds = planner.on_device_event(DeviceEvent{DeviceEvent::Kind::seen, dev.id, s.gateway, s.rssi_dbm, s.last_seen_ms},
                                          c.now);
        EXPECT_TRUE(actions(ds).empty()) << "incremental disagrees: " << to_json(ds).dump() << "\nfull plan: "
                                         << to_json(second->decisions).dump() << "\napplied: "
                                         << to_json(applied).dump() << "\npolicy: " << to_json(c.policy).dump();
      }
    if (::testing::Test::HasFailure()) return;
  }
  RecordProperty("decisions", static_cast<int>(decisions));
  std::printf("checked %zu worlds: %zu decisions, %zu actions (%s)\n", seeds().size(), decisions, moves,
              nlohmann::json(by_kind).dump().c_str());
  // The worlds do exercise every kind of decision.
  if (seeds().size() >= 1000) {
    for (const char* k : {"place", "roam", "offload_up", "bring_down", "undeploy", "stay"}) {
      EXPECT_GT(by_kind[k], 0u) << k;
    }
  }
}

// Under constant load (sightings refreshed with the same RSSI, usage moving
// only with the functions), no function ever returns to a node it left.
TEST(PlacementProperties, ConstantLoadNeverOscillates) {
  std::size_t worlds = std::min<std::size_t>(seeds().size(), 1000);
  for (std::size_t i = 0; i < worlds; ++i) {
    std::uint64_t seed = seeds()[i];
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: C4I_PLACEMENT_SEED=" + std::to_string(seed) + ")");
    RandomCase c = random_case(seed);
    World w = c.world;
    Millis now = c.now;
    std::map<std::string, std::vector<std::string>> path;
    for (const auto& fn : w.functions) path[fn.id] = {fn.node};
    for (int round = 0; round < 8; ++round) {
      for (auto& d : w.devices)
        for (auto& s : d.sightings) s.last_seen_ms = now;
      for (auto& n : w.nodes)
        if (n.last_heartbeat_ms) n.last_heartbeat_ms = now;
      Planner planner(c.policy);
      auto plan = planner.plan(w, now);
      ASSERT_TRUE(plan);
      for (const auto& d : actions(plan->decisions)) {
        auto& p = path[d.function];
        if (d.kind != DecisionKind::undeploy && d.kind != DecisionKind::place) {
          EXPECT_EQ(std::find(p.begin(), p.end(), d.to), p.end())
              << d.function << " returns to " << d.to << " (" << to_string(d.kind) << ": " << d.reason
              << ") after " << nlohmann::json(p).dump() << "\nworld: " << to_json(c.world).dump()
              << "\npolicy: " << to_json(c.policy).dump();
        }
        p.push_back(d.to);
      }
      apply_decisions(w, plan->decisions, now);
      now += (c.policy.cooldown_s + 61) * 1000;
      if (::testing::Test::HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace c4i::placement
