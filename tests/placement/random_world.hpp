// Seeded random worlds and policies for the property tests (and the fuzz
// corpus): small, varied, and full of the awkward cases (nodes not ready or
// with stale heartbeats, unknown nodes and devices, functions in cooldown,
// pinned, over capacity, devices lost or seen by a non-gateway).
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "placement/placement.hpp"
#include "tests/placement/builders.hpp"

namespace c4i::placement::testing {

struct RandomCase {
  World world;
  Policy policy;
  Millis now = kT0;
};

class Dice {
 public:
  explicit Dice(std::uint64_t seed) : rng_(seed) {}
  std::int64_t in(std::int64_t lo, std::int64_t hi) {  // inclusive
    return lo + static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  bool chance(int percent) { return in(0, 99) < percent; }
  double frac(int steps = 100) { return static_cast<double>(in(0, steps)) / steps; }
  template <typename V>
  auto& pick(V& v) {
    return v[static_cast<std::size_t>(in(0, static_cast<std::int64_t>(v.size()) - 1))];
  }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

inline Watermarks random_watermarks(Dice& d) {
  Watermarks w;
  w.cpu_high = 0.5 + d.frac(50) / 2;
  w.cpu_low = w.cpu_high * (0.3 + 0.7 * d.frac(10));
  w.mem_high = 0.5 + d.frac(50) / 2;
  w.mem_low = w.mem_high * (0.3 + 0.7 * d.frac(10));
  return w;
}

inline std::vector<Tier> random_tiers(Dice& d) {
  std::vector<Tier> t;
  for (Tier x : {Tier::gateway, Tier::edge, Tier::cloud})
    if (d.chance(60)) t.push_back(x);
  if (t.empty()) t.push_back(d.chance(50) ? Tier::gateway : Tier::edge);
  return t;
}

inline RandomCase random_case(std::uint64_t seed) {
  Dice d(seed);
  RandomCase c;
  Policy& p = c.policy;
  p.gateway = random_watermarks(d);
  p.edge = random_watermarks(d);
  p.cloud = random_watermarks(d);
  p.cooldown_s = d.in(1, 300);
  p.max_moves_per_minute = d.chance(40) ? 0 : d.in(1, 8);
  p.lost_after_s = d.in(10, 300);
  p.on_lost = d.chance(70) ? OnLost::undeploy : OnLost::keep;
  p.rssi_threshold_dbm = static_cast<double>(d.in(-90, -60));
  p.hysteresis_db = static_cast<double>(d.in(0, 20)) / 2;
  p.roam_margin_db = static_cast<double>(d.in(0, 20)) / 2;
  p.node_stale_after_s = d.in(5, 60);

  World& w = c.world;
  std::vector<std::string> archs = {"arm64", "amd64", "arm"};
  int gws = static_cast<int>(d.in(1, 10)), edges = static_cast<int>(d.in(0, 3)), clouds = static_cast<int>(d.in(0, 2));
  auto add_node = [&](std::string name, Tier tier) {
    Node n = node(std::move(name), tier, tier == Tier::gateway && d.chance(75) ? "arm64" : d.pick(archs),
                  d.in(1, 40) * 100, d.in(1, 32) * 256 * kMi);
    n.ready = d.chance(92);
    if (d.chance(60)) n.last_heartbeat_ms = c.now - (d.chance(90) ? d.in(0, 4) : d.in(0, 70)) * 1000;
    if (d.chance(50)) n.labels["zone"] = d.chance(50) ? "a" : "b";
    double busy = d.chance(30) ? 0.05 : 0.8;  // some nodes idle enough to bring functions back
    n.usage = {static_cast<std::int64_t>(static_cast<double>(n.capacity.cpu_millis) * d.frac() * busy),
               static_cast<std::int64_t>(static_cast<double>(n.capacity.memory_bytes) * d.frac() * busy)};
    w.nodes.push_back(std::move(n));
  };
  for (int i = 0; i < gws; ++i) add_node("gw-" + std::to_string(i), Tier::gateway);
  for (int i = 0; i < edges; ++i) add_node("edge-" + std::to_string(i), Tier::edge);
  for (int i = 0; i < clouds; ++i) add_node("cloud-" + std::to_string(i), Tier::cloud);

  int ntempl = static_cast<int>(d.in(1, 4));
  for (int i = 0; i < ntempl; ++i) {
    FunctionTemplate t;
    t.name = "t" + std::to_string(i);
    t.requests = {d.in(0, 10) * 50, d.in(0, 4) * 64 * kMi};
    for (const auto& a : archs)
      if (d.chance(60)) t.archs.push_back(a);
    if (t.archs.empty()) t.archs.push_back("arm64");
    t.tiers = random_tiers(d);
    t.near_device = d.chance(60);
    if (d.chance(10)) t.node_selector["zone"] = "a";
    t.move_cost = static_cast<std::int32_t>(d.in(0, 3));
    w.templates.push_back(std::move(t));
    if (d.chance(15)) p.templates[w.templates.back().name].tiers = random_tiers(d);
  }

  int ndev = static_cast<int>(d.in(0, 16));
  for (int i = 0; i < ndev; ++i) {
    Device dev;
    dev.id = "d" + std::to_string(i);
    for (int g = 0; g < gws; ++g)
      if (d.chance(40))
        dev.sightings.push_back(DeviceSighting{"gw-" + std::to_string(g), static_cast<double>(d.in(-200, -80)) / 2,
                                               c.now - (d.chance(85) ? d.in(0, 20) : d.in(0, 300)) * 1000});
    if (d.chance(5)) dev.sightings.push_back(DeviceSighting{"gw-ghost", -50, c.now});
    if (edges > 0 && d.chance(5)) dev.sightings.push_back(DeviceSighting{"edge-0", -50, c.now});
    w.devices.push_back(std::move(dev));
  }

  auto add_function = [&](std::string id, std::string device) {
    Function f;
    f.id = std::move(id);
    f.template_name = d.pick(w.templates).name;
    f.device = std::move(device);
    int where = static_cast<int>(d.in(0, 99));
    if (where < 40) {
      f.node = d.pick(w.nodes).name;
    } else if (where < 65) {  // near its device: on a gateway that hears it, or an edge above it
      const Device* dev = nullptr;
      for (const auto& x : w.devices)
        if (x.id == f.device) dev = &x;
      if (dev && !dev->sightings.empty() && d.chance(70)) f.node = d.pick(dev->sightings).gateway;
      else f.node = d.pick(w.nodes).name;
    }
    else if (where < 70) f.node = "gone-node";
    if (d.chance(50)) f.last_move_ms = c.now - d.in(0, 400) * 1000;
    if (d.chance(20)) f.usage = Resources{d.in(0, 12) * 50, d.in(0, 10) * 64 * kMi};
    f.pinned = d.chance(4);
    if (d.chance(4)) p.pinned.push_back(f.id);
    // Its load is part of its node's measured usage.
    for (auto& n : w.nodes)
      if (n.name == f.node) {
        for (const auto& t : w.templates)
          if (t.name == f.template_name) {
            Resources l = t.requests;
            if (f.usage) {
              l.cpu_millis = std::max(l.cpu_millis, f.usage->cpu_millis);
              l.memory_bytes = std::max(l.memory_bytes, f.usage->memory_bytes);
            }
            n.usage.cpu_millis += l.cpu_millis;
            n.usage.memory_bytes += l.memory_bytes;
          }
      }
    w.functions.push_back(std::move(f));
  };
  int fi = 0;
  for (const auto& dev : std::vector<Device>(w.devices)) {
    int k = static_cast<int>(d.in(0, 3));
    for (int j = 0; j < k; ++j) add_function("f" + std::to_string(fi++), dev.id);
  }
  int loose = static_cast<int>(d.in(0, 5));
  for (int j = 0; j < loose; ++j) add_function("f" + std::to_string(fi++), d.chance(20) ? "ghost-device" : "");
  int moves = static_cast<int>(d.in(0, 5));
  for (int j = 0; j < moves; ++j) w.recent_moves_ms.push_back(c.now - d.in(0, 90) * 1000);
  return c;
}

}  // namespace c4i::placement::testing
