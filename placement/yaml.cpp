// The YAML form of the policy, read through common/config.hpp so that every
// error names the field and file:line, the whole-policy checks included.
#include <nlohmann/json.hpp>

#include "common/config.hpp"
#include "placement/format.hpp"
#include "placement/placement.hpp"

namespace c4i::placement {

namespace {

void read_watermarks(const config::Node& n, Watermarks& w) {
  n.reject_unknown({"cpu_high", "cpu_low", "mem_high", "mem_low"});
  w.cpu_high = n.number_in_or("cpu_high", 0, 1, w.cpu_high);
  w.cpu_low = n.number_in_or("cpu_low", 0, 1, w.cpu_low);
  w.mem_high = n.number_in_or("mem_high", 0, 1, w.mem_high);
  w.mem_low = n.number_in_or("mem_low", 0, 1, w.mem_low);
}

std::vector<Tier> read_tiers(const config::Node& n) {
  std::vector<Tier> out;
  for (const auto& item : n.items()) out.push_back(*tier_from_string(item.one_of({"gateway", "edge", "cloud"})));
  return out;
}

// The node a policy field path ("tiers.gateway.cpu_low", "pinned[2]") names,
// or the deepest one present, so a whole-policy error points at a line.
config::Node locate(const config::Node& root, const std::string& field) {
  config::Node at = root;
  std::size_t i = 0;
  while (i < field.size()) {
    std::size_t end = field.find_first_of(".[", i);
    std::string key = field.substr(i, end == std::string::npos ? std::string::npos : end - i);
    if (!key.empty()) {
      if (!at.is_map()) return at;
      auto c = at.optional_child(key);
      if (!c) return at;
      at = *c;
    }
    if (end == std::string::npos) break;
    if (field[end] == '[') {
      std::size_t close = field.find(']', end);
      if (close == std::string::npos) return at;
      std::size_t idx = std::stoul(field.substr(end + 1, close - end - 1));
      if (!at.is_sequence()) return at;
      auto items = at.items();
      if (idx >= items.size()) return at;
      at = items[idx];
      i = close + 1;
      if (i < field.size() && field[i] == '.') ++i;
    } else {
      i = end + 1;
    }
  }
  return at;
}

// A JSON string literal is a valid YAML double-quoted scalar.
std::string quote(const std::string& s) { return nlohmann::json(s).dump(); }

}  // namespace

Result<Policy> policy_from_yaml(const config::Node& root) {
  return config::parse(root, [](const config::Node& n) -> Policy {
    Policy p;
    if (n.is_null()) return p;
    if (!n.is_map()) n.fail("must be a mapping");
    n.reject_unknown({"tiers", "cooldown_s", "max_moves_per_minute", "templates", "pinned", "lost_after_s", "on_lost",
                      "rssi_threshold_dbm", "hysteresis_db", "roam_margin_db", "node_stale_after_s"});
    if (auto t = n.optional_child("tiers")) {
      t->reject_unknown({"gateway", "edge", "cloud"});
      for (Tier tier : {Tier::gateway, Tier::edge, Tier::cloud})
        if (auto w = t->optional_child(to_string(tier))) read_watermarks(*w, p.tier(tier));
    }
    p.cooldown_s = n.integer_in_or("cooldown_s", 1, 604800, p.cooldown_s);
    p.max_moves_per_minute = n.integer_in_or("max_moves_per_minute", 0, 1000000, p.max_moves_per_minute);
    if (auto t = n.optional_child("templates")) {
      for (auto& [name, tn] : t->entries()) {
        tn.reject_unknown({"tiers"});
        p.templates[name].tiers = read_tiers(tn.child("tiers"));
      }
    }
    if (auto pn = n.optional_child("pinned"))
      for (const auto& item : pn->items()) p.pinned.push_back(item.str());
    p.lost_after_s = n.integer_in_or("lost_after_s", 1, 31536000, p.lost_after_s);
    if (auto o = n.optional_child("on_lost")) p.on_lost = o->one_of({"undeploy", "keep"}) == "keep" ? OnLost::keep : OnLost::undeploy;
    p.rssi_threshold_dbm = n.number_in_or("rssi_threshold_dbm", -127, 20, p.rssi_threshold_dbm);
    p.hysteresis_db = n.number_in_or("hysteresis_db", 0, 100, p.hysteresis_db);
    p.roam_margin_db = n.number_in_or("roam_margin_db", 0, 100, p.roam_margin_db);
    p.node_stale_after_s = n.integer_in_or("node_stale_after_s", 1, 31536000, p.node_stale_after_s);
    if (auto e = find_policy_error(p)) locate(n, e->field).fail(e->message);
    return p;
  });
}

std::string policy_to_yaml(const Policy& p) {
  using detail::shortest;
  std::string y;
  y += "tiers:\n";
  for (Tier t : {Tier::gateway, Tier::edge, Tier::cloud}) {
    const Watermarks& w = p.tier(t);
    y += "  " + std::string(to_string(t)) + ":\n";
    y += "    cpu_high: " + shortest(w.cpu_high) + "\n";
    y += "    cpu_low: " + shortest(w.cpu_low) + "\n";
    y += "    mem_high: " + shortest(w.mem_high) + "\n";
    y += "    mem_low: " + shortest(w.mem_low) + "\n";
  }
  y += "cooldown_s: " + std::to_string(p.cooldown_s) + "\n";
  y += "max_moves_per_minute: " + std::to_string(p.max_moves_per_minute) + "\n";
  if (p.templates.empty()) {
    y += "templates: {}\n";
  } else {
    y += "templates:\n";
    for (const auto& [name, tp] : p.templates) {
      y += "  " + quote(name) + ":\n    tiers: [";
      for (std::size_t i = 0; i < tp.tiers.size(); ++i) y += (i ? ", " : "") + std::string(to_string(tp.tiers[i]));
      y += "]\n";
    }
  }
  if (p.pinned.empty()) {
    y += "pinned: []\n";
  } else {
    y += "pinned:\n";
    for (const auto& id : p.pinned) y += "  - " + quote(id) + "\n";
  }
  y += "lost_after_s: " + std::to_string(p.lost_after_s) + "\n";
  y += "on_lost: " + std::string(to_string(p.on_lost)) + "\n";
  y += "rssi_threshold_dbm: " + shortest(p.rssi_threshold_dbm) + "\n";
  y += "hysteresis_db: " + shortest(p.hysteresis_db) + "\n";
  y += "roam_margin_db: " + shortest(p.roam_margin_db) + "\n";
  y += "node_stale_after_s: " + std::to_string(p.node_stale_after_s) + "\n";
  return y;
}

}  // namespace c4i::placement
