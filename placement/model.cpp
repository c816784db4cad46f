// The model's small pieces: names of enums, policy and world validation, and
// apply_decisions (the value form of Planner::apply).
#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "placement/format.hpp"
#include "placement/placement.hpp"

namespace c4i::placement {

using detail::shortest;

std::string_view to_string(Tier t) {
  switch (t) {
    case Tier::gateway: return "gateway";
    case Tier::edge: return "edge";
    case Tier::cloud: return "cloud";
  }
  return "?";
}

std::optional<Tier> tier_from_string(std::string_view s) {
  if (s == "gateway") return Tier::gateway;
  if (s == "edge") return Tier::edge;
  if (s == "cloud") return Tier::cloud;
  return std::nullopt;
}

std::string_view to_string(DecisionKind k) {
  switch (k) {
    case DecisionKind::place: return "place";
    case DecisionKind::roam: return "roam";
    case DecisionKind::offload_up: return "offload_up";
    case DecisionKind::bring_down: return "bring_down";
    case DecisionKind::undeploy: return "undeploy";
    case DecisionKind::stay: return "stay";
  }
  return "?";
}

std::optional<DecisionKind> decision_kind_from_string(std::string_view s) {
  for (auto k : {DecisionKind::place, DecisionKind::roam, DecisionKind::offload_up, DecisionKind::bring_down,
                 DecisionKind::undeploy, DecisionKind::stay})
    if (to_string(k) == s) return k;
  return std::nullopt;
}

bool is_counted_move(DecisionKind k) {
  return k == DecisionKind::roam || k == DecisionKind::offload_up || k == DecisionKind::bring_down;
}

std::string_view to_string(OnLost o) { return o == OnLost::keep ? "keep" : "undeploy"; }

const Watermarks& Policy::tier(Tier t) const {
  switch (t) {
    case Tier::gateway: return gateway;
    case Tier::edge: return edge;
    case Tier::cloud: return cloud;
  }
  throw std::logic_error("bad tier");
}
Watermarks& Policy::tier(Tier t) { return const_cast<Watermarks&>(static_cast<const Policy*>(this)->tier(t)); }

namespace {

// Tiers of a template: non-empty, distinct, going up.
std::optional<std::string> tier_list_error(const std::vector<Tier>& tiers) {
  if (tiers.empty()) return "must name at least one tier";
  for (std::size_t i = 1; i < tiers.size(); ++i) {
    if (tiers[i] == tiers[i - 1] || std::find(tiers.begin(), tiers.begin() + static_cast<long>(i), tiers[i]) !=
                                        tiers.begin() + static_cast<long>(i))
      return "names " + std::string(to_string(tiers[i])) + " twice";
    if (static_cast<int>(tiers[i]) < static_cast<int>(tiers[i - 1]))
      return "must go up (gateway before edge before cloud), got " + std::string(to_string(tiers[i - 1])) +
             " before " + std::string(to_string(tiers[i]));
  }
  return std::nullopt;
}

}  // namespace

std::optional<FieldError> find_policy_error(const Policy& p) {
  for (Tier t : {Tier::gateway, Tier::edge, Tier::cloud}) {
    const Watermarks& w = p.tier(t);
    std::string base = "tiers." + std::string(to_string(t)) + ".";
    struct F {
      const char* name;
      double v;
    };
    for (F f : {F{"cpu_high", w.cpu_high}, F{"cpu_low", w.cpu_low}, F{"mem_high", w.mem_high},
                F{"mem_low", w.mem_low}}) {
      if (!std::isfinite(f.v) || f.v < 0 || f.v > 1)
        return FieldError{base + f.name, "must be between 0 and 1, got " + shortest(f.v)};
    }
    if (w.cpu_low > w.cpu_high)
      return FieldError{base + "cpu_low",
                        "must not be above cpu_high (" + shortest(w.cpu_low) + " > " + shortest(w.cpu_high) + ")"};
    if (w.mem_low > w.mem_high)
      return FieldError{base + "mem_low",
                        "must not be above mem_high (" + shortest(w.mem_low) + " > " + shortest(w.mem_high) + ")"};
  }
  if (p.cooldown_s < 1 || p.cooldown_s > 86400 * 7)
    return FieldError{"cooldown_s", "must be between 1 and 604800, got " + std::to_string(p.cooldown_s)};
  if (p.max_moves_per_minute < 0 || p.max_moves_per_minute > 1000000)
    return FieldError{"max_moves_per_minute",
                      "must be between 0 (no limit) and 1000000, got " + std::to_string(p.max_moves_per_minute)};
  for (const auto& [name, tp] : p.templates) {
    if (name.empty()) return FieldError{"templates", "a template name must not be empty"};
    if (auto e = tier_list_error(tp.tiers)) return FieldError{"templates." + name + ".tiers", *e};
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < p.pinned.size(); ++i) {
    std::string f = "pinned[" + std::to_string(i) + "]";
    if (p.pinned[i].empty()) return FieldError{f, "must not be empty"};
    if (!seen.insert(p.pinned[i]).second) return FieldError{f, "names " + p.pinned[i] + " twice"};
  }
  if (p.lost_after_s < 1 || p.lost_after_s > 86400 * 365)
    return FieldError{"lost_after_s", "must be between 1 and 31536000, got " + std::to_string(p.lost_after_s)};
  if (!std::isfinite(p.rssi_threshold_dbm) || p.rssi_threshold_dbm < -127 || p.rssi_threshold_dbm > 20)
    return FieldError{"rssi_threshold_dbm", "must be between -127 and 20, got " + shortest(p.rssi_threshold_dbm)};
  if (!std::isfinite(p.hysteresis_db) || p.hysteresis_db < 0 || p.hysteresis_db > 100)
    return FieldError{"hysteresis_db", "must be between 0 and 100, got " + shortest(p.hysteresis_db)};
  if (!std::isfinite(p.roam_margin_db) || p.roam_margin_db < 0 || p.roam_margin_db > 100)
    return FieldError{"roam_margin_db", "must be between 0 and 100, got " + shortest(p.roam_margin_db)};
  if (p.node_stale_after_s < 1 || p.node_stale_after_s > 86400 * 365)
    return FieldError{"node_stale_after_s",
                      "must be between 1 and 31536000, got " + std::to_string(p.node_stale_after_s)};
  return std::nullopt;
}

Status validate(const Policy& policy) {
  if (auto e = find_policy_error(policy)) return Error{"invalid_policy", e->text()};
  return ok_status();
}

namespace {
Error world_error(const std::string& field, const std::string& what) { return Error{"invalid_world", field + ": " + what}; }

std::optional<std::string> resources_error(const Resources& r) {
  if (r.cpu_millis < 0) return "cpu_millis: must be >= 0, got " + std::to_string(r.cpu_millis);
  if (r.memory_bytes < 0) return "memory_bytes: must be >= 0, got " + std::to_string(r.memory_bytes);
  return std::nullopt;
}
}  // namespace

Status validate(const World& w) {
  std::unordered_set<std::string_view> names;
  for (std::size_t i = 0; i < w.nodes.size(); ++i) {
    const Node& n = w.nodes[i];
    std::string f = "nodes[" + std::to_string(i) + "]";
    if (n.name.empty()) return world_error(f + ".name", "must not be empty");
    if (!names.insert(n.name).second) return world_error(f + ".name", "duplicate node \"" + n.name + "\"");
    if (n.arch.empty()) return world_error(f + ".arch", "must not be empty");
    if (auto e = resources_error(n.capacity)) return Error{"invalid_world", f + ".capacity." + *e};
    if (auto e = resources_error(n.usage)) return Error{"invalid_world", f + ".usage." + *e};
  }
  std::unordered_set<std::string_view> dev_ids;
  for (std::size_t i = 0; i < w.devices.size(); ++i) {
    const Device& d = w.devices[i];
    std::string f = "devices[" + std::to_string(i) + "]";
    if (d.id.empty()) return world_error(f + ".id", "must not be empty");
    if (!dev_ids.insert(d.id).second) return world_error(f + ".id", "duplicate device \"" + d.id + "\"");
    std::unordered_set<std::string_view> gws;
    for (std::size_t j = 0; j < d.sightings.size(); ++j) {
      const DeviceSighting& s = d.sightings[j];
      std::string g = f + ".sightings[" + std::to_string(j) + "]";
      if (s.gateway.empty()) return world_error(g + ".gateway", "must not be empty");
      if (!gws.insert(s.gateway).second)
        return world_error(g + ".gateway", "a second sighting from \"" + s.gateway + "\"");
      if (!std::isfinite(s.rssi_dbm) || s.rssi_dbm < -127 || s.rssi_dbm > 20)
        return world_error(g + ".rssi_dbm", "must be between -127 and 20, got " + shortest(s.rssi_dbm));
    }
  }
  std::unordered_set<std::string_view> tmpl_names;
  for (std::size_t i = 0; i < w.templates.size(); ++i) {
    const FunctionTemplate& t = w.templates[i];
    std::string f = "templates[" + std::to_string(i) + "]";
    if (t.name.empty()) return world_error(f + ".name", "must not be empty");
    if (!tmpl_names.insert(t.name).second) return world_error(f + ".name", "duplicate template \"" + t.name + "\"");
    if (auto e = resources_error(t.requests)) return Error{"invalid_world", f + ".requests." + *e};
    if (t.archs.empty()) return world_error(f + ".archs", "must name at least one architecture");
    std::unordered_set<std::string_view> archs;
    for (std::size_t j = 0; j < t.archs.size(); ++j) {
      if (t.archs[j].empty()) return world_error(f + ".archs[" + std::to_string(j) + "]", "must not be empty");
      if (!archs.insert(t.archs[j]).second)
        return world_error(f + ".archs[" + std::to_string(j) + "]", "names " + t.archs[j] + " twice");
    }
    if (auto e = tier_list_error(t.tiers)) return world_error(f + ".tiers", *e);
  }
  std::unordered_set<std::string_view> fn_ids;
  for (std::size_t i = 0; i < w.functions.size(); ++i) {
    const Function& fn = w.functions[i];
    std::string f = "functions[" + std::to_string(i) + "]";
    if (fn.id.empty()) return world_error(f + ".id", "must not be empty");
    if (!fn_ids.insert(fn.id).second) return world_error(f + ".id", "duplicate function \"" + fn.id + "\"");
    if (!tmpl_names.count(fn.template_name))
      return world_error(f + ".template", "unknown template \"" + fn.template_name + "\"");
    if (fn.usage)
      if (auto e = resources_error(*fn.usage)) return Error{"invalid_world", f + ".usage." + *e};
  }
  return ok_status();
}

std::size_t apply_decisions(World& world, const std::vector<Decision>& decisions, Millis now_ms) {
  std::unordered_map<std::string_view, std::size_t> node_at, fn_at, tmpl_at;
  for (std::size_t i = 0; i < world.nodes.size(); ++i) node_at.emplace(world.nodes[i].name, i);
  for (std::size_t i = 0; i < world.functions.size(); ++i) fn_at.emplace(world.functions[i].id, i);
  for (std::size_t i = 0; i < world.templates.size(); ++i) tmpl_at.emplace(world.templates[i].name, i);
  std::size_t skipped = 0;
  for (const Decision& d : decisions) {
    if (d.kind == DecisionKind::stay) continue;
    auto fi = fn_at.find(d.function);
    if (fi == fn_at.end()) {
      ++skipped;
      continue;
    }
    Function& fn = world.functions[fi->second];
    auto ti = tmpl_at.find(fn.template_name);
    if (fn.node != d.from || ti == tmpl_at.end()) {
      ++skipped;
      continue;
    }
    bool undeploy = d.kind == DecisionKind::undeploy;
    auto to = undeploy ? node_at.end() : node_at.find(d.to);
    if (!undeploy && to == node_at.end()) {
      ++skipped;
      continue;
    }
    // The same accounting as Planner::apply: the load (requests, or measured
    // usage when larger) leaves `from` (not below zero) and reaches `to`.
    const Resources& rq = world.templates[ti->second].requests;
    Resources load = rq;
    if (fn.usage) {
      load.cpu_millis = std::max(load.cpu_millis, fn.usage->cpu_millis);
      load.memory_bytes = std::max(load.memory_bytes, fn.usage->memory_bytes);
    }
    if (auto from = node_at.find(d.from); from != node_at.end()) {
      Resources& u = world.nodes[from->second].usage;
      u.cpu_millis -= std::min(load.cpu_millis, u.cpu_millis);
      u.memory_bytes -= std::min(load.memory_bytes, u.memory_bytes);
    }
    if (!undeploy) {
      Resources& u = world.nodes[to->second].usage;
      u.cpu_millis += load.cpu_millis;
      u.memory_bytes += load.memory_bytes;
      fn.node = d.to;
      fn.last_move_ms = now_ms;
      if (is_counted_move(d.kind)) world.recent_moves_ms.push_back(now_ms);
    } else {
      fn.node.clear();
    }
  }
  return skipped;
}

}  // namespace c4i::placement
