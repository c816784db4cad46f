#include "orchestrator/state.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace c4i::orchestrator {

using nlohmann::json;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool valid_function_id(const std::string& id) {
  // Ids name files and directories (function logs, state): ".", ".." and
  // hidden names are never ids.
  if (id.empty() || id.size() > 128 || id.front() == '.') return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

std::string default_function_id(const std::string& template_name, const std::string& device) {
  std::string d = device;
  std::replace(d.begin(), d.end(), ':', '-');
  return template_name + "-" + d;
}

namespace {

Error not_found(const std::string& what) { return Error{"not_found", what}; }
Error invalid(const std::string& what) { return Error{"invalid_argument", what}; }

json opt_int(const sqlite::Stmt& s, int col) { return s.is_null(col) ? json(nullptr) : json(s.int64(col)); }
json opt_real(const sqlite::Stmt& s, int col) { return s.is_null(col) ? json(nullptr) : json(s.real(col)); }
json parse_or(const std::string& text, json fallback) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

// Runs a statement with no rows; turns its error into a Status.
template <typename... Args>
Status run(Conn& c, const std::string& sql, Args&&... args) {
  auto& s = c.stmt(sql);
  int i = 1;
  (s.bind(i++, std::forward<Args>(args)), ...);
  return s.run();
}

// ---- row -> JSON, one SELECT column list per kind
const char* kNodeCols = "name, tier, arch, cpu_capacity_m, mem_capacity_mb, labels, source, cpu, mem, heartbeat_ms, unschedulable";
json node_json(const sqlite::Stmt& s) {
  return json{{"name", s.text(0)},
              {"tier", s.text(1)},
              {"arch", s.text(2)},
              {"cpu_capacity_m", s.int64(3)},
              {"mem_capacity_mb", s.int64(4)},
              {"labels", parse_or(s.text(5), json::object())},
              {"source", s.text(6)},
              {"usage", {{"cpu", opt_real(s, 7)}, {"mem", opt_real(s, 8)}, {"heartbeat_t", opt_int(s, 9)}}},
              {"unschedulable", s.int64(10) != 0}};
}

const char* kDeviceCols = "id, addr_type, name, services, state, gateway, rssi, first_seen_ms, last_seen_ms, lost_ms, seen_events";
json device_json(const sqlite::Stmt& s) {
  return json{{"id", s.text(0)},
              {"addr", s.text(0)},
              {"addr_type", s.text(1)},
              {"name", s.text(2)},
              {"services", parse_or(s.text(3), json::array())},
              {"state", s.text(4)},
              {"gateway", s.text(5)},
              {"rssi", opt_int(s, 6)},
              {"first_seen_t", s.int64(7)},
              {"last_seen_t", s.int64(8)},
              {"lost_t", opt_int(s, 9)},
              {"seen_events", s.int64(10)}};
}

const char* kTemplateCols = "name, spec, created_ms, created_by";
json template_json(const sqlite::Stmt& s) {
  json j = parse_or(s.text(1), json::object());
  j["name"] = s.text(0);
  j["created_t"] = s.int64(2);
  j["created_by"] = s.text(3);
  return j;
}

const char* kFunctionCols =
    "f.id, f.template, f.device, f.pinned, f.created_ms, f.created_by, f.state, f.node, f.restarts, f.last_exit, "
    "f.started_ms, f.first_data_ms, f.updated_ms, p.node, p.tier, p.kind, p.reason, p.decided_ms, p.migration";
json function_json(const sqlite::Stmt& s) {
  json desired = nullptr;
  if (!s.is_null(15))
    desired = json{{"node", s.text(13).empty() ? json(nullptr) : json(s.text(13))},
                   {"tier", s.text(14).empty() ? json(nullptr) : json(s.text(14))},
                   {"kind", s.text(15)},
                   {"reason", s.text(16)},
                   {"decided_t", s.int64(17)},
                   {"migration", opt_int(s, 18)}};
  return json{{"id", s.text(0)},
              {"template", s.text(1)},
              {"device", s.text(2)},
              {"pinned", s.int64(3) != 0},
              {"created_t", s.int64(4)},
              {"created_by", s.text(5)},
              {"state", s.text(6)},
              {"node", s.text(7).empty() ? json(nullptr) : json(s.text(7))},
              {"restarts", s.int64(8)},
              {"last_exit", s.text(9).empty() ? json(nullptr) : json(s.text(9))},
              {"started_t", opt_int(s, 10)},
              {"first_data_t", opt_int(s, 11)},
              {"updated_t", s.int64(12)},
              {"desired", desired}};
}

// The backend's finer steps as stored (a JSON object of unix ms); {} when none.
json backend_steps_json(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json::object();
}

const char* kMigrationCols =
    "id, function, kind, reason, from_node, to_node, to_tier, state, attempts, next_retry_ms, failed_step, error, "
    "requested_by, detected, notified, decided, applied, scheduled, started, first_data, updated_ms, steps";
json migration_json(const sqlite::Stmt& s) {
  json timeline = json::object();
  for (int k = 0; k < 7; ++k) timeline[kTimelineSteps[k]] = opt_int(s, 13 + k);
  json failure = nullptr;
  if (!s.text(10).empty()) failure = json{{"step", s.text(10)}, {"error", s.text(11)}};
  return json{{"id", s.int64(0)},
              {"function", s.text(1)},
              {"kind", s.text(2)},
              {"reason", s.text(3)},
              {"from", s.text(4).empty() ? json(nullptr) : json(s.text(4))},
              {"to", {{"node", s.text(5).empty() ? json(nullptr) : json(s.text(5))},
                      {"tier", s.text(6).empty() ? json(nullptr) : json(s.text(6))}}},
              {"state", s.text(7)},
              {"attempts", s.int64(8)},
              {"next_retry_t", opt_int(s, 9)},
              {"failure", failure},
              {"requested_by", s.text(12)},
              {"timeline", timeline},
              {"steps", backend_steps_json(s.text(21))},
              {"updated_t", s.int64(20)}};
}

struct KindInfo {
  const char* table;       // FROM clause
  const char* key;         // ordering key column
  const char* cols;
  json (*to_json)(const sqlite::Stmt&);
  std::vector<std::pair<std::string, std::string>> filters;  // query name -> column
  bool integer_key = false;
};

const KindInfo* kind_info(const std::string& kind) {
  static const std::map<std::string, KindInfo> kinds = {
      {"nodes", {"nodes", "name", kNodeCols, node_json, {{"tier", "tier"}, {"arch", "arch"}, {"source", "source"}}}},
      {"devices", {"devices", "id", kDeviceCols, device_json, {{"state", "state"}, {"gateway", "gateway"}}}},
      {"templates", {"templates", "name", kTemplateCols, template_json, {}}},
      {"functions",
       {"functions f LEFT JOIN placements p ON p.function = f.id", "f.id", kFunctionCols, function_json,
        {{"template", "f.template"}, {"device", "f.device"}, {"node", "f.node"}, {"state", "f.state"}}}},
      {"migrations",
       {"migrations", "id", kMigrationCols, migration_json,
        {{"function", "function"}, {"kind", "kind"}, {"state", "state"}}, true}},
  };
  auto it = kinds.find(kind);
  return it == kinds.end() ? nullptr : &it->second;
}


}  // namespace

// ---------------------------------------------------------------- start-up

Status State::sync_topology(const std::vector<BackendNode>& nodes) {
  return store_.write([&](Conn& c) -> Status {
    for (const auto& n : nodes) {
      json labels = n.labels;
      auto s = run(c,
                   "INSERT INTO nodes(name, tier, arch, cpu_capacity_m, mem_capacity_mb, labels, source) "
                   "VALUES(?, ?, ?, ?, ?, ?, 'topology') ON CONFLICT(name) DO UPDATE SET tier = excluded.tier, "
                   "arch = excluded.arch, cpu_capacity_m = excluded.cpu_capacity_m, "
                   "mem_capacity_mb = excluded.mem_capacity_mb, labels = excluded.labels, source = 'topology'",
                   n.name, n.tier, n.arch, n.cpu_capacity_m, n.mem_capacity_mb, labels.dump());
      if (!s) return s;
      c.changed("nodes", n.name, "updated");
    }
    return ok_status();
  });
}

Status State::record_node_usage(const std::vector<NodeUsage>& usage) {
  std::int64_t received = now_ms();
  return store_.write([&](Conn& c) -> Status {
    for (const auto& u : usage) {
      auto s = run(c, "UPDATE nodes SET cpu = ?2, mem = ?3, heartbeat_ms = ?4, heartbeat_notified_ms = ?5 WHERE name = ?1",
                   u.node, u.cpu, u.mem, u.t_ms, received);
      if (!s) return s;
      c.changed("nodes", u.node, "updated");
    }
    return ok_status();
  });
}

Status State::ensure_policy(const json& default_spec) {
  return store_.write([&](Conn& c) -> Status {
    auto& q = c.stmt("SELECT version FROM policy WHERE id = 1");
    StmtGuard g(q);
    auto r = q.step();
    if (!r) return r.error();
    if (*r) return ok_status();
    std::int64_t t = now_ms();
    if (auto s = run(c, "INSERT INTO policy(id, version, spec, changed_ms, changed_by) VALUES(1, 1, ?, ?, 'system')",
                     default_spec.dump(), t);
        !s)
      return s;
    if (auto s = run(c, "INSERT INTO policy_history(version, spec, changed_ms, changed_by) VALUES(1, ?, ?, 'system')",
                     default_spec.dump(), t);
        !s)
      return s;
    c.changed("policy", "1", "created");
    return ok_status();
  });
}

// ---------------------------------------------------------------- gateways

Result<BatchOutcome> State::apply_batch(const EventBatch& b, std::int64_t received_ms) {
  BatchOutcome out;
  auto st = store_.write([&](Conn& c) -> Status {
    out = BatchOutcome{};
    std::int64_t last_seq = 0;
    bool known = false;
    {
      auto& q = c.stmt("SELECT last_seq FROM gateway_streams WHERE gateway = ? AND boot_id = ?");
      StmtGuard g(q);
      q.bind(1, b.gateway).bind(2, b.boot_id);
      auto r = q.step();
      if (!r) return r.error();
      if (*r) {
        known = true;
        last_seq = q.int64(0);
      }
    }
    if (!known) {
      // A new boot_id: the gateway's history restarted, so what it last
      // reported present is unknown until it reports again.
      out.new_boot = true;
      auto& q = c.stmt("SELECT device FROM sightings WHERE gateway = ? AND present = 1");
      std::vector<std::string> devices;
      {
        StmtGuard g(q);
        q.bind(1, b.gateway);
        while (true) {
          auto r = q.step();
          if (!r) return r.error();
          if (!*r) break;
          devices.push_back(q.text(0));
        }
      }
      if (auto s = run(c, "UPDATE sightings SET present = 0 WHERE gateway = ?", b.gateway); !s) return s;
      for (const auto& d : devices) c.changed("devices", d, "updated");
    }
    std::int64_t applied = 0;
    for (const auto& e : b.events) {
      if (e.seq <= last_seq) {
        out.duplicates++;
        continue;
      }
      switch (e.type) {
        case EventType::device_seen: {
          json services = e.services;
          auto s = run(c,
                       "INSERT INTO devices(id, addr_type, name, services, state, gateway, rssi, first_seen_ms, last_seen_ms) "
                       "VALUES(?1, ?2, ?3, ?4, 'present', ?5, ?6, ?7, ?7) ON CONFLICT(id) DO UPDATE SET "
                       "addr_type = excluded.addr_type, name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE name END, "
                       "services = CASE WHEN excluded.services <> '[]' THEN excluded.services ELSE services END, "
                       "state = 'present', gateway = excluded.gateway, rssi = excluded.rssi, "
                       "last_seen_ms = max(last_seen_ms, excluded.last_seen_ms), lost_ms = NULL, seen_events = seen_events + 1",
                       e.addr, e.addr_type, e.name, services.dump(), b.gateway, e.rssi_dbm.value_or(0), e.t_ms);
          if (!s) return s;
          // A sighting's "enter" marks when the device crossed the gateway's
          // threshold (the migration's `detected`); refreshes keep it.
          s = run(c,
                  "INSERT INTO sightings(device, gateway, rssi, present, enter_t, enter_notified_ms, last_t) "
                  "VALUES(?1, ?2, ?3, 1, ?4, ?5, ?4) ON CONFLICT(device, gateway) DO UPDATE SET rssi = excluded.rssi, "
                  "enter_t = CASE WHEN present = 0 OR ?6 = 1 THEN excluded.enter_t ELSE enter_t END, "
                  "enter_notified_ms = CASE WHEN present = 0 OR ?6 = 1 THEN excluded.enter_notified_ms ELSE enter_notified_ms END, "
                  "present = 1, last_t = max(last_t, excluded.last_t)",
                  e.addr, b.gateway, e.rssi_dbm.value_or(0), e.t_ms, received_ms, e.reason == "enter" ? 1 : 0);
          if (!s) return s;
          c.changed("devices", e.addr, "updated");
          break;
        }
        case EventType::device_lost: {
          auto s = run(c, "UPDATE sightings SET present = 0, last_t = max(last_t, ?3) WHERE device = ?1 AND gateway = ?2",
                       e.addr, b.gateway, e.last_seen_t_ms.value_or(e.t_ms));
          if (!s) return s;
          // Lost everywhere: the device is gone (the policy decides what its function does).
          s = run(c,
                  "UPDATE devices SET state = 'lost', lost_ms = ?2 WHERE id = ?1 AND NOT EXISTS "
                  "(SELECT 1 FROM sightings WHERE device = ?1 AND present = 1)",
                  e.addr, e.t_ms);
          if (!s) return s;
          c.changed("devices", e.addr, "updated");
          break;
        }
        case EventType::gateway_heartbeat: {
          auto s = run(c,
                       // An enrolled gateway's node carries its bootstrap token's labels.
                       "INSERT INTO nodes(name, tier, arch, cpu_capacity_m, mem_capacity_mb, source, cpu, mem, heartbeat_ms, heartbeat_notified_ms, labels) "
                       "VALUES(?1, 'gateway', ?2, ?3, ?4, 'heartbeat', ?5, ?6, ?7, ?8, "
                       "coalesce((SELECT labels FROM gateway_identities WHERE name = ?1), '{}')) ON CONFLICT(name) DO UPDATE SET "
                       "labels = CASE WHEN source = 'heartbeat' THEN excluded.labels ELSE labels END, "
                       // A node the cluster or the topology file describes keeps their arch
                       // and capacity: a heartbeat only reports its usage.
                       "arch = CASE WHEN source = 'heartbeat' AND ?2 <> '' THEN ?2 ELSE arch END, "
                       "cpu_capacity_m = CASE WHEN source = 'heartbeat' AND ?3 > 0 THEN ?3 ELSE cpu_capacity_m END, "
                       "mem_capacity_mb = CASE WHEN source = 'heartbeat' AND ?4 > 0 THEN ?4 ELSE mem_capacity_mb END, "
                       "cpu = ?5, mem = ?6, heartbeat_ms = ?7, heartbeat_notified_ms = ?8",
                       b.gateway, e.arch, e.cpu_capacity_m, e.mem_capacity_mb, e.cpu, e.mem, e.t_ms, received_ms);
          if (!s) return s;
          c.changed("nodes", b.gateway, "updated");
          break;
        }
      }
      applied++;
      last_seq = e.seq;
    }
    auto s = run(c,
                 "INSERT INTO gateway_streams(gateway, boot_id, last_seq, events, updated_ms) VALUES(?1, ?2, ?3, ?4, ?5) "
                 "ON CONFLICT(gateway, boot_id) DO UPDATE SET last_seq = excluded.last_seq, "
                 "events = events + excluded.events, updated_ms = excluded.updated_ms",
                 b.gateway, b.boot_id, last_seq, applied, received_ms);
    if (!s) return s;
    // Not for /v1/watch: for the kubernetes backend's record of applied seqs.
    if (applied > 0) c.changed("streams", b.gateway, "updated");
    out.accepted = applied;
    out.last_seq = last_seq;
    return ok_status();
  });
  if (!st) return st.error();
  return out;
}

// ---------------------------------------------------------------- reads

Result<ListPage> State::list(const std::string& kind, const ListQuery& lq) {
  const KindInfo* k = kind_info(kind);
  if (!k) return not_found("no such collection " + kind);
  std::string sql = std::string("SELECT ") + k->cols + " FROM " + k->table + " WHERE 1";
  std::vector<std::string> binds;
  if (lq.after) {
    sql += std::string(" AND ") + k->key + " > ?";
    binds.push_back(*lq.after);
  }
  for (const auto& [name, col] : k->filters) {
    auto it = lq.filters.find(name);
    if (it == lq.filters.end()) continue;
    sql += " AND " + col + " = ?";
    binds.push_back(it->second);
  }
  sql += std::string(" ORDER BY ") + k->key + " LIMIT ?";
  ListPage page;
  auto st = store_.read([&](Conn& c) -> Status {
    auto& q = c.stmt(sql);
    StmtGuard g(q);
    int i = 1;
    for (const auto& v : binds) {
      if (k->integer_key && i == 1 && lq.after) {
        try {
          q.bind(i++, static_cast<std::int64_t>(std::stoll(v)));
        } catch (const std::exception&) {
          return invalid("continue: not a token from this list");
        }
      } else {
        q.bind(i++, v);
      }
    }
    q.bind(i, static_cast<std::int64_t>(lq.limit + 1));
    while (true) {
      auto r = q.step();
      if (!r) return r.error();
      if (!*r) break;
      if (page.items.size() == lq.limit) {
        const json& last = page.items.back();
        const json& key = last.contains("id") ? last["id"] : last["name"];
        page.next_after = key.is_string() ? key.get<std::string>() : key.dump();
        break;
      }
      page.items.push_back(k->to_json(q));
    }
    return ok_status();
  });
  if (!st) return st.error();
  return page;
}

Result<json> State::get(const std::string& kind, const std::string& id) {
  const KindInfo* k = kind_info(kind);
  if (!k) return not_found("no such collection " + kind);
  std::string sql = std::string("SELECT ") + k->cols + " FROM " + k->table + " WHERE " + k->key + " = ?";
  std::optional<json> out;
  auto st = store_.read([&](Conn& c) -> Status {
    auto& q = c.stmt(sql);
    {
      StmtGuard g(q);
      if (k->integer_key) {
        if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos) return ok_status();
        q.bind(1, static_cast<std::int64_t>(std::stoll(id)));
      } else {
        q.bind(1, id);
      }
      auto r = q.step();
      if (!r) return r.error();
      if (!*r) return ok_status();
      out = k->to_json(q);
    }
    if (kind == "devices") {
      auto& s = c.stmt("SELECT gateway, rssi, present, enter_t, last_t FROM sightings WHERE device = ? ORDER BY gateway");
      StmtGuard g(s);
      s.bind(1, id);
      json list = json::array();
      while (true) {
        auto r = s.step();
        if (!r) return r.error();
        if (!*r) break;
        list.push_back({{"gateway", s.text(0)}, {"rssi", s.int64(1)}, {"present", s.int64(2) != 0},
                        {"enter_t", s.int64(3)}, {"last_t", s.int64(4)}});
      }
      (*out)["sightings"] = list;
    }
    return ok_status();
  });
  if (!st) return st.error();
  if (!out) return not_found(kind.substr(0, kind.size() - 1) + " " + id + " does not exist");
  return *out;
}

Result<PolicyRow> State::policy() {
  PolicyRow p;
  auto st = store_.read([&](Conn& c) -> Status {
    auto& q = c.stmt("SELECT version, spec, changed_ms, changed_by FROM policy WHERE id = 1");
    StmtGuard g(q);
    auto r = q.step();
    if (!r) return r.error();
    if (!*r) return not_found("no policy stored");
    p.version = q.int64(0);
    p.spec = parse_or(q.text(1), json::object());
    p.changed_ms = q.int64(2);
    p.changed_by = q.text(3);
    return ok_status();
  });
  if (!st) return st.error();
  return p;
}

Result<ListPage> State::policy_history(const ListQuery& lq) {
  ListPage page;
  auto st = store_.read([&](Conn& c) -> Status {
    auto& q = c.stmt("SELECT version, spec, changed_ms, changed_by FROM policy_history WHERE version > ? ORDER BY version LIMIT ?");
    StmtGuard g(q);
    std::int64_t after = 0;
    if (lq.after) {
      try {
        after = std::stoll(*lq.after);
      } catch (const std::exception&) {
        return invalid("continue: not a token from this list");
      }
    }
    q.bind(1, after).bind(2, static_cast<std::int64_t>(lq.limit + 1));
    while (true) {
      auto r = q.step();
      if (!r) return r.error();
      if (!*r) break;
      if (page.items.size() == lq.limit) {
        page.next_after = std::to_string(page.items.back()["version"].get<std::int64_t>());
        break;
      }
      page.items.push_back({{"version", q.int64(0)}, {"policy", parse_or(q.text(1), json::object())},
                            {"changed_t", q.int64(2)}, {"changed_by", q.text(3)}});
    }
    return ok_status();
  });
  if (!st) return st.error();
  return page;
}

// ---------------------------------------------------------------- API writes

Result<json> State::create_template(const json& body, const std::string& by) {
  if (!body.is_object()) return invalid("(body): must be a JSON object");
  auto name_it = body.find("name");
  if (name_it == body.end() || !name_it->is_string()) return invalid("name: is required and must be a string");
  std::string name = name_it->get<std::string>();
  if (!valid_function_id(name) || name.size() > 63) return invalid("name: must be 1..63 characters of A-Z a-z 0-9 - _ ., not starting with '.'");
  json spec = json::object();
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& k = it.key();
    if (k == "name") continue;
    if (k == "command") {
      if (!it->is_array() || it->empty()) return invalid("command: must be a non-empty list of strings");
      for (std::size_t i = 0; i < it->size(); ++i)
        if (!(*it)[i].is_string()) return invalid("command[" + std::to_string(i) + "]: must be a string");
    } else if (k == "env") {
      if (!it->is_object()) return invalid("env: must be an object of strings");
      for (auto e = it->begin(); e != it->end(); ++e)
        if (!e->is_string()) return invalid("env." + e.key() + ": must be a string");
    } else if (k == "image" || k == "description") {
      if (!it->is_string()) return invalid(k + ": must be a string");
    } else if (k == "cpu_m" || k == "mem_mb") {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 0) return invalid(k + ": must be a non-negative integer");
    } else if (k == "tiers") {
      if (!it->is_array() || it->empty()) return invalid("tiers: must be a non-empty list of gateway, edge, cloud");
      for (std::size_t i = 0; i < it->size(); ++i) {
        const json& t = (*it)[i];
        if (!t.is_string() || (t != "gateway" && t != "edge" && t != "cloud"))
          return invalid("tiers[" + std::to_string(i) + "]: must be gateway, edge or cloud");
      }
    } else if (k == "archs") {
      if (!it->is_array() || it->empty()) return invalid("archs: must be a non-empty list of architectures");
      for (std::size_t i = 0; i < it->size(); ++i)
        if (!(*it)[i].is_string() || (*it)[i].get<std::string>().empty())
          return invalid("archs[" + std::to_string(i) + "]: must be an architecture such as arm64");
    } else if (k == "near_device") {
      if (!it->is_boolean()) return invalid("near_device: must be true or false");
    } else if (k == "move_cost") {
      if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > 1'000'000)
        return invalid("move_cost: must be an integer 0..1000000");
    } else if (k == "node_selector") {
      if (!it->is_object()) return invalid("node_selector: must be an object of strings");
      for (auto e = it->begin(); e != it->end(); ++e)
        if (!e->is_string()) return invalid("node_selector." + e.key() + ": must be a string");
    } else if (k == "created_t" || k == "created_by") {
      continue;  // read-only fields a client may echo back
    } else {
      return invalid(k + ": unknown field (expected name, command, env, image, description, cpu_m, mem_mb, tiers, archs, "
                        "near_device, node_selector, move_cost)");
    }
    spec[k] = *it;
  }
  if (!spec.contains("command")) return invalid("command: is required");
  std::int64_t t = now_ms();
  auto st = store_.write([&](Conn& c) -> Status {
    auto& q = c.stmt("SELECT 1 FROM templates WHERE name = ?");
    {
      StmtGuard g(q);
      q.bind(1, name);
      auto r = q.step();
      if (!r) return r.error();
      if (*r) return Error{"conflict", "template " + name + " already exists"};
    }
    if (auto s = run(c, "INSERT INTO templates(name, spec, created_ms, created_by) VALUES(?, ?, ?, ?)", name, spec.dump(), t, by); !s)
      return s;
    c.changed("templates", name, "created");
    return ok_status();
  });
  if (!st) return st.error();
  json out = spec;
  out["name"] = name;
  out["created_t"] = t;
  out["created_by"] = by;
  return out;
}

Status State::delete_template(const std::string& name) {
  return store_.write([&](Conn& c) -> Status {
    {
      auto& q = c.stmt("SELECT count(*) FROM functions WHERE template = ?");
      StmtGuard g(q);
      q.bind(1, name);
      auto r = q.step();
      if (!r) return r.error();
      if (q.int64(0) > 0)
        return Error{"conflict", "template " + name + " is used by " + std::to_string(q.int64(0)) + " function(s); delete them first"};
    }
    if (auto s = run(c, "DELETE FROM templates WHERE name = ?", name); !s) return s;
    if (c.db().changes() == 0) return not_found("template " + name + " does not exist");
    c.changed("templates", name, "deleted");
    return ok_status();
  });
}

Result<json> State::create_function(const json& body, const std::string& by) {
  if (!body.is_object()) return invalid("(body): must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it)
    if (it.key() != "template" && it.key() != "device" && it.key() != "id" && it.key() != "pinned")
      return invalid(it.key() + ": unknown field (expected template, device, id, pinned)");
  auto tpl = body.find("template");
  if (tpl == body.end() || !tpl->is_string()) return invalid("template: is required and must be a string");
  auto dev = body.find("device");
  if (dev == body.end() || !dev->is_string()) return invalid("device: is required and must be a string");
  std::string device = dev->get<std::string>();
  if (!valid_bd_addr(device)) return invalid("device: must be a lowercase BD_ADDR aa:bb:cc:dd:ee:ff");
  std::string id = default_function_id(tpl->get<std::string>(), device);
  if (auto i = body.find("id"); i != body.end()) {
    if (!i->is_string() || !valid_function_id(i->get<std::string>()))
      return invalid("id: must be 1..128 characters of A-Z a-z 0-9 - _ ., not starting with '.'");
    id = i->get<std::string>();
  }
  bool pinned = false;
  if (auto p = body.find("pinned"); p != body.end()) {
    if (!p->is_boolean()) return invalid("pinned: must be true or false");
    pinned = p->get<bool>();
  }
  std::string template_name = tpl->get<std::string>();
  std::int64_t t = now_ms();
  auto st = store_.write([&](Conn& c) -> Status {
    {
      auto& q = c.stmt("SELECT 1 FROM templates WHERE name = ?");
      StmtGuard g(q);
      q.bind(1, template_name);
      auto r = q.step();
      if (!r) return r.error();
      if (!*r) return not_found("template " + template_name + " does not exist");
    }
    {
      auto& q = c.stmt("SELECT 1 FROM functions WHERE id = ?");
      StmtGuard g(q);
      q.bind(1, id);
      auto r = q.step();
      if (!r) return r.error();
      if (*r) return Error{"conflict", "function " + id + " already exists"};
    }
    if (auto s = run(c,
                     "INSERT INTO functions(id, template, device, pinned, created_ms, created_by, state, updated_ms) "
                     "VALUES(?, ?, ?, ?, ?, ?, 'pending', ?)",
                     id, template_name, device, pinned ? 1 : 0, t, by, t);
        !s)
      return s;
    c.changed("functions", id, "created");
    return ok_status();
  });
  if (!st) return st.error();
  return get("functions", id);
}

Status State::delete_function(const std::string& id) {
  return store_.write([&](Conn& c) -> Status {
    if (auto s = run(c, "DELETE FROM functions WHERE id = ?", id); !s) return s;
    if (c.db().changes() == 0) return not_found("function " + id + " does not exist");
    if (auto s = run(c,
                     "UPDATE migrations SET state = 'cancelled', updated_ms = ? WHERE function = ? AND state IN "
                     "('pending', 'applying', 'failed')",
                     now_ms(), id);
        !s)
      return s;
    c.changed("functions", id, "deleted");
    return ok_status();
  });
}

namespace {
// Inserts a migration and points the function's placement at it. Supersedes
// an open migration of the same function: the newest decision wins.
Result<std::int64_t> insert_move(Conn& c, const PlannedMove& m, std::int64_t decided_ms) {
  if (auto s = run(c,
                   "UPDATE migrations SET state = 'superseded', updated_ms = ? WHERE function = ? AND state IN "
                   "('pending', 'applying', 'failed')",
                   decided_ms, m.function);
      !s)
    return s.error();
  auto& ins = c.stmt(
      "INSERT INTO migrations(function, kind, reason, from_node, to_node, to_tier, state, requested_by, detected, "
      "notified, decided, updated_ms) VALUES(?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)");
  ins.bind(1, m.function).bind(2, m.kind).bind(3, m.reason).bind(4, m.from_node).bind(5, m.to.node).bind(6, m.to.tier);
  ins.bind(7, m.requested_by).bind(8, m.detected_ms).bind(9, m.notified_ms).bind(10, decided_ms).bind(11, decided_ms);
  if (auto s = ins.run(); !s) return s.error();
  std::int64_t id = c.db().last_insert_rowid();
  if (auto s = run(c,
                   "INSERT INTO placements(function, node, tier, kind, reason, decided_ms, migration) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                   "ON CONFLICT(function) DO UPDATE SET node = ?2, tier = ?3, kind = ?4, reason = ?5, decided_ms = ?6, migration = ?7",
                   m.function, m.to.node, m.to.tier, m.kind, m.reason, decided_ms, id);
      !s)
    return s.error();
  c.changed("migrations", std::to_string(id), "created");
  c.changed("functions", m.function, "updated");
  return id;
}
}  // namespace

Result<json> State::move_function(const std::string& id, const Target& to, std::optional<bool> pin, const std::string& by) {
  std::int64_t mid = 0;
  auto st = store_.write([&](Conn& c) -> Status {
    std::string node;
    {
      auto& q = c.stmt("SELECT node FROM functions WHERE id = ?");
      StmtGuard g(q);
      q.bind(1, id);
      auto r = q.step();
      if (!r) return r.error();
      if (!*r) return not_found("function " + id + " does not exist");
      node = q.text(0);
    }
    if (to.is_node()) {
      auto& q = c.stmt("SELECT 1 FROM nodes WHERE name = ?");
      StmtGuard g(q);
      q.bind(1, to.node);
      auto r = q.step();
      if (!r) return r.error();
      if (!*r) return invalid("node: " + to.node + " is not a known node");
    } else {
      auto& q = c.stmt("SELECT 1 FROM nodes WHERE tier = ? LIMIT 1");
      StmtGuard g(q);
      q.bind(1, to.tier);
      auto r = q.step();
      if (!r) return r.error();
      if (!*r) return invalid("tier: no node of tier " + to.tier + " is known");
    }
    if (pin) {
      if (auto s = run(c, "UPDATE functions SET pinned = ?, updated_ms = ? WHERE id = ?", *pin ? 1 : 0, now_ms(), id); !s) return s;
    }
    PlannedMove m;
    m.function = id;
    m.kind = "manual";
    m.reason = "moved by " + by + " to " + (to.is_node() ? "node " + to.node : "tier " + to.tier) +
               (pin && *pin ? " (pinned)" : "");
    m.from_node = node;
    m.to = to;
    m.requested_by = by;
    std::int64_t t = now_ms();
    m.detected_ms = t;  // an operator's request is its own detection and notification
    m.notified_ms = t;
    auto r = insert_move(c, m, t);
    if (!r) return r.error();
    mid = *r;
    return ok_status();
  });
  if (!st) return st.error();
  return get("migrations", std::to_string(mid));
}

Result<PolicyRow> State::put_policy(const json& spec, std::int64_t expected_version, const std::string& by) {
  PolicyRow row;
  auto st = store_.write([&](Conn& c) -> Status {
    std::int64_t current = 0;
    {
      auto& q = c.stmt("SELECT version FROM policy WHERE id = 1");
      StmtGuard g(q);
      auto r = q.step();
      if (!r) return r.error();
      if (*r) current = q.int64(0);
    }
    if (current != expected_version)
      return Error{"stale_version", "policy version " + std::to_string(expected_version) + " is stale: the current version is " +
                                        std::to_string(current)};
    row.version = current + 1;
    row.spec = spec;
    row.changed_ms = now_ms();
    row.changed_by = by;
    if (auto s = run(c,
                     "INSERT INTO policy(id, version, spec, changed_ms, changed_by) VALUES(1, ?1, ?2, ?3, ?4) "
                     "ON CONFLICT(id) DO UPDATE SET version = ?1, spec = ?2, changed_ms = ?3, changed_by = ?4",
                     row.version, spec.dump(), row.changed_ms, by);
        !s)
      return s;
    if (auto s = run(c, "INSERT INTO policy_history(version, spec, changed_ms, changed_by) VALUES(?, ?, ?, ?)", row.version,
                     spec.dump(), row.changed_ms, by);
        !s)
      return s;
    c.changed("policy", std::to_string(row.version), "updated");
    return ok_status();
  });
  if (!st) return st.error();
  return row;
}

Result<json> State::mark(const std::string& function, const std::string& mark, std::int64_t t_ms) {
  if (mark != "first_data") return invalid("mark: must be first_data");
  std::optional<std::int64_t> mid;
  auto st = store_.write([&](Conn& c) -> Status {
    {
      auto& q = c.stmt("SELECT 1 FROM functions WHERE id = ?");
      StmtGuard g(q);
      q.bind(1, function);
      auto r = q.step();
      if (!r) return r.error();
      if (!*r) return not_found("function " + function + " does not exist");
    }
    if (auto s = run(c, "UPDATE functions SET first_data_ms = ?, updated_ms = ? WHERE id = ?", t_ms, now_ms(), function); !s) return s;
    // The latest migration whose instance started and has no first data yet.
    {
      auto& q = c.stmt(
          "SELECT id FROM migrations WHERE function = ? AND started IS NOT NULL AND first_data IS NULL AND "
          "state IN ('applying', 'done') ORDER BY id DESC LIMIT 1");
      StmtGuard g(q);
      q.bind(1, function);
      auto r = q.step();
      if (!r) return r.error();
      if (*r) mid = q.int64(0);
    }
    if (mid) {
      if (auto s = run(c, "UPDATE migrations SET first_data = ?, updated_ms = ? WHERE id = ?", t_ms, now_ms(), *mid); !s) return s;
      c.changed("migrations", std::to_string(*mid), "updated", true);
    }
    c.changed("functions", function, "updated", true);
    return ok_status();
  });
  if (!st) return st.error();
  return json{{"function", function}, {"mark", mark}, {"t", t_ms}, {"migration", mid ? json(*mid) : json(nullptr)}};
}

// ---------------------------------------------------------------- control loop

namespace {

// The rows the control loop reads, one reader each, used by the full and the
// incremental snapshot alike.
const std::string kNodeSelect = std::string("SELECT ") + kNodeCols + ", heartbeat_notified_ms FROM nodes";

NodeRow node_row(const sqlite::Stmt& q) {
  NodeRow n;
  n.name = q.text(0);
  n.tier = q.text(1);
  n.arch = q.text(2);
  n.cpu_capacity_m = q.int64(3);
  n.mem_capacity_mb = q.int64(4);
  json labels = parse_or(q.text(5), json::object());
  for (auto it = labels.begin(); it != labels.end(); ++it)
    if (it->is_string()) n.labels[it.key()] = it->get<std::string>();
  n.source = q.text(6);
  if (!q.is_null(7)) n.cpu = q.real(7);
  if (!q.is_null(8)) n.mem = q.real(8);
  if (!q.is_null(9)) n.heartbeat_ms = q.int64(9);
  n.unschedulable = q.int64(10) != 0;
  if (!q.is_null(11)) n.heartbeat_notified_ms = q.int64(11);
  return n;
}

const char* kFunctionSelect =
    "SELECT f.id, f.template, f.device, f.state, f.node, f.pinned, p.node, p.tier, p.kind, t.spec, f.created_ms, "
    "(SELECT max(decided) FROM migrations m WHERE m.function = f.id AND m.kind IN ('roam', 'offload_up', 'bring_down', 'manual') "
    "AND m.state = 'done'), f.restarts, f.last_exit, f.started_ms FROM functions f "
    "JOIN templates t ON t.name = f.template LEFT JOIN placements p ON p.function = f.id";

// A template's spec is parsed once (per snapshot, or while a WorldCache keeps it).
using Templates = std::map<std::string, std::shared_ptr<const TemplateRow>>;
FunctionRow function_row(const sqlite::Stmt& q, Templates& templates) {
  auto [tpl, fresh] = templates.try_emplace(q.text(1));
  if (fresh) {
    auto t = std::make_shared<TemplateRow>();
    json spec = parse_or(q.text(9), json::object());
    if (spec.contains("command") && spec["command"].is_array())
      for (const auto& a : spec["command"]) t->command.push_back(a.get<std::string>());
    if (spec.contains("env") && spec["env"].is_object())
      for (auto it = spec["env"].begin(); it != spec["env"].end(); ++it) t->env[it.key()] = it->get<std::string>();
    if (spec.contains("tiers") && spec["tiers"].is_array())
      for (const auto& x : spec["tiers"]) t->tiers.push_back(x.get<std::string>());
    if (spec.contains("archs") && spec["archs"].is_array())
      for (const auto& a : spec["archs"])
        if (a.is_string()) t->archs.push_back(a.get<std::string>());
    t->cpu_m = spec.value("cpu_m", std::int64_t{0});
    t->mem_mb = spec.value("mem_mb", std::int64_t{0});
    t->spec = std::move(spec);
    tpl->second = std::move(t);
  }
  FunctionRow f;
  f.tpl = tpl->second;
  f.id = q.text(0);
  f.template_name = tpl->first;
  f.device = q.text(2);
  f.state = q.text(3);
  f.node = q.text(4);
  f.pinned = q.int64(5) != 0;
  f.desired.node = q.text(6);
  f.desired.tier = q.text(7);
  f.placement_kind = q.text(8);
  f.created_ms = q.int64(10);
  if (!q.is_null(11)) f.last_move_ms = q.int64(11);
  f.restarts = static_cast<int>(q.int64(12));
  f.last_exit = q.text(13);
  if (!q.is_null(14)) f.started_ms = q.int64(14);
  return f;
}

const char* kSightingSelect = "SELECT s.device, s.gateway, s.rssi, s.present, s.enter_t, s.enter_notified_ms, s.last_t FROM sightings s";

SightingRow sighting_row(const sqlite::Stmt& q) {
  return SightingRow{q.text(0), q.text(1), static_cast<int>(q.int64(2)), q.int64(3) != 0, q.int64(4), q.int64(5), q.int64(6)};
}

// Steps a bound statement, handing each row to `row`.
template <typename F>
Status each_row(sqlite::Stmt& q, F&& row) {
  StmtGuard g(q);
  while (true) {
    auto r = q.step();
    if (!r) return r.error();
    if (!*r) return ok_status();
    row(q);
  }
}

// What every snapshot reads whole: the policy, the counted moves of the last
// minute, and the open migrations (a handful; both by index).
Status read_small_parts(Conn& c, WorldSnapshot& w) {
  w.recent_moves_ms.clear();
  w.open_migrations.clear();
  {
    auto& q = c.stmt(
        "SELECT decided FROM migrations WHERE decided >= ? AND kind IN ('roam', 'offload_up', 'bring_down') "
        "AND state IN ('pending', 'applying', 'failed', 'done') ORDER BY decided");
    q.bind(1, now_ms() - 60'000);
    if (auto s = each_row(q, [&](const sqlite::Stmt& r) { w.recent_moves_ms.push_back(r.int64(0)); }); !s) return s;
  }
  {
    auto& q = c.stmt("SELECT version, spec, changed_ms, changed_by FROM policy WHERE id = 1");
    if (auto s = each_row(q, [&](const sqlite::Stmt& r) {
          w.policy = PolicyRow{r.int64(0), parse_or(r.text(1), json::object()), r.int64(2), r.text(3)};
        });
        !s)
      return s;
  }
  // The IN list is written as in the partial index migrations_open: SQLite
  // uses a partial index only for the same expression (else it scans every
  // migration ever made, on every pass).
  auto& q = c.stmt(
      "SELECT id, function, kind, to_node, to_tier, state, attempts, next_retry_ms, applied, scheduled, started "
      "FROM migrations WHERE state IN ('pending', 'failed', 'applying') ORDER BY id");
  return each_row(q, [&](const sqlite::Stmt& r) {
    OpenMigration m;
    m.id = r.int64(0);
    m.function = r.text(1);
    m.kind = r.text(2);
    m.to.node = r.text(3);
    m.to.tier = r.text(4);
    m.state = r.text(5);
    m.attempts = static_cast<int>(r.int64(6));
    if (!r.is_null(7)) m.next_retry_ms = r.int64(7);
    if (!r.is_null(8)) m.applied = r.int64(8);
    if (!r.is_null(9)) m.scheduled = r.int64(9);
    if (!r.is_null(10)) m.started = r.int64(10);
    w.open_migrations.push_back(std::move(m));
  });
}

Status read_everything(Conn& c, WorldSnapshot& w, Templates& templates) {
  if (auto s = each_row(c.stmt(kNodeSelect + " ORDER BY name"), [&](const sqlite::Stmt& r) { w.nodes.push_back(node_row(r)); });
      !s)
    return s;
  if (auto s = each_row(c.stmt(std::string(kFunctionSelect) + " ORDER BY f.id"),
                        [&](const sqlite::Stmt& r) { w.functions.push_back(function_row(r, templates)); });
      !s)
    return s;
  if (auto s = each_row(c.stmt(std::string(kSightingSelect) +
                               " WHERE s.device IN (SELECT device FROM functions) ORDER BY s.device, s.gateway"),
                        [&](const sqlite::Stmt& r) { w.sightings.push_back(sighting_row(r)); });
      !s)
    return s;
  return read_small_parts(c, w);
}

}  // namespace

Result<WorldSnapshot> State::snapshot() {
  WorldSnapshot w;
  Templates templates;
  if (auto st = store_.read([&](Conn& c) { return read_everything(c, w, templates); }); !st) return st.error();
  return w;
}

void WorldCache::note(const std::vector<Change>& changes) {
  std::lock_guard lock(mu_);
  for (const auto& c : changes) {
    if (c.kind == "devices") marks_.devices.insert(c.id);
    else if (c.kind == "functions") marks_.functions.insert(c.id);
    else if (c.kind == "nodes") marks_.nodes.insert(c.id);
    else if (c.kind == "migrations") marks_.migrations.insert(c.id);
    else if (c.kind == "templates") marks_.everything = true;
    // policy, open migrations and recent moves are read on every pass; streams do not matter here.
  }
  if (marks_.devices.size() + marks_.functions.size() + marks_.nodes.size() + marks_.migrations.size() > kMaxMarks)
    marks_ = all();
}

void WorldCache::invalidate() {
  std::lock_guard lock(mu_);
  marks_ = all();
}

Result<WorldSnapshot> State::snapshot(WorldCache& cache) {
  WorldCache::Marks marks;
  {
    std::lock_guard lock(cache.mu_);
    std::swap(marks, cache.marks_);
  }
  // Marks taken before the read began: a commit they miss is either seen by
  // this read already or marked for the next one.
  WorldSnapshot small;
  auto st = store_.read([&](Conn& c) -> Status {
    if (marks.everything) {
      WorldSnapshot w;
      cache.templates_.clear();
      if (auto s = read_everything(c, w, cache.templates_); !s) return s;
      cache.nodes_.clear();
      cache.functions_.clear();
      cache.sightings_.clear();
      cache.functions_of_device_.clear();
      for (auto& n : w.nodes) cache.nodes_.emplace(n.name, std::move(n));
      for (auto& f : w.functions) {
        cache.functions_of_device_[f.device].insert(f.id);
        cache.functions_.emplace(f.id, std::move(f));
      }
      for (auto& s : w.sightings) cache.sightings_[s.device].push_back(std::move(s));
      small.policy = std::move(w.policy);
      small.open_migrations = std::move(w.open_migrations);
      small.recent_moves_ms = std::move(w.recent_moves_ms);
      cache.full_reads_++;
      return ok_status();
    }
    // A migration's steps rewrite its function's node, placement and last move.
    {
      auto& q = c.stmt("SELECT function FROM migrations WHERE id = ?");
      for (const auto& id : marks.migrations) {
        q.bind(1, static_cast<std::int64_t>(std::atoll(id.c_str())));
        if (auto s = each_row(q, [&](const sqlite::Stmt& r) { marks.functions.insert(r.text(0)); }); !s) return s;
      }
    }
    {
      auto& q = c.stmt(kNodeSelect + " WHERE name = ?");
      for (const auto& name : marks.nodes) {
        bool found = false;
        q.bind(1, name);
        if (auto s = each_row(q, [&](const sqlite::Stmt& r) {
              found = true;
              cache.nodes_[name] = node_row(r);
            });
            !s)
          return s;
        if (!found) cache.nodes_.erase(name);
      }
    }
    {
      auto& q = c.stmt(std::string(kFunctionSelect) + " WHERE f.id = ?");
      for (const auto& id : marks.functions) {
        std::optional<FunctionRow> row;
        q.bind(1, id);
        if (auto s = each_row(q, [&](const sqlite::Stmt& r) { row = function_row(r, cache.templates_); }); !s) return s;
        // A function leaves its old device's set (and that device's sightings
        // when it was the last), and joins its device's (reading them anew).
        if (auto old = cache.functions_.find(id); old != cache.functions_.end()) {
          auto& fns = cache.functions_of_device_[old->second.device];
          fns.erase(id);
          if (fns.empty()) {
            cache.functions_of_device_.erase(old->second.device);
            cache.sightings_.erase(old->second.device);
          }
          cache.functions_.erase(old);
        }
        if (row) {
          auto& fns = cache.functions_of_device_[row->device];
          if (fns.empty()) marks.devices.insert(row->device);
          fns.insert(id);
          cache.functions_.emplace(id, std::move(*row));
        }
      }
    }
    {
      auto& q = c.stmt(std::string(kSightingSelect) + " WHERE s.device = ? ORDER BY s.gateway");
      for (const auto& device : marks.devices) {
        if (!cache.functions_of_device_.count(device)) continue;  // only devices with a function matter
        std::vector<SightingRow> rows;
        q.bind(1, device);
        if (auto s = each_row(q, [&](const sqlite::Stmt& r) { rows.push_back(sighting_row(r)); }); !s) return s;
        if (rows.empty()) cache.sightings_.erase(device);
        else cache.sightings_[device] = std::move(rows);
      }
    }
    return read_small_parts(c, small);
  });
  if (!st) {
    cache.invalidate();  // what was half read is read whole next time
    return st.error();
  }
  cache.reads_++;
  WorldSnapshot w = std::move(small);
  w.nodes.reserve(cache.nodes_.size());
  for (const auto& [name, n] : cache.nodes_) w.nodes.push_back(n);
  w.functions.reserve(cache.functions_.size());
  for (const auto& [id, f] : cache.functions_) w.functions.push_back(f);
  for (const auto& [device, rows] : cache.sightings_) w.sightings.insert(w.sightings.end(), rows.begin(), rows.end());
  return w;
}

Result<std::vector<std::int64_t>> State::record_moves(const std::vector<PlannedMove>& moves, std::int64_t decided_ms) {
  std::vector<std::int64_t> ids;
  auto st = store_.write([&](Conn& c) -> Status {
    ids.clear();
    for (const auto& m : moves) {
      auto r = insert_move(c, m, decided_ms);
      if (!r) return r.error();
      ids.push_back(*r);
    }
    return ok_status();
  });
  if (!st) return st.error();
  return ids;
}

Status State::migration_step(std::int64_t id, const std::map<std::string, std::int64_t>& steps, const std::string& state,
                             const std::string& node) {
  return store_.write([&](Conn& c) -> Status {
    std::int64_t t = now_ms();
    for (const auto& [step, ts] : steps) {
      bool known = std::any_of(std::begin(kTimelineSteps), std::end(kTimelineSteps), [&](const char* s) { return step == s; });
      bool backend = std::any_of(std::begin(kBackendSteps), std::end(kBackendSteps), [&](const char* s) { return step == s; });
      if (backend) {
        // Stamped once, like the timeline: the first attempt that reached it.
        if (auto s = run(c, "UPDATE migrations SET steps = json_set(steps, '$.' || ?1, coalesce(json_extract(steps, '$.' || ?1), ?2)), "
                            "updated_ms = ?3 WHERE id = ?4", step, ts, t, id);
            !s)
          return s;
        continue;
      }
      if (!known) return invalid("unknown timeline step " + step);
      // Each step is stamped once: a retry does not rewrite history.
      if (auto s = run(c, "UPDATE migrations SET " + step + " = coalesce(" + step + ", ?), updated_ms = ? WHERE id = ?", ts, t, id); !s)
        return s;
    }
    if (!state.empty()) {
      if (auto s = run(c,
                       "UPDATE migrations SET state = ?, failed_step = CASE WHEN ? = 'done' THEN '' ELSE failed_step END, "
                       "error = CASE WHEN ? = 'done' THEN '' ELSE error END, next_retry_ms = NULL, updated_ms = ? "
                       "WHERE id = ? AND state IN ('pending', 'applying', 'failed')",
                       state, state, state, t, id);
          !s)
        return s;
    }
    if (!node.empty()) {
      if (auto s = run(c, "UPDATE migrations SET to_node = CASE WHEN to_node = '' THEN ? ELSE to_node END WHERE id = ?", node, id); !s)
        return s;
      // A tier target becomes a node once the backend chose one.
      if (auto s = run(c, "UPDATE placements SET node = ?1 WHERE migration = ?2 AND node = ''", node, id); !s) return s;
      // Once the new instance started, the function is on that node now: its
      // reader's first_data mark (authorised by the node's certificate) can
      // arrive before the next status poll would have said so.
      if (steps.count("started")) {
        if (auto s = run(c, "UPDATE functions SET node = ?1 WHERE id = (SELECT function FROM migrations WHERE id = ?2)", node, id); !s)
          return s;  // the watch event follows with the next status poll (functions_observed)
      }
    }
    // A step reached is progress, not a decision: the Deployment is the truth
    // a new leader reads, so the cluster's copy may follow a little later.
    // The end is written at once: a new leader that found the migration
    // still open would hold the function (no new move) until it had applied
    // it again and seen the pod start, ~1.5 s of the first decision after a
    // takeover on the test plane.
    c.changed("migrations", std::to_string(id), "updated", state != "done");
    return ok_status();
  });
}

Status State::migration_failed(std::int64_t id, const std::string& step, const std::string& error, std::int64_t next_retry_ms) {
  return store_.write([&](Conn& c) -> Status {
    if (auto s = run(c,
                     "UPDATE migrations SET state = 'failed', failed_step = ?, error = ?, attempts = attempts + 1, "
                     "next_retry_ms = ?, updated_ms = ? WHERE id = ? AND state IN ('pending', 'applying', 'failed')",
                     step, error, next_retry_ms, now_ms(), id);
        !s)
      return s;
    c.changed("migrations", std::to_string(id), "updated");
    return ok_status();
  });
}

Status State::functions_observed(const std::vector<Observation>& observations) {
  if (observations.empty()) return ok_status();
  return store_.write([&](Conn& c) -> Status {
    std::int64_t now = now_ms();
    for (const auto& o : observations) {
      auto restarts = static_cast<std::int64_t>(o.restarts);
      if (auto s = run(c,
                       "UPDATE functions SET state = ?, node = ?, restarts = ?, last_exit = ?, started_ms = ?, updated_ms = ? "
                       "WHERE id = ? AND (state <> ? OR node <> ? OR restarts <> ? OR last_exit <> ? OR "
                       "started_ms IS NOT ? )",
                       o.state, o.node, restarts, o.last_exit, o.started_ms, now, o.id, o.state, o.node, restarts,
                       o.last_exit, o.started_ms);
          !s)
        return s;
      if (c.db().changes() > 0) c.changed("functions", o.id, "updated", true);  // observed, not decided
    }
    return ok_status();
  });
}

Result<std::size_t> State::prune_migrations(std::int64_t now, std::int64_t retention_ms, std::size_t limit) {
  const std::int64_t cutoff = now - std::max<std::int64_t>(retention_ms, 0);
  const std::int64_t budget_window = now - 60'000;
  // Found on a read connection (a scan of the history must not hold the
  // writer), then deleted by id with the conditions checked again.
  std::vector<std::int64_t> ids;
  auto found = store_.read([&](Conn& c) -> Status {
    auto& q = c.stmt(
        "SELECT id FROM migrations WHERE state IN ('done', 'superseded', 'cancelled') AND updated_ms < ?1 AND decided < ?2 "
        "AND id NOT IN (SELECT migration FROM placements WHERE migration IS NOT NULL) ORDER BY id LIMIT ?3");
    StmtGuard g(q);
    q.bind(1, cutoff).bind(2, std::min(cutoff, budget_window)).bind(3, static_cast<std::int64_t>(limit));
    return each_row(q, [&](const sqlite::Stmt& r) { ids.push_back(r.int64(0)); });
  });
  if (!found) return found.error();
  if (ids.empty()) return std::size_t{0};
  std::size_t pruned = 0;
  auto st = store_.write([&](Conn& c) -> Status {
    pruned = 0;
    for (auto id : ids) {
      if (auto s = run(c,
                       "DELETE FROM migrations WHERE id = ?1 AND state IN ('done', 'superseded', 'cancelled') AND "
                       "NOT EXISTS (SELECT 1 FROM placements WHERE migration = ?1)",
                       id);
          !s)
        return s;
      if (c.db().changes() == 0) continue;
      c.changed("migrations", std::to_string(id), "deleted", true);  // history: nobody waits on its going
      pruned++;
    }
    return ok_status();
  });
  if (!st) return st.error();
  return pruned;
}

Status State::forget_undeployed(const std::string& id) {
  return store_.write([&](Conn& c) -> Status {
    if (auto s = run(c, "UPDATE functions SET state = 'undeployed', node = '', started_ms = NULL, updated_ms = ? WHERE id = ?",
                     now_ms(), id);
        !s)
      return s;
    c.changed("functions", id, "updated");
    return ok_status();
  });
}

}  // namespace c4i::orchestrator
