// Placement engine benchmarks (issue 4): aims are a full re-plan under 100 ms
// and one device event under 10 us, on 10,000 nodes (8,000 gateways, 1,500
// edge, 500 cloud), 100,000 devices (each heard by 2-3 gateways) and 100,000
// functions (80% near their device, 20% edge/cloud engines).
//
// The world is a realistic steady state with work in it: 1% of the devices
// walked to a better gateway (roams), 2% of the gateways are above their high
// watermark (offloads), 1% of the functions sit on the edge waiting to come
// back (bring-downs), 0.5% are new (places), 0.5% of the devices are lost.
// Counters: decisions per plan, world_MB (Planner::memory_bytes),
// peak_rss_MB (getrusage), rss_for_world_MB (RSS growth while loading).
#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "placement/placement.hpp"

namespace pl = c4i::placement;

namespace {

constexpr pl::Millis kNow = 1'763'900'000'000;
constexpr std::int64_t kMi = 1024 * 1024;
constexpr int kGateways = 8000, kEdges = 1500, kClouds = 500, kDevices = 100'000;

std::string gw_name(int i) { return "gw-" + std::to_string(i); }

pl::World make_world() {
  std::mt19937_64 rng(2026);
  auto in = [&](int lo, int hi) { return lo + static_cast<int>(rng() % static_cast<std::uint64_t>(hi - lo + 1)); };
  pl::World w;
  w.nodes.reserve(kGateways + kEdges + kClouds);
  for (int i = 0; i < kGateways; ++i) {
    pl::Node n{gw_name(i), pl::Tier::gateway, "arm64", {{"zone", "z" + std::to_string(i % 50)}},
               {4000, 4096 * kMi}, {in(200, 1000), in(256, 1024) * kMi}, true, kNow - in(0, 20) * 1000};
    w.nodes.push_back(std::move(n));
  }
  for (int i = 0; i < kEdges; ++i)
    w.nodes.push_back(pl::Node{"edge-" + std::to_string(i), pl::Tier::edge, "amd64", {}, {64000, 131072 * kMi},
                               {in(1000, 20000), in(1024, 32768) * kMi}, true, std::nullopt});
  for (int i = 0; i < kClouds; ++i)
    w.nodes.push_back(pl::Node{"cloud-" + std::to_string(i), pl::Tier::cloud, "amd64", {}, {256000, 1048576 * kMi},
                               {in(1000, 50000), in(1024, 65536) * kMi}, true, std::nullopt});
  w.templates = {
      pl::FunctionTemplate{"omh", {100, 64 * kMi}, {"arm64", "amd64"}, {pl::Tier::gateway, pl::Tier::edge, pl::Tier::cloud}, true, {}, 1},
      pl::FunctionTemplate{"engine", {200, 128 * kMi}, {"amd64"}, {pl::Tier::edge, pl::Tier::cloud}, false, {}, 0}};
  w.devices.reserve(kDevices);
  w.functions.reserve(kDevices);
  auto add_load = [&](std::size_t node, const pl::Resources& r) {
    w.nodes[node].usage.cpu_millis += r.cpu_millis;
    w.nodes[node].usage.memory_bytes += r.memory_bytes;
  };
  for (int i = 0; i < kDevices; ++i) {
    int home = i % kGateways;
    pl::Device d;
    d.id = "dev-" + std::to_string(i);
    double best = -in(45, 70);
    d.sightings.push_back({gw_name(home), best, kNow - in(0, 5) * 1000});
    d.sightings.push_back({gw_name((home + 1) % kGateways), best - in(3, 20), kNow - in(0, 5) * 1000});
    if (i % 3 == 0) d.sightings.push_back({gw_name((home + 2) % kGateways), best - in(5, 25), kNow - in(0, 5) * 1000});
    int roll = in(0, 999);
    if (roll < 10) std::swap(d.sightings[0].rssi_dbm, d.sightings[1].rssi_dbm);     // walked: a roam
    if (roll >= 990 && roll < 995)
      for (auto& s : d.sightings) s.last_seen_ms = kNow - 600'000;                  // lost
    pl::Function f;
    f.id = "fn-" + std::to_string(i);
    f.device = d.id;
    if (i % 5 == 4) {
      f.template_name = "engine";
      f.node = "edge-" + std::to_string(i % kEdges);
      add_load(static_cast<std::size_t>(kGateways + i % kEdges), w.templates[1].requests);
    } else {
      f.template_name = "omh";
      if (roll >= 995) {
        f.node = "";                                                                   // new: a place
      } else if (roll >= 980 && roll < 990) {
        f.node = "edge-" + std::to_string(i % kEdges);                                 // waiting to come back
        f.last_move_ms = kNow - 3'600'000;
        add_load(static_cast<std::size_t>(kGateways + i % kEdges), w.templates[0].requests);
      } else {
        f.node = gw_name(home);
        add_load(static_cast<std::size_t>(home), w.templates[0].requests);
      }
    }
    w.devices.push_back(std::move(d));
    w.functions.push_back(std::move(f));
  }
  for (int i = 0; i < kGateways; i += 50) w.nodes[static_cast<std::size_t>(i)].usage.cpu_millis = 3600;  // 0.90 > 0.85
  return w;
}

pl::Policy policy() {
  pl::Policy p;
  p.max_moves_per_minute = 0;  // no limit: measure the whole plan's work
  return p;
}

const pl::World& world() {
  static const pl::World w = make_world();
  return w;
}

long rss_kb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * 4;
}
double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

pl::Planner& loaded() {
  static pl::Planner* p = [] {
    auto* planner = new pl::Planner(policy());
    if (!planner->load(world())) std::abort();
    return planner;
  }();
  return *p;
}

void BM_FullReplan(benchmark::State& state) {
  pl::Planner& planner = loaded();
  std::size_t decisions = 0, actions = 0;
  for (auto _ : state) {
    pl::Plan p = planner.plan(kNow);
    decisions = p.decisions.size();
    actions = 0;
    for (const auto& d : p.decisions) actions += d.kind != pl::DecisionKind::stay;
    benchmark::DoNotOptimize(p);
  }
  state.counters["decisions"] = static_cast<double>(decisions);
  state.counters["actions"] = static_cast<double>(actions);
  state.counters["world_MB"] = static_cast<double>(planner.memory_bytes()) / (1024.0 * 1024.0);
  state.counters["peak_rss_MB"] = peak_rss_mb();
}
BENCHMARK(BM_FullReplan)->Unit(benchmark::kMillisecond)->MinTime(3);

void BM_LoadWorld(benchmark::State& state) {
  const pl::World& w = world();
  long before = rss_kb();
  long grown = 0;
  for (auto _ : state) {
    state.PauseTiming();
    pl::World copy = w;
    pl::Planner planner(policy());
    state.ResumeTiming();
    if (!planner.load(std::move(copy))) state.SkipWithError("load failed");
    state.PauseTiming();
    grown = std::max(grown, rss_kb() - before);
    state.ResumeTiming();
  }
  state.counters["rss_for_world_MB"] = static_cast<double>(grown) / 1024.0;
  state.counters["peak_rss_MB"] = peak_rss_mb();
}
BENCHMARK(BM_LoadWorld)->Unit(benchmark::kMillisecond)->Iterations(5);

// Cold start: the same world with no function placed yet (100,000 places).
void BM_FullReplanColdStart(benchmark::State& state) {
  static pl::Planner* planner = [] {
    pl::World w = world();
    for (auto& f : w.functions) f.node.clear();
    auto* p = new pl::Planner(policy());
    if (!p->load(std::move(w))) std::abort();
    return p;
  }();
  std::size_t actions = 0;
  for (auto _ : state) {
    pl::Plan p = planner->plan(kNow);
    actions = 0;
    for (const auto& d : p.decisions) actions += d.kind != pl::DecisionKind::stay;
    benchmark::DoNotOptimize(p);
  }
  state.counters["actions"] = static_cast<double>(actions);
}
BENCHMARK(BM_FullReplanColdStart)->Unit(benchmark::kMillisecond)->MinTime(2);

// One device.seen event: a device heard better by its neighbour gateway,
// decided (a roam with its reason) against the whole indexed world.
void BM_DeviceEvent(benchmark::State& state) {
  pl::Planner& planner = loaded();
  std::size_t i = 0, roams = 0;
  for (auto _ : state) {
    int dev = static_cast<int>((i * 7919) % kDevices);
    pl::DeviceEvent ev{pl::DeviceEvent::Kind::seen, "dev-" + std::to_string(dev), gw_name((dev % kGateways + 1) % kGateways),
                       (i & 1) ? -40.0 : -95.0, kNow};
    auto ds = planner.on_device_event(ev, kNow);
    for (const auto& d : ds) roams += d.kind == pl::DecisionKind::roam;
    benchmark::DoNotOptimize(ds);
    ++i;
  }
  state.counters["roams"] = benchmark::Counter(static_cast<double>(roams), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_DeviceEvent)->Unit(benchmark::kMicrosecond)->MinTime(2);

}  // namespace

BENCHMARK_MAIN();
