// Small builders for placement tests: a world reads like the situation it sets up.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "placement/placement.hpp"

namespace c4i::placement::testing {

inline constexpr Millis kT0 = 1'763'900'000'000;  // a fixed "now"
inline constexpr std::int64_t kMi = 1024 * 1024;
inline constexpr std::int64_t kGi = 1024 * kMi;

inline Node node(std::string name, Tier tier, std::string arch = "arm64", std::int64_t cpu_m = 1000,
                 std::int64_t mem = kGi) {
  Node n;
  n.name = std::move(name);
  n.tier = tier;
  n.arch = std::move(arch);
  n.capacity = {cpu_m, mem};
  return n;
}
inline Node gateway(std::string name, std::int64_t cpu_m = 1000, std::int64_t mem = kGi, std::string arch = "arm64") {
  return node(std::move(name), Tier::gateway, std::move(arch), cpu_m, mem);
}
inline Node edge(std::string name, std::int64_t cpu_m = 8000, std::int64_t mem = 16 * kGi, std::string arch = "amd64") {
  return node(std::move(name), Tier::edge, std::move(arch), cpu_m, mem);
}
inline Node cloud(std::string name, std::int64_t cpu_m = 64000, std::int64_t mem = 256 * kGi,
                  std::string arch = "amd64") {
  return node(std::move(name), Tier::cloud, std::move(arch), cpu_m, mem);
}
inline Node with_usage(Node n, std::int64_t cpu_m, std::int64_t mem) {
  n.usage = {cpu_m, mem};
  return n;
}

// A near-device function template: 100m CPU, 64Mi, arm64 and amd64 images, gateway -> edge -> cloud.
inline FunctionTemplate near_template(std::string name = "omh", std::int64_t cpu_m = 100, std::int64_t mem = 64 * kMi) {
  FunctionTemplate t;
  t.name = std::move(name);
  t.requests = {cpu_m, mem};
  t.archs = {"arm64", "amd64"};
  t.tiers = {Tier::gateway, Tier::edge, Tier::cloud};
  t.near_device = true;
  return t;
}
// A function with no tie to a device's gateway.
inline FunctionTemplate free_template(std::string name = "engine", std::int64_t cpu_m = 100,
                                      std::int64_t mem = 64 * kMi) {
  FunctionTemplate t = near_template(std::move(name), cpu_m, mem);
  t.near_device = false;
  return t;
}

inline Device device(std::string id, std::vector<std::pair<std::string, double>> rssi, Millis seen = kT0) {
  Device d;
  d.id = std::move(id);
  for (auto& [gw, r] : rssi) d.sightings.push_back(DeviceSighting{gw, r, seen});
  return d;
}

inline Function function(std::string id, std::string tmpl, std::string dev, std::string node = "") {
  Function f;
  f.id = std::move(id);
  f.template_name = std::move(tmpl);
  f.device = std::move(dev);
  f.node = std::move(node);
  return f;
}

inline Policy test_policy() {
  Policy p;
  p.gateway = {0.85, 0.30, 0.85, 0.30};
  p.edge = {0.85, 0.30, 0.85, 0.30};
  p.cloud = {0.90, 0.50, 0.90, 0.50};
  p.cooldown_s = 60;
  p.max_moves_per_minute = 0;
  p.lost_after_s = 120;
  p.rssi_threshold_dbm = -80;
  p.hysteresis_db = 5;
  p.roam_margin_db = 6;
  return p;
}

inline Plan plan_of(const World& w, Millis now = kT0, Policy p = test_policy()) {
  Planner planner(std::move(p));
  auto r = planner.plan(w, now);
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(*r);
}

// The decisions other than stay.
inline std::vector<Decision> actions(const std::vector<Decision>& ds) {
  std::vector<Decision> out;
  for (const auto& d : ds)
    if (d.kind != DecisionKind::stay) out.push_back(d);
  return out;
}

}  // namespace c4i::placement::testing
