// JSON forms of the policy, the world and decisions (placement.hpp). Decoding
// never throws: every field is type-checked before it is read, unknown
// fields are errors, and the first problem is reported with its path.
#include <cmath>
#include <initializer_list>
#include <limits>

#include <nlohmann/json.hpp>

#include "placement/format.hpp"
#include "placement/placement.hpp"

namespace c4i::placement {

using nlohmann::json;

namespace {

// Walks a JSON document, remembering the first error (code + "path: what").
class Reader {
 public:
  explicit Reader(std::string code) : code_(std::move(code)) {}
  bool failed() const { return error_.has_value(); }
  Error error() const { return *error_; }
  void fail(const std::string& path, const std::string& what) {
    if (!error_) error_ = Error{code_, (path.empty() ? std::string("(document)") : path) + ": " + what};
  }
  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  static std::string at(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

  bool object(const json& j, const std::string& path, std::initializer_list<std::string_view> allowed) {
    if (failed()) return false;
    if (!j.is_object()) {
      fail(path, "must be an object");
      return false;
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool known = false;
      for (auto a : allowed) known = known || a == it.key();
      if (!known) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(join(path, it.key()), "unknown field (expected one of: " + list + ")");
        return false;
      }
    }
    return true;
  }

  // The member `key` of object j, or nullptr when absent (or null).
  static const json* member(const json& j, std::string_view key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return nullptr;
    return &*it;
  }
  const json* required(const json& j, const std::string& path, std::string_view key) {
    const json* m = member(j, key);
    if (!m) fail(join(path, key), "is required");
    return m;
  }

  bool integer(const json& v, const std::string& path, std::int64_t& out, std::int64_t lo, std::int64_t hi) {
    if (failed()) return false;
    std::int64_t x = 0;
    if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
        return false;
      }
      x = static_cast<std::int64_t>(u);
    } else if (v.is_number_integer()) {
      x = v.get<std::int64_t>();
    } else {
      fail(path, "must be an integer");
      return false;
    }
    if (x < lo || x > hi) {
      fail(path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::to_string(x));
      return false;
    }
    out = x;
    return true;
  }
  bool number(const json& v, const std::string& path, double& out) {
    if (failed()) return false;
    if (!v.is_number()) {
      fail(path, "must be a number");
      return false;
    }
    double x = v.get<double>();
    if (!std::isfinite(x)) {
      fail(path, "must be a finite number");
      return false;
    }
    out = x;
    return true;
  }
  bool string(const json& v, const std::string& path, std::string& out) {
    if (failed()) return false;
    if (!v.is_string()) {
      fail(path, "must be a string");
      return false;
    }
    out = v.get<std::string>();
    return true;
  }
  bool boolean(const json& v, const std::string& path, bool& out) {
    if (failed()) return false;
    if (!v.is_boolean()) {
      fail(path, "must be true or false");
      return false;
    }
    out = v.get<bool>();
    return true;
  }
  bool array(const json& v, const std::string& path) {
    if (failed()) return false;
    if (!v.is_array()) {
      fail(path, "must be an array");
      return false;
    }
    return true;
  }

  // Optional members, keeping `out` when absent.
  void opt_integer(const json& j, const std::string& path, std::string_view key, std::int64_t& out,
                   std::int64_t lo = std::numeric_limits<std::int64_t>::min(),
                   std::int64_t hi = std::numeric_limits<std::int64_t>::max()) {
    if (const json* m = member(j, key)) integer(*m, join(path, key), out, lo, hi);
  }
  void opt_number(const json& j, const std::string& path, std::string_view key, double& out) {
    if (const json* m = member(j, key)) number(*m, join(path, key), out);
  }
  void opt_string(const json& j, const std::string& path, std::string_view key, std::string& out) {
    if (const json* m = member(j, key)) string(*m, join(path, key), out);
  }
  void opt_bool(const json& j, const std::string& path, std::string_view key, bool& out) {
    if (const json* m = member(j, key)) boolean(*m, join(path, key), out);
  }
  void req_string(const json& j, const std::string& path, std::string_view key, std::string& out) {
    if (const json* m = required(j, path, key)) string(*m, join(path, key), out);
  }

  void tier(const json& v, const std::string& path, Tier& out) {
    std::string s;
    if (!string(v, path, s)) return;
    auto t = tier_from_string(s);
    if (!t) return fail(path, "must be one of gateway, edge, cloud, got " + s);
    out = *t;
  }
  void tiers(const json& v, const std::string& path, std::vector<Tier>& out) {
    if (!array(v, path)) return;
    out.clear();
    for (std::size_t i = 0; i < v.size() && !failed(); ++i) {
      Tier t = Tier::gateway;
      tier(v[i], at(path, i), t);
      out.push_back(t);
    }
  }
  void strings(const json& v, const std::string& path, std::vector<std::string>& out) {
    if (!array(v, path)) return;
    out.clear();
    for (std::size_t i = 0; i < v.size() && !failed(); ++i) {
      std::string s;
      string(v[i], at(path, i), s);
      out.push_back(std::move(s));
    }
  }
  void labels(const json& v, const std::string& path, std::map<std::string, std::string>& out) {
    if (failed()) return;
    if (!v.is_object()) return fail(path, "must be an object of strings");
    for (auto it = v.begin(); it != v.end() && !failed(); ++it) {
      std::string s;
      string(it.value(), join(path, it.key()), s);
      out[it.key()] = std::move(s);
    }
  }
  void resources(const json& v, const std::string& path, Resources& out) {
    if (!object(v, path, {"cpu_millis", "memory_bytes"})) return;
    constexpr std::int64_t kMax = std::int64_t{1} << 53;  // far above any machine, far below overflow in sums
    opt_integer(v, path, "cpu_millis", out.cpu_millis, 0, kMax);
    opt_integer(v, path, "memory_bytes", out.memory_bytes, 0, kMax);
  }

 private:
  std::string code_;
  std::optional<Error> error_;
};

void read_watermarks(Reader& r, const json& j, const std::string& path, Watermarks& w) {
  if (!r.object(j, path, {"cpu_high", "cpu_low", "mem_high", "mem_low"})) return;
  r.opt_number(j, path, "cpu_high", w.cpu_high);
  r.opt_number(j, path, "cpu_low", w.cpu_low);
  r.opt_number(j, path, "mem_high", w.mem_high);
  r.opt_number(j, path, "mem_low", w.mem_low);
}

json resources_json(const Resources& r) { return json{{"cpu_millis", r.cpu_millis}, {"memory_bytes", r.memory_bytes}}; }

json tiers_json(const std::vector<Tier>& tiers) {
  json a = json::array();
  for (Tier t : tiers) a.push_back(std::string(to_string(t)));
  return a;
}

json watermarks_json(const Watermarks& w) {
  return json{{"cpu_high", w.cpu_high}, {"cpu_low", w.cpu_low}, {"mem_high", w.mem_high}, {"mem_low", w.mem_low}};
}

std::optional<json> parse_text(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace

// ------------------------------------------------------------------ policy

Result<Policy> policy_from_json(const json& j) {
  Reader r("invalid_policy");
  Policy p;
  const std::string root;
  if (!r.object(j, root,
                {"tiers", "cooldown_s", "max_moves_per_minute", "templates", "pinned", "lost_after_s", "on_lost",
                 "rssi_threshold_dbm", "hysteresis_db", "roam_margin_db", "node_stale_after_s"}))
    return r.error();
  if (const json* t = Reader::member(j, "tiers")) {
    if (r.object(*t, "tiers", {"gateway", "edge", "cloud"})) {
      for (Tier tier : {Tier::gateway, Tier::edge, Tier::cloud}) {
        std::string name(to_string(tier));
        if (const json* w = Reader::member(*t, name)) read_watermarks(r, *w, "tiers." + name, p.tier(tier));
      }
    }
  }
  r.opt_integer(j, root, "cooldown_s", p.cooldown_s);
  r.opt_integer(j, root, "max_moves_per_minute", p.max_moves_per_minute);
  if (const json* t = Reader::member(j, "templates")) {
    if (!t->is_object()) {
      r.fail("templates", "must be an object");
    } else {
      for (auto it = t->begin(); it != t->end() && !r.failed(); ++it) {
        std::string path = "templates." + it.key();
        if (!r.object(it.value(), path, {"tiers"})) break;
        TemplatePolicy tp;
        if (const json* tl = r.required(it.value(), path, "tiers")) r.tiers(*tl, path + ".tiers", tp.tiers);
        p.templates[it.key()] = std::move(tp);
      }
    }
  }
  if (const json* pn = Reader::member(j, "pinned")) r.strings(*pn, "pinned", p.pinned);
  r.opt_integer(j, root, "lost_after_s", p.lost_after_s);
  if (const json* o = Reader::member(j, "on_lost")) {
    std::string s;
    if (r.string(*o, "on_lost", s)) {
      if (s == "undeploy") p.on_lost = OnLost::undeploy;
      else if (s == "keep") p.on_lost = OnLost::keep;
      else r.fail("on_lost", "must be one of undeploy, keep, got " + s);
    }
  }
  r.opt_number(j, root, "rssi_threshold_dbm", p.rssi_threshold_dbm);
  r.opt_number(j, root, "hysteresis_db", p.hysteresis_db);
  r.opt_number(j, root, "roam_margin_db", p.roam_margin_db);
  r.opt_integer(j, root, "node_stale_after_s", p.node_stale_after_s);
  if (r.failed()) return r.error();
  if (auto e = validate(p); !e) return e.error();
  return p;
}

Result<Policy> policy_from_json_text(std::string_view text) {
  auto j = parse_text(text);
  if (!j) return Error{"invalid_policy", "(document): not valid JSON"};
  return policy_from_json(*j);
}

json to_json(const Policy& p) {
  json templates = json::object();
  for (const auto& [name, tp] : p.templates) templates[name] = json{{"tiers", tiers_json(tp.tiers)}};
  return json{{"tiers",
               {{"gateway", watermarks_json(p.gateway)}, {"edge", watermarks_json(p.edge)}, {"cloud", watermarks_json(p.cloud)}}},
              {"cooldown_s", p.cooldown_s},
              {"max_moves_per_minute", p.max_moves_per_minute},
              {"templates", templates},
              {"pinned", p.pinned},
              {"lost_after_s", p.lost_after_s},
              {"on_lost", std::string(to_string(p.on_lost))},
              {"rssi_threshold_dbm", p.rssi_threshold_dbm},
              {"hysteresis_db", p.hysteresis_db},
              {"roam_margin_db", p.roam_margin_db},
              {"node_stale_after_s", p.node_stale_after_s}};
}

// ------------------------------------------------------------------ world

Result<World> world_from_json(const json& j) {
  Reader r("invalid_world");
  World w;
  const std::string root;
  if (!r.object(j, root, {"nodes", "devices", "templates", "functions", "recent_moves_ms"})) return r.error();

  if (const json* a = Reader::member(j, "nodes"); a && r.array(*a, "nodes")) {
    for (std::size_t i = 0; i < a->size() && !r.failed(); ++i) {
      const json& v = (*a)[i];
      std::string path = Reader::at("nodes", i);
      if (!r.object(v, path, {"name", "tier", "arch", "labels", "capacity", "usage", "ready", "last_heartbeat_ms"}))
        break;
      Node n;
      r.req_string(v, path, "name", n.name);
      if (const json* t = r.required(v, path, "tier")) r.tier(*t, path + ".tier", n.tier);
      r.req_string(v, path, "arch", n.arch);
      if (const json* l = Reader::member(v, "labels")) r.labels(*l, path + ".labels", n.labels);
      if (const json* c = r.required(v, path, "capacity")) r.resources(*c, path + ".capacity", n.capacity);
      if (const json* u = Reader::member(v, "usage")) r.resources(*u, path + ".usage", n.usage);
      r.opt_bool(v, path, "ready", n.ready);
      if (const json* h = Reader::member(v, "last_heartbeat_ms")) {
        std::int64_t t = 0;
        if (r.integer(*h, path + ".last_heartbeat_ms", t, std::numeric_limits<std::int64_t>::min() / 4,
                      std::numeric_limits<std::int64_t>::max() / 4))
          n.last_heartbeat_ms = t;
      }
      w.nodes.push_back(std::move(n));
    }
  }
  if (const json* a = Reader::member(j, "devices"); a && r.array(*a, "devices")) {
    for (std::size_t i = 0; i < a->size() && !r.failed(); ++i) {
      const json& v = (*a)[i];
      std::string path = Reader::at("devices", i);
      if (!r.object(v, path, {"id", "sightings"})) break;
      Device d;
      r.req_string(v, path, "id", d.id);
      if (const json* s = Reader::member(v, "sightings"); s && r.array(*s, path + ".sightings")) {
        for (std::size_t k = 0; k < s->size() && !r.failed(); ++k) {
          const json& sv = (*s)[k];
          std::string sp = Reader::at(path + ".sightings", k);
          if (!r.object(sv, sp, {"gateway", "rssi_dbm", "last_seen_ms"})) break;
          DeviceSighting ds;
          r.req_string(sv, sp, "gateway", ds.gateway);
          if (const json* x = r.required(sv, sp, "rssi_dbm")) r.number(*x, sp + ".rssi_dbm", ds.rssi_dbm);
          if (const json* x = r.required(sv, sp, "last_seen_ms"))
            r.integer(*x, sp + ".last_seen_ms", ds.last_seen_ms, std::numeric_limits<std::int64_t>::min() / 4,
                      std::numeric_limits<std::int64_t>::max() / 4);
          d.sightings.push_back(std::move(ds));
        }
      }
      w.devices.push_back(std::move(d));
    }
  }
  if (const json* a = Reader::member(j, "templates"); a && r.array(*a, "templates")) {
    for (std::size_t i = 0; i < a->size() && !r.failed(); ++i) {
      const json& v = (*a)[i];
      std::string path = Reader::at("templates", i);
      if (!r.object(v, path, {"name", "requests", "archs", "tiers", "near_device", "node_selector", "move_cost"})) break;
      FunctionTemplate t;
      r.req_string(v, path, "name", t.name);
      if (const json* x = r.required(v, path, "requests")) r.resources(*x, path + ".requests", t.requests);
      if (const json* x = r.required(v, path, "archs")) r.strings(*x, path + ".archs", t.archs);
      if (const json* x = r.required(v, path, "tiers")) r.tiers(*x, path + ".tiers", t.tiers);
      r.opt_bool(v, path, "near_device", t.near_device);
      if (const json* x = Reader::member(v, "node_selector")) r.labels(*x, path + ".node_selector", t.node_selector);
      std::int64_t cost = t.move_cost;
      r.opt_integer(v, path, "move_cost", cost, -1000000, 1000000);
      t.move_cost = static_cast<std::int32_t>(cost);
      w.templates.push_back(std::move(t));
    }
  }
  if (const json* a = Reader::member(j, "functions"); a && r.array(*a, "functions")) {
    for (std::size_t i = 0; i < a->size() && !r.failed(); ++i) {
      const json& v = (*a)[i];
      std::string path = Reader::at("functions", i);
      if (!r.object(v, path, {"id", "template", "device", "node", "pinned", "last_move_ms", "usage"})) break;
      Function f;
      r.req_string(v, path, "id", f.id);
      r.req_string(v, path, "template", f.template_name);
      r.opt_string(v, path, "device", f.device);
      r.opt_string(v, path, "node", f.node);
      r.opt_bool(v, path, "pinned", f.pinned);
      if (const json* x = Reader::member(v, "last_move_ms")) {
        std::int64_t t = 0;
        if (r.integer(*x, path + ".last_move_ms", t, std::numeric_limits<std::int64_t>::min() / 4,
                      std::numeric_limits<std::int64_t>::max() / 4))
          f.last_move_ms = t;
      }
      if (const json* x = Reader::member(v, "usage")) {
        Resources u;
        r.resources(*x, path + ".usage", u);
        f.usage = u;
      }
      w.functions.push_back(std::move(f));
    }
  }
  if (const json* a = Reader::member(j, "recent_moves_ms"); a && r.array(*a, "recent_moves_ms")) {
    for (std::size_t i = 0; i < a->size() && !r.failed(); ++i) {
      std::int64_t t = 0;
      if (r.integer((*a)[i], Reader::at("recent_moves_ms", i), t, std::numeric_limits<std::int64_t>::min() / 4,
                    std::numeric_limits<std::int64_t>::max() / 4))
        w.recent_moves_ms.push_back(t);
    }
  }
  if (r.failed()) return r.error();
  if (auto s = validate(w); !s) return s.error();
  return w;
}

Result<World> world_from_json_text(std::string_view text) {
  auto j = parse_text(text);
  if (!j) return Error{"invalid_world", "(document): not valid JSON"};
  return world_from_json(*j);
}

json to_json(const World& w) {
  json nodes = json::array();
  for (const Node& n : w.nodes) {
    json o{{"name", n.name},         {"tier", std::string(to_string(n.tier))},
           {"arch", n.arch},         {"labels", n.labels},
           {"capacity", resources_json(n.capacity)}, {"usage", resources_json(n.usage)},
           {"ready", n.ready}};
    if (n.labels.empty()) o["labels"] = json::object();
    if (n.last_heartbeat_ms) o["last_heartbeat_ms"] = *n.last_heartbeat_ms;
    nodes.push_back(std::move(o));
  }
  json devices = json::array();
  for (const Device& d : w.devices) {
    json s = json::array();
    for (const auto& x : d.sightings)
      s.push_back(json{{"gateway", x.gateway}, {"rssi_dbm", x.rssi_dbm}, {"last_seen_ms", x.last_seen_ms}});
    devices.push_back(json{{"id", d.id}, {"sightings", std::move(s)}});
  }
  json templates = json::array();
  for (const FunctionTemplate& t : w.templates) {
    json o{{"name", t.name},          {"requests", resources_json(t.requests)}, {"archs", t.archs},
           {"tiers", tiers_json(t.tiers)}, {"near_device", t.near_device},          {"node_selector", t.node_selector},
           {"move_cost", t.move_cost}};
    if (t.node_selector.empty()) o["node_selector"] = json::object();
    templates.push_back(std::move(o));
  }
  json functions = json::array();
  for (const Function& f : w.functions) {
    json o{{"id", f.id}, {"template", f.template_name}, {"device", f.device}, {"node", f.node}, {"pinned", f.pinned}};
    if (f.last_move_ms) o["last_move_ms"] = *f.last_move_ms;
    if (f.usage) o["usage"] = resources_json(*f.usage);
    functions.push_back(std::move(o));
  }
  return json{{"nodes", std::move(nodes)},
              {"devices", std::move(devices)},
              {"templates", std::move(templates)},
              {"functions", std::move(functions)},
              {"recent_moves_ms", w.recent_moves_ms}};
}

// ------------------------------------------------------------------ decisions

Result<Decision> decision_from_json(const json& j) {
  Reader r("invalid_decision");
  Decision d;
  const std::string root;
  if (!r.object(j, root, {"function", "from", "to", "kind", "reason"})) return r.error();
  r.req_string(j, root, "function", d.function);
  r.opt_string(j, root, "from", d.from);
  r.opt_string(j, root, "to", d.to);
  std::string kind;
  if (const json* k = r.required(j, root, "kind"); k && r.string(*k, "kind", kind)) {
    if (auto dk = decision_kind_from_string(kind)) d.kind = *dk;
    else r.fail("kind", "must be one of place, roam, offload_up, bring_down, undeploy, stay, got " + kind);
  }
  r.opt_string(j, root, "reason", d.reason);
  if (r.failed()) return r.error();
  if (d.function.empty()) return Error{"invalid_decision", "function: must not be empty"};
  return d;
}

json to_json(const Decision& d) {
  return json{{"function", d.function}, {"from", d.from}, {"to", d.to}, {"kind", std::string(to_string(d.kind))},
              {"reason", d.reason}};
}

json to_json(const std::vector<Decision>& ds) {
  json a = json::array();
  for (const auto& d : ds) a.push_back(to_json(d));
  return a;
}

json to_json(const PlanStats& s) {
  return json{{"functions", s.functions},
              {"nodes_unavailable", s.nodes_unavailable},
              {"sightings_ignored", s.sightings_ignored},
              {"unplaceable", s.unplaceable},
              {"held_by_cooldown", s.held_by_cooldown},
              {"held_by_budget", s.held_by_budget},
              {"held_by_pin", s.held_by_pin},
              {"devices_lost", s.devices_lost}};
}

}  // namespace c4i::placement
