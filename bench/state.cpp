// The control loop's read of the world (State::snapshot) at the soak's scale:
// 200 gateways, 20,000 devices seen, 2,000 functions, and a history of done
// migrations (the argument) that grows while the orchestrator runs. Each
// control-loop pass reads one snapshot before it decides, so an event waits
// for up to two of these (the pass under way and its own).
//  - Snapshot/migrations: the full read.
//  - SnapshotChanged/migrations: the incremental read after a pass's worth of
//    changes (50 devices refreshed, one function observed).
//  - Plan: the placement engine's view of that world, loaded and planned.
// Run from a Release tree: build/release/bench/bench_state.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "orchestrator/controller.hpp"
#include "orchestrator/state.hpp"
#include "orchestrator/store.hpp"
#include "placement/placement.hpp"

namespace {

using nlohmann::json;
using namespace c4i::orchestrator;

constexpr int kGateways = 200, kDevices = 20'000, kFunctionEvery = 10;

std::string gw_name(int g) { return "gw-" + std::to_string(g); }
std::string dev_addr(int d) {
  char b[18];
  std::snprintf(b, sizeof b, "aa:bb:cc:%02x:%02x:%02x", (d >> 16) & 0xff, (d >> 8) & 0xff, d & 0xff);
  return b;
}

struct Fixture {
  std::string dir;
  std::unique_ptr<Store> store;
  std::unique_ptr<State> state;
  std::vector<std::int64_t> seq = std::vector<std::int64_t>(kGateways, 0);
  std::int64_t t = 1'700'000'000'000;

  bool post(int g, std::vector<GatewayEvent> evs) {
    EventBatch b{gw_name(g), "bench-boot", 0, {}};
    for (auto& e : evs) {
      e.seq = ++seq[static_cast<std::size_t>(g)];
      b.events.push_back(std::move(e));
    }
    b.seq = b.events.back().seq;
    return static_cast<bool>(state->apply_batch(b, t));
  }
  static GatewayEvent seen(int d, std::int64_t t, const char* reason) {
    GatewayEvent e;
    e.type = EventType::device_seen;
    e.t_ms = t;
    e.addr = dev_addr(d);
    e.addr_type = "public";
    e.rssi_dbm = -60;
    e.reason = reason;
    return e;
  }

  explicit Fixture(int done_migrations) {
    char tmpl[] = "/tmp/c4i-bench-state-XXXXXX";
    dir = mkdtemp(tmpl);
    store = std::move(*Store::open(dir + "/state.db"));
    state = std::make_unique<State>(*store);
    std::vector<BackendNode> nodes;
    for (int g = 0; g < kGateways; ++g) nodes.push_back({gw_name(g), "gateway", "amd64", 4000, 4096, {}});
    nodes.push_back({"edge-1", "edge", "amd64", 16000, 32768, {}});
    nodes.push_back({"cloud-1", "cloud", "amd64", 64000, 131072, {}});
    (void)state->sync_topology(nodes);
    (void)state->ensure_policy(c4i::placement::to_json(c4i::placement::Policy{}));
    (void)state->create_template(json{{"name", "soak"}, {"command", {"/bin/sleep", "100000"}}, {"cpu_m", 10}, {"mem_mb", 8},
                                      {"tiers", {"gateway", "edge", "cloud"}}},
                                 "bench");
    const int per_gw = kDevices / kGateways;
    for (int g = 0; g < kGateways; ++g) {
      std::vector<GatewayEvent> evs;
      for (int d = g * per_gw; d < (g + 1) * per_gw; ++d) evs.push_back(seen(d, t, "enter"));
      post(g, std::move(evs));
    }
    for (int d = 0; d < kDevices; d += kFunctionEvery)
      (void)state->create_function(json{{"template", "soak"}, {"device", dev_addr(d)}, {"id", "f" + std::to_string(d)}}, "bench");
    // History: done roams spread over the functions, recorded in batches.
    for (int i = 0; i < done_migrations;) {
      std::vector<PlannedMove> moves;
      for (int k = 0; k < 100 && i < done_migrations; ++k, ++i) {
        int d = (i % (kDevices / kFunctionEvery)) * kFunctionEvery;
        PlannedMove m;
        m.function = "f" + std::to_string(d);
        m.kind = "roam";
        m.reason = "bench";
        m.to.node = gw_name(d / per_gw);
        m.requested_by = "placement";
        moves.push_back(m);
      }
      auto ids = state->record_moves(moves, t - 120'000);
      if (!ids) break;
      for (auto id : *ids) (void)state->migration_step(id, {{"applied", t}, {"started", t}}, "done", "");
    }
  }
  ~Fixture() {
    state.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }
};

void Snapshot(benchmark::State& bs) {
  Fixture fx(static_cast<int>(bs.range(0)));
  std::size_t functions = 0, sightings = 0;
  for (auto _ : bs) {
    auto w = fx.state->snapshot();
    if (!w) {
      bs.SkipWithError("snapshot failed");
      return;
    }
    functions = w->functions.size();
    sightings = w->sightings.size();
    benchmark::DoNotOptimize(w);
  }
  bs.counters["functions"] = static_cast<double>(functions);
  bs.counters["sightings"] = static_cast<double>(sightings);
}
BENCHMARK(Snapshot)->Arg(0)->Arg(20'000)->Unit(benchmark::kMillisecond);

void SnapshotChanged(benchmark::State& bs) {
  Fixture fx(static_cast<int>(bs.range(0)));
  WorldCache cache;
  auto listener = fx.store->add_commit_listener([&](const std::vector<Change>& c) { cache.note(c); });
  (void)fx.state->snapshot(cache);
  int next = 0;
  for (auto _ : bs) {
    bs.PauseTiming();
    // A pass's worth of the soak's changes: 50 devices with a function
    // refreshed at their gateway, one function observed.
    const int per_gw = kDevices / kGateways;
    for (int k = 0; k < 50; ++k, ++next) {
      int d = (next % (kDevices / kFunctionEvery)) * kFunctionEvery;
      fx.post(d / per_gw, {Fixture::seen(d, fx.t + next, "refresh")});
    }
    (void)fx.state->functions_observed({Observation{"f" + std::to_string((next % 200) * kFunctionEvery), "running",
                                                    gw_name(next % kGateways), next, "", fx.t + next}});
    bs.ResumeTiming();
    auto w = fx.state->snapshot(cache);
    if (!w) {
      bs.SkipWithError("snapshot failed");
      break;
    }
    benchmark::DoNotOptimize(w);
  }
  fx.store->remove_commit_listener(listener);
  bs.counters["full_reads"] = static_cast<double>(cache.full_reads());
}
BENCHMARK(SnapshotChanged)->Arg(0)->Arg(20'000)->Unit(benchmark::kMillisecond);

// What a pass does with the world next: the placement engine's view of it,
// loaded and planned whole (Controller::decide).
void Plan(benchmark::State& bs) {
  Fixture fx(0);
  auto w = fx.state->snapshot();
  if (!w) {
    bs.SkipWithError("snapshot failed");
    return;
  }
  c4i::placement::Planner planner(c4i::placement::Policy{});
  std::size_t decisions = 0;
  for (auto _ : bs) {
    if (!planner.load(Controller::build_world(*w, fx.t))) {
      bs.SkipWithError("load failed");
      return;
    }
    auto plan = planner.plan(fx.t);
    decisions = plan.decisions.size();
    benchmark::DoNotOptimize(plan);
  }
  bs.counters["decisions"] = static_cast<double>(decisions);
}
BENCHMARK(Plan)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
