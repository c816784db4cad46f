// The control loop's incremental snapshot (State::snapshot(WorldCache&)):
// after any sequence of writes, what it returns equals a full read.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <sstream>

#include "orchestrator/state.hpp"
#include "orchestrator/store.hpp"
#include "placement/placement.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::orchestrator {
namespace {

using nlohmann::json;

template <typename T>
std::string opt(const std::optional<T>& v) {
  if (!v) return "-";
  std::ostringstream o;
  o << *v;
  return o.str();
}

// Every field the control loop reads, one line per row.
std::string dump(const WorldSnapshot& w) {
  std::ostringstream o;
  for (const auto& n : w.nodes) {
    o << "node " << n.name << ' ' << n.tier << ' ' << n.arch << ' ' << n.source << ' ' << n.cpu_capacity_m << ' '
      << n.mem_capacity_mb << ' ' << opt(n.cpu) << ' ' << opt(n.mem) << ' ' << opt(n.heartbeat_ms) << ' '
      << opt(n.heartbeat_notified_ms) << ' ' << n.unschedulable;
    for (const auto& [k, v] : n.labels) o << ' ' << k << '=' << v;
    o << '\n';
  }
  for (const auto& f : w.functions)
    o << "function " << f.id << ' ' << f.template_name << ' ' << f.device << ' ' << f.state << ' ' << f.node << ' '
      << f.pinned << ' ' << f.restarts << ' ' << f.last_exit << ' ' << opt(f.started_ms) << ' ' << f.desired.node << '/'
      << f.desired.tier << ' ' << f.placement_kind << ' ' << f.tpl->cpu_m << ' ' << f.tpl->mem_mb << ' ' << f.tpl->spec.dump() << ' '
      << f.tpl->command.size() << ' ' << f.tpl->tiers.size() << ' ' << f.created_ms << ' ' << opt(f.last_move_ms) << '\n';
  for (const auto& s : w.sightings)
    o << "sighting " << s.device << ' ' << s.gateway << ' ' << s.rssi_dbm << ' ' << s.present << ' ' << s.enter_t << ' '
      << s.enter_notified_ms << ' ' << s.last_t << '\n';
  o << "policy " << w.policy.version << ' ' << w.policy.spec.dump() << '\n';
  for (const auto& m : w.open_migrations)
    o << "open " << m.id << ' ' << m.function << ' ' << m.kind << ' ' << m.to.node << '/' << m.to.tier << ' ' << m.state
      << ' ' << m.attempts << ' ' << opt(m.next_retry_ms) << ' ' << opt(m.applied) << ' ' << opt(m.started) << '\n';
  o << "recent " << w.recent_moves_ms.size() << '\n';
  return o.str();
}

class WorldCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::open(dir.file("state.db"));
    ASSERT_TRUE(s) << s.error().message;
    store = std::move(*s);
    state = std::make_unique<State>(*store);
    listener = store->add_commit_listener([this](const std::vector<Change>& c) { cache.note(c); });
    std::vector<BackendNode> nodes;
    for (int g = 0; g < 4; ++g) nodes.push_back({"gw-" + std::to_string(g), "gateway", "arm64", 1000, 512, {}});
    nodes.push_back({"edge-1", "edge", "amd64", 8000, 8192, {{"zone", "a"}}});
    ASSERT_TRUE(state->sync_topology(nodes));
    ASSERT_TRUE(state->ensure_policy(placement::to_json(placement::Policy{})));
    ASSERT_TRUE(state->create_template({{"name", "hr"}, {"command", {"/bin/true"}}, {"tiers", {"gateway", "edge"}}}, "t"));
  }
  void TearDown() override {
    if (store) store->remove_commit_listener(listener);
  }
  // The cached read must equal a full one, row for row.
  void expect_same(const std::string& after) {
    auto full = state->snapshot();
    auto cached = state->snapshot(cache);
    ASSERT_TRUE(full && cached);
    EXPECT_EQ(dump(*cached), dump(*full)) << "after " << after;
    // The control loop finds a function by binary search.
    EXPECT_TRUE(std::is_sorted(cached->functions.begin(), cached->functions.end(),
                               [](const FunctionRow& a, const FunctionRow& b) { return a.id < b.id; }))
        << "after " << after;
  }
  std::string addr(int d) { return "aa:bb:cc:dd:ee:" + std::string(d < 16 ? "0" : "") + ([d] {
                                      std::ostringstream o;
                                      o << std::hex << d;
                                      return o.str();
                                    })(); }
  bool post(int g, std::vector<GatewayEvent> evs) {
    EventBatch b{"gw-" + std::to_string(g), "boot", 0, {}};
    for (auto& e : evs) {
      e.seq = ++seq[g];
      b.events.push_back(e);
    }
    b.seq = b.events.back().seq;
    return static_cast<bool>(state->apply_batch(b, now_ms()));
  }
  GatewayEvent seen(int d, int rssi, const char* reason) {
    GatewayEvent e;
    e.type = EventType::device_seen;
    e.t_ms = now_ms();
    e.addr = addr(d);
    e.addr_type = "public";
    e.rssi_dbm = rssi;
    e.reason = reason;
    return e;
  }

  testing::TempDir dir;
  std::unique_ptr<Store> store;
  std::unique_ptr<State> state;
  WorldCache cache;
  std::uint64_t listener = 0;
  std::map<int, std::int64_t> seq;
};

TEST_F(WorldCacheTest, FirstReadIsWholeAndLaterOnesReadOnlyWhatChanged) {
  ASSERT_TRUE(state->create_function({{"template", "hr"}, {"device", addr(1)}, {"id", "f1"}}, "t"));
  expect_same("a function");
  EXPECT_EQ(cache.full_reads(), 1u);
  ASSERT_TRUE(post(0, {seen(1, -50, "enter")}));
  expect_same("a sighting");
  ASSERT_TRUE(post(1, {seen(1, -40, "enter"), seen(2, -40, "enter")}));
  expect_same("a second gateway, and a device with no function");
  ASSERT_TRUE(state->create_function({{"template", "hr"}, {"device", addr(2)}, {"id", "f2"}}, "t"));
  expect_same("a function for a device already seen (its sightings read with it)");
  EXPECT_EQ(cache.full_reads(), 1u);
  EXPECT_EQ(cache.reads(), 4u);
}

TEST_F(WorldCacheTest, MigrationStepsReachTheirFunctionThroughTheMigrationAlone) {
  ASSERT_TRUE(state->create_function({{"template", "hr"}, {"device", addr(3)}, {"id", "f3"}}, "t"));
  expect_same("create");
  PlannedMove m;
  m.function = "f3";
  m.kind = "roam";
  m.reason = "test";
  m.to.tier = "edge";  // a tier: the backend names the node when it starts
  m.requested_by = "placement";
  auto ids = state->record_moves({m}, now_ms());
  ASSERT_TRUE(ids);
  expect_same("a recorded move");
  ASSERT_TRUE(state->migration_step(ids->at(0), {{"applied", now_ms()}, {"started", now_ms()}}, "", "edge-1"));
  expect_same("started on edge-1 (placement and function node rewritten)");
  ASSERT_TRUE(state->migration_step(ids->at(0), {}, "done", "edge-1"));
  expect_same("done (the function's last move)");
}

TEST_F(WorldCacheTest, PruningDeletesOldEndedMigrationsButNeverAFunctionsLatestOrAnOpenOne) {
  for (const char* id : {"f4", "f5"})
    ASSERT_TRUE(state->create_function({{"template", "hr"}, {"device", addr(id[1] == '4' ? 4 : 5)}, {"id", id}}, "t"));
  auto move = [&](const char* fn, const char* node) {
    PlannedMove m;
    m.function = fn;
    m.kind = "roam";
    m.reason = "test";
    m.to.node = node;
    m.requested_by = "placement";
    auto ids = state->record_moves({m}, now_ms());
    EXPECT_TRUE(ids);
    return ids ? ids->at(0) : 0;
  };
  std::int64_t first = move("f4", "gw-1");
  ASSERT_TRUE(state->migration_step(first, {{"applied", now_ms()}, {"started", now_ms()}}, "done", "gw-1"));
  std::int64_t latest = move("f4", "gw-2");  // the placement now points here
  ASSERT_TRUE(state->migration_step(latest, {{"applied", now_ms()}, {"started", now_ms()}}, "done", "gw-2"));
  std::int64_t open = move("f5", "gw-3");  // pending
  expect_same("three moves");

  // Not old enough yet: nothing goes.
  auto n = state->prune_migrations(now_ms(), 3'600'000, 100);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 0u);
  // Two days on with a day's retention: only the ended, superseded-by-a-later-move one.
  n = state->prune_migrations(now_ms() + 2 * 86'400'000LL, 86'400'000, 100);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(state->get("migrations", std::to_string(first)));
  EXPECT_TRUE(state->get("migrations", std::to_string(latest)));
  EXPECT_TRUE(state->get("migrations", std::to_string(open)));
  expect_same("a pruned migration");
  n = state->prune_migrations(now_ms() + 2 * 86'400'000LL, 86'400'000, 100);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
}

TEST_F(WorldCacheTest, ARandomSequenceOfWritesReadsTheSameAsAFullRead) {
  std::mt19937 rng(20261202);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  std::vector<std::int64_t> open;
  for (int step = 0; step < 400; ++step) {
    std::string what;
    switch (pick(9)) {
      case 0: {
        int d = pick(12);
        what = "create f" + std::to_string(d);
        (void)state->create_function({{"template", "hr"}, {"device", addr(d)}, {"id", "f" + std::to_string(d)}}, "t");
        break;
      }
      case 1: {
        int d = pick(12);
        what = "delete f" + std::to_string(d);
        (void)state->delete_function("f" + std::to_string(d));
        break;
      }
      case 2:
      case 3: {
        int g = pick(4), d = pick(12);
        what = "seen " + std::to_string(d) + " at gw-" + std::to_string(g);
        ASSERT_TRUE(post(g, {seen(d, -30 - pick(60), pick(2) ? "enter" : "refresh")}));
        break;
      }
      case 4: {
        int g = pick(4), d = pick(12);
        GatewayEvent e = seen(d, -90, "timeout");
        e.type = EventType::device_lost;
        e.rssi_dbm.reset();
        e.last_seen_t_ms = now_ms();
        what = "lost " + std::to_string(d) + " at gw-" + std::to_string(g);
        ASSERT_TRUE(post(g, {e}));
        break;
      }
      case 5: {
        int g = pick(4);
        what = "usage gw-" + std::to_string(g);
        ASSERT_TRUE(state->record_node_usage({{"gw-" + std::to_string(g), pick(100) / 100.0, pick(100) / 100.0, now_ms()}}));
        break;
      }
      case 6: {
        int d = pick(12);
        PlannedMove m;
        m.function = "f" + std::to_string(d);
        m.kind = pick(2) ? "roam" : "offload_up";
        m.reason = "test";
        m.to.node = "gw-" + std::to_string(pick(4));
        m.requested_by = "placement";
        what = "move " + m.function;
        if (auto ids = state->record_moves({m}, now_ms())) open.insert(open.end(), ids->begin(), ids->end());
        break;
      }
      case 7: {
        if (open.empty()) continue;
        auto id = open[static_cast<std::size_t>(pick(static_cast<int>(open.size())))];
        what = "step migration " + std::to_string(id);
        int how = pick(3);
        if (how == 0) (void)state->migration_step(id, {{"applied", now_ms()}}, "applying", "");
        else if (how == 1) (void)state->migration_step(id, {{"started", now_ms()}}, "done", "gw-" + std::to_string(pick(4)));
        else (void)state->migration_failed(id, "apply", "test", now_ms() + 1000);
        break;
      }
      case 8: {
        int d = pick(12);
        what = "observed f" + std::to_string(d);
        (void)state->functions_observed({Observation{"f" + std::to_string(d), pick(2) ? "running" : "stopped",
                                                     "gw-" + std::to_string(pick(4)), pick(3), "", now_ms()}});
        break;
      }
    }
    // Compare after most steps, and let some pile up between reads.
    if (pick(3) != 0) {
      expect_same(what);
      if (HasFailure()) return;
    }
  }
  EXPECT_EQ(cache.full_reads(), 1u);  // the first read only
}

TEST_F(WorldCacheTest, TooManyMarksOrInvalidateReadEverythingAgain) {
  ASSERT_TRUE(state->snapshot(cache));
  cache.invalidate();
  expect_same("invalidate");
  EXPECT_EQ(cache.full_reads(), 2u);
  std::vector<Change> many;
  for (int i = 0; i < 6000; ++i) many.push_back({"devices", "d" + std::to_string(i), "updated"});
  cache.note(many);
  expect_same("a flood of marks");
  EXPECT_EQ(cache.full_reads(), 3u);
}

}  // namespace
}  // namespace c4i::orchestrator
