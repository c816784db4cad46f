#include "orchestrator/cluster_state.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "orchestrator/k8s_objects.hpp"
#include "orchestrator/state.hpp"

namespace c4i::orchestrator {

using nlohmann::json;

// ---------------------------------------------------------------- rows in SQLite

namespace {

Status sql_error(sqlite3* db, const std::string& what) {
  return Error{"internal", what + ": " + sqlite3_errmsg(db)};
}

// Every row of `sql` as a JSON object (column name -> value).
Result<std::vector<json>> select_rows(sqlite3* db, const std::string& sql, const std::vector<std::string>& binds) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return sql_error(db, "prepare " + sql).error();
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(st, sqlite3_finalize);
  for (std::size_t i = 0; i < binds.size(); ++i)
    sqlite3_bind_text(st, static_cast<int>(i + 1), binds[i].data(), static_cast<int>(binds[i].size()), SQLITE_TRANSIENT);
  std::vector<json> out;
  while (true) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return sql_error(db, "step " + sql).error();
    json row = json::object();
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      std::string name = sqlite3_column_name(st, c);
      switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER: row[name] = static_cast<std::int64_t>(sqlite3_column_int64(st, c)); break;
        case SQLITE_FLOAT: row[name] = sqlite3_column_double(st, c); break;
        case SQLITE_NULL: row[name] = nullptr; break;
        default: {
          auto p = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
          row[name] = std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st, c)));
        }
      }
    }
    out.push_back(std::move(row));
  }
  return out;
}

// Inserts `row` into `table`; its keys must be columns of the table (the
// record is outside input: a key is never pasted into SQL unchecked).
Status insert_row(sqlite3* db, const std::string& table, const json& row, const std::set<std::string>& columns,
                  const std::string& where) {
  std::string cols, marks;
  std::vector<const json*> values;
  for (auto it = row.begin(); it != row.end(); ++it) {
    if (!columns.count(it.key())) return Error{"invalid_argument", where + ": unknown column " + table + "." + it.key()};
    if (!values.empty()) {
      cols += ", ";
      marks += ", ";
    }
    cols += it.key();
    marks += "?";
    values.push_back(&*it);
  }
  std::string sql = "INSERT INTO " + table + "(" + cols + ") VALUES(" + marks + ")";
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return sql_error(db, where + ": " + sql);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(st, sqlite3_finalize);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const json& v = *values[i];
    int at = static_cast<int>(i + 1);
    if (v.is_null()) sqlite3_bind_null(st, at);
    else if (v.is_number_integer()) sqlite3_bind_int64(st, at, v.get<std::int64_t>());
    else if (v.is_number()) sqlite3_bind_double(st, at, v.get<double>());
    else if (v.is_boolean()) sqlite3_bind_int64(st, at, v.get<bool>() ? 1 : 0);
    else if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      sqlite3_bind_text(st, at, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    } else {
      return Error{"invalid_argument", where + ": " + table + "." + cols + ": a value is not a scalar"};
    }
  }
  if (sqlite3_step(st) != SQLITE_DONE) return Error{"invalid_argument", where + ": " + sqlite3_errmsg(db)};
  return ok_status();
}

Result<std::set<std::string>> columns_of(sqlite3* db, const std::string& table) {
  auto rows = select_rows(db, "SELECT name FROM pragma_table_info(?)", {table});
  if (!rows) return rows.error();
  std::set<std::string> out;
  for (const auto& r : *rows) out.insert(r["name"].get<std::string>());
  return out;
}

// Policy versions kept in the OffloadPolicy's record (each is a few hundred
// bytes; an object's annotations may hold 256 KiB).
constexpr int kPolicyVersionsKept = 100;

const std::map<std::string, std::string>& plural_of() {
  static const std::map<std::string, std::string> m = {{"templates", "functiontemplates"},
                                                       {"functions", "iotfunctions"},
                                                       {"devices", "devices"},
                                                       {"migrations", "migrations"},
                                                       {"policy", "offloadpolicies"},
                                                       {"gateways", "gatewayidentities"},
                                                       {"tokens", "bootstraptokens"}};
  return m;
}
}  // namespace

// ---------------------------------------------------------------- ClusterState

ClusterState::ClusterState(Store& store, ClusterOptions options) : store_(store), options_(std::move(options)) {
  if (options_.defer.count() > 0) timer_ = std::thread([this] { timer_loop(); });
}

ClusterState::~ClusterState() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

void ClusterState::timer_loop() {
  // Deferred changes ride on the next commit's replicate; when no commit
  // comes, an empty one brings them out once the oldest is due.
  std::unique_lock lock(mu_);
  auto oldest = [&] {  // when the longest-waiting deferred object was changed (under mu_)
    auto t = std::chrono::steady_clock::time_point::max();
    for (const auto& [key, since] : deferred_) t = std::min(t, since);
    return t;
  };
  while (!stop_) {
    auto first = oldest();
    timer_cv_.wait_until(lock, first == std::chrono::steady_clock::time_point::max()
                                   ? std::chrono::steady_clock::now() + options_.defer
                                   : first + options_.defer);
    if (stop_) break;
    first = oldest();
    if (first == std::chrono::steady_clock::time_point::max() || std::chrono::steady_clock::now() - first < options_.defer)
      continue;
    lock.unlock();
    (void)store_.write([](Conn&) { return ok_status(); });
    lock.lock();
    // What is still deferred (the cluster unreachable, more than a batch) is
    // tried again a period later, not in a tight loop.
    timer_cv_.wait_for(lock, options_.defer, [&] { return stop_; });
  }
}

void ClusterState::count_write(const std::string& kind) {
  if (options_.metrics)
    options_.metrics
        ->counter("c4i_cluster_writes_total", "Requests writing the orchestrator's state to the cluster (object or status)",
                  {{"kind", kind}})
        .inc();
}

std::string ClusterState::collection(const std::string& kind) const {
  return "/apis/cloud4iot.io/v1alpha1/namespaces/" + options_.ns + "/" + plural_of().at(kind);
}

void ClusterState::drop_pending() {
  std::lock_guard lock(mu_);
  pending_.clear();
  deferred_.clear();
  written_.clear();  // another replica may write the cluster from now on
}

std::size_t ClusterState::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size() + deferred_.size();
}

Result<cluster::Rows> ClusterState::read_rows(const std::string& kind, const std::string& id) {
  static const std::map<std::string, std::vector<std::pair<std::string, std::string>>> queries = {
      {"templates", {{"templates", "SELECT * FROM templates WHERE name = ?1"}}},
      {"functions",
       {{"functions", "SELECT * FROM functions WHERE id = ?1"}, {"placements", "SELECT * FROM placements WHERE function = ?1"}}},
      {"devices",
       {{"devices", "SELECT * FROM devices WHERE id = ?1"},
        {"sightings", "SELECT * FROM sightings WHERE device = ?1 ORDER BY gateway"}}},
      {"migrations", {{"migrations", "SELECT * FROM migrations WHERE id = CAST(?1 AS INTEGER)"}}},
      // The versions before the current one too (GET /v1/policy/history), the latest kPolicyVersionsKept.
      {"policy",
       {{"policy", "SELECT * FROM policy WHERE id = 1"},
        {"policy_history", "SELECT * FROM policy_history ORDER BY version DESC LIMIT " + std::to_string(kPolicyVersionsKept)}}},
      {"streams", {{"gateway_streams", "SELECT * FROM gateway_streams WHERE gateway = ?1 ORDER BY updated_ms DESC LIMIT 8"}}},
      {"gateways",
       {{"gateway_identities", "SELECT * FROM gateway_identities WHERE name = ?1"},
        {"gateway_certs", "SELECT * FROM gateway_certs WHERE gateway = ?1 ORDER BY not_before_ms, serial"}}},
      {"tokens", {{"bootstrap_tokens", "SELECT * FROM bootstrap_tokens WHERE id = ?1"}}},
  };
  cluster::Rows rows;
  auto st = store_.read([&](Conn& c) -> Status {
    for (const auto& [table, sql] : queries.at(kind)) {
      auto r = select_rows(c.db().handle(), sql, {id});
      if (!r) return r.error();
      if (!r->empty()) rows[table] = std::move(*r);
    }
    return ok_status();
  });
  if (!st) return st.error();
  return rows;
}

Status ClusterState::write_object(k8s::Client& c, const std::string& kind, const std::string& id) {
  auto rows = read_rows(kind, id);
  if (!rows) return rows.error();
  const std::pair<std::string, std::string> key{kind, id};
  const std::string ssa = std::string("?fieldManager=") + k8s::kFieldManager + "&force=true";
  auto check = [&](const Result<http::ClientResponse>& r, const std::string& what, bool not_found_ok) -> Status {
    if (!r) return Error{"unavailable", what + ": " + r.error().message};
    if (r->status == 200 || r->status == 201 || r->status == 202 || (not_found_ok && r->status == 404)) return ok_status();
    // 4xx but a conflict or throttling: sending it again cannot help.
    bool refused = r->status >= 400 && r->status < 500 && r->status != 409 && r->status != 429;
    return Error{refused ? "rejected" : "unavailable", what + ": HTTP " + std::to_string(r->status) + ": " + k8s::status_message(*r)};
  };
  auto digest = [](const std::string& body) { return std::hash<std::string>{}(body); };
  // What this replica last wrote of the object, if it wrote it since the last load.
  auto last = [&]() -> std::optional<Written> {
    std::lock_guard lock(mu_);
    auto it = written_.find(key);
    return it == written_.end() ? std::nullopt : std::optional<Written>(it->second);
  };
  auto remember = [&](std::optional<Written> w) {
    std::lock_guard lock(mu_);
    if (w) written_[key] = *w;
    else written_.erase(key);
  };
  auto skipped = [&] {
    if (options_.metrics)
      options_.metrics->counter("c4i_cluster_writes_skipped_total", "Writes not sent: the cluster has that part as it is").inc();
  };
  if (kind == "streams") {
    if (rows->empty()) return ok_status();
    json list = json::array();
    for (const auto& row : rows->at("gateway_streams")) list.push_back(row);
    json cm = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", kStreamsConfigMap}, {"namespace", options_.ns}}},
               {"data", {{id, list.dump()}}}};
    const std::string body = cm.dump();
    const Written w{digest(body), 0};
    if (auto l = last(); l && l->object == w.object) {
      skipped();
      return ok_status();
    }
    std::string path = "/api/v1/namespaces/" + options_.ns + "/configmaps/" + kStreamsConfigMap;
    count_write(kind);
    auto st = check(c.call("PATCH", path + ssa, body, "application/apply-patch+yaml", false), "ConfigMap " + path, false);
    remember(st ? std::optional<Written>(w) : std::nullopt);
    return st;
  }
  std::string path = collection(kind) + "/" + cluster::object_name(kind, id);
  const auto& primary = cluster::tables_of(kind).front();
  if (!rows->count(primary)) {  // gone from the store: gone from the cluster
    remember(std::nullopt);
    count_write(kind);
    return check(c.call("DELETE", path, {}, {}, false), "delete " + path, true);
  }
  auto obj = cluster::to_object(kind, options_.ns, *rows);
  if (!obj) return obj.error();
  // The object, unless it is as this replica last wrote it (most changes are
  // progress, all in the status and its record), then the status likewise.
  // Each part serialized once: its digest and, when sent, the request body.
  const std::string object_body = obj->object.dump();
  const std::string status_body =
      obj->status.is_null() ? std::string()
                            : json{{"apiVersion", obj->object["apiVersion"]},
                                   {"kind", obj->object["kind"]},
                                   {"metadata", {{"name", obj->object["metadata"]["name"]}, {"namespace", options_.ns}}},
                                   {"status", obj->status}}
                                  .dump();
  const Written now{digest(object_body), obj->status.is_null() ? 0 : digest(status_body)};
  auto before = last();
  Written done{};
  if (before && before->object == now.object) {
    done.object = now.object;
    skipped();
  } else {
    count_write(kind);
    if (auto s = check(c.call("PATCH", path + ssa, object_body, "application/apply-patch+yaml", false), "apply " + path, false);
        !s) {
      remember(std::nullopt);
      return s;
    }
    done.object = now.object;
  }
  if (obj->status.is_null()) {
    remember(done);
    return ok_status();
  }
  if (before && before->object == now.object && before->status == now.status) {
    remember(now);
    return ok_status();
  }
  count_write(kind);
  auto s = check(c.call("PATCH", path + "/status" + ssa, status_body, "application/apply-patch+yaml", false),
                 "apply " + path + "/status", false);
  if (s) done.status = now.status;
  remember(done);
  return s;
}

Status ClusterState::replicate(const std::vector<Change>& changes) {
  std::vector<std::pair<std::string, std::string>> todo;
  bool mirrored = false;
  for (const auto& ch : changes)
    if (!cluster::tables_of(ch.kind).empty()) mirrored = true;
  if (may_write_ && !may_write_()) {
    // Not the leader (or no longer sure to be): nothing of ours may reach
    // the cluster. What a follower changes locally is replaced at its next sync.
    drop_pending();
    if (mirrored) return Error{"unavailable", "this replica is not the leader; retry"};
    return ok_status();
  }
  std::vector<std::pair<std::string, std::string>> due;
  std::uint64_t folded = 0;
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    const bool defer = options_.defer.count() > 0;
    for (const auto& ch : changes) {
      if (cluster::tables_of(ch.kind).empty()) continue;
      std::pair<std::string, std::string> key{ch.kind, ch.id};
      if (ch.deferrable && defer) {
        if (pending_.count(key) || !deferred_.emplace(key, now).second) folded++;
      } else if (pending_.insert(key).second && deferred_.erase(key)) {
        folded++;  // written now with this change
      }
    }
    // Sorted by kind: devices before streams, so a gateway's applied seq is
    // never written ahead of the sightings it covers.
    todo.assign(pending_.begin(), pending_.end());
    for (const auto& [key, since] : deferred_)
      if (now - since >= options_.defer && due.size() < options_.defer_batch && !pending_.count(key)) due.push_back(key);
  }
  if (options_.metrics && folded)
    options_.metrics
        ->counter("c4i_cluster_deferred_folded_total",
                  "Deferrable changes written with another change of the same object instead of on their own")
        .inc(static_cast<double>(folded));
  // Objects are independent of each other, but a gateway's applied seq
  // (streams) goes after the sightings it covers: written in a second round.
  std::vector<std::pair<std::string, std::string>> objects, streams;
  for (auto& t : todo) (t.first == "streams" ? streams : objects).push_back(std::move(t));
  for (const auto* round : {&objects, &streams})
    if (auto s = write_objects(*round); !s) {
      spdlog::warn("cluster state: not all changes written ({} pending): {}", pending(), s.error().message);
      return s;
    }
  // Progress last, and its failure is not this commit's: it stays deferred
  // and is tried again at the next commit or tick.
  if (auto s = write_objects(due); !s) {
    // Said once per period of trouble, not on every tick of an outage.
    auto now = std::chrono::steady_clock::now();
    if (now - last_defer_warning_ >= std::chrono::seconds(30)) {
      spdlog::warn("cluster state: deferred progress not written yet ({} objects wait): {}", pending(), s.error().message);
      last_defer_warning_ = now;
    }
  }
  return ok_status();
}

Status ClusterState::write_objects(const std::vector<std::pair<std::string, std::string>>& objects) {
  if (objects.empty()) return ok_status();
  const std::size_t n = std::clamp<std::size_t>(options_.writers, 1, objects.size());
  while (writer_clients_.size() < n)
    writer_clients_.push_back(std::make_unique<k8s::Client>(options_.endpoint, std::chrono::milliseconds(5'000), 2));
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::optional<Error> first_error;
  auto run = [&](k8s::Client& client) {
    for (std::size_t i = next++; i < objects.size() && !failed; i = next++) {
      const auto& [kind, id] = objects[i];
      if (auto s = write_object(client, kind, id); !s && s.error().code == "rejected") {
        // The apiserver refuses this object as it is (a bug of ours, or RBAC):
        // retrying would block every later write behind it. Say so loudly and go on.
        spdlog::error("cluster state: {} {} refused, not recorded in the cluster: {}", kind, id, s.error().message);
      } else if (!s) {
        failed = true;
        std::lock_guard lock(error_mu);
        if (!first_error) first_error = s.error();
        continue;
      }
      std::lock_guard lock(mu_);
      pending_.erase({kind, id});
      deferred_.erase({kind, id});  // what it deferred is in this write too: rows are read at write time
    }
  };
  if (n == 1) {
    run(*writer_clients_[0]);
  } else {
    std::vector<std::thread> threads;
    for (std::size_t t = 1; t < n; ++t) threads.emplace_back([&, t] { run(*writer_clients_[t]); });
    run(*writer_clients_[0]);
    for (auto& t : threads) t.join();
  }
  if (!first_error) return ok_status();
  return Error{"unavailable", "the change is not yet recorded in the cluster (" + first_error->message + "); retry"};
}

Result<std::size_t> ClusterState::hydrate() {
  std::lock_guard hl(hydrate_mu_);
  if (!hydrate_client_) hydrate_client_ = std::make_unique<k8s::Client>(options_.endpoint, std::chrono::milliseconds(10'000), 4);
  auto& c = *hydrate_client_;
  std::map<std::string, std::vector<cluster::Rows>> by_kind;
  std::size_t objects = 0;
  for (const auto& [kind, plural] : plural_of()) {
    // Retried on 429 (a CRD's storage still initializing) and 5xx, with Retry-After.
    auto r = c.call("GET", collection(kind), {}, {}, true);
    if (!r) return Error{"unavailable", "list " + plural + ": " + r.error().message};
    if (r->status != 200)
      return Error{"unavailable", "list " + plural + ": HTTP " + std::to_string(r->status) + ": " + k8s::status_message(*r)};
    auto list = json::parse(r->body, nullptr, false);
    if (!list.is_object() || !list.contains("items") || !list["items"].is_array())
      return Error{"unavailable", "list " + plural + ": not a list"};
    for (const auto& item : list["items"]) {
      auto rows = cluster::rows_of(kind, item);
      if (!rows) {
        spdlog::warn("cluster state: skipping {}", rows.error().message);
        continue;
      }
      by_kind[kind].push_back(std::move(*rows));
      objects++;
    }
  }
  {
    auto r = c.call("GET", "/api/v1/namespaces/" + options_.ns + "/configmaps/" + kStreamsConfigMap, {}, {}, true);
    if (!r) return Error{"unavailable", "get ConfigMap " + std::string(kStreamsConfigMap) + ": " + r.error().message};
    if (r->status == 200) {
      auto cm = json::parse(r->body, nullptr, false);
      if (cm.is_object() && cm.contains("data") && cm["data"].is_object())
        for (auto it = cm["data"].begin(); it != cm["data"].end(); ++it) {
          auto list = it->is_string() ? json::parse(it->get<std::string>(), nullptr, false) : json();
          if (!list.is_array()) continue;
          cluster::Rows rows;
          for (const auto& row : list)
            if (row.is_object()) rows["gateway_streams"].push_back(row);
          by_kind["streams"].push_back(std::move(rows));
          objects++;
        }
    } else if (r->status != 404) {
      return Error{"unavailable", "get ConfigMap " + std::string(kStreamsConfigMap) + ": HTTP " + std::to_string(r->status)};
    }
  }
  // What each object holds, to tell watchers what this load changed.
  std::map<std::pair<std::string, std::string>, std::string> loaded;
  for (const auto& [kind, list] : by_kind) {
    if (kind == "streams") continue;
    const std::string primary = cluster::tables_of(kind).front();
    const char* key = cluster::id_column(kind);
    for (const auto& rows : list) {
      auto it = rows.find(primary);
      if (it == rows.end() || it->second.empty()) continue;
      const json& k = it->second.front().contains(key) ? it->second.front()[key] : json();
      std::string id = kind == "policy" ? "1" : k.is_string() ? k.get<std::string>() : k.dump();
      json all = json::object();
      for (const auto& [table, r] : rows) all[table] = r;
      loaded[{kind, id}] = all.dump();
    }
  }
  auto st = store_.write([&](Conn& conn) -> Status {
    sqlite3* db = conn.db().handle();
    for (const char* t : {"placements", "functions", "templates", "sightings", "devices", "migrations", "gateway_streams",
                          "gateway_certs", "gateway_identities", "bootstrap_tokens"})
      if (auto s = conn.db().exec(std::string("DELETE FROM ") + t); !s) return s;
    if (by_kind.count("policy"))
      for (const char* t : {"policy", "policy_history"})
        if (auto s = conn.db().exec(std::string("DELETE FROM ") + t); !s) return s;
    std::map<std::string, std::set<std::string>> columns;
    // Parents before children (foreign keys): a function needs its template.
    const std::vector<std::pair<std::string, std::vector<std::string>>> order = {
        {"templates", {"templates"}}, {"functions", {"functions", "placements"}}, {"devices", {"devices", "sightings"}},
        {"migrations", {"migrations"}}, {"policy", {"policy", "policy_history"}}, {"streams", {"gateway_streams"}},
        {"gateways", {"gateway_identities", "gateway_certs"}}, {"tokens", {"bootstrap_tokens"}}};
    for (const auto& [kind, tables] : order) {
      for (const auto& rows : by_kind[kind]) {
        // One object's rows go in together or not at all.
        if (auto s = conn.db().exec("SAVEPOINT object"); !s) return s;
        Status ok = ok_status();
        for (const auto& table : tables) {
          if (!columns.count(table)) {
            auto cols = columns_of(db, table);
            if (!cols) return cols.error();
            columns[table] = *cols;
          }
          auto it = rows.find(table);
          if (it == rows.end()) continue;
          for (const auto& row : it->second)
            if (ok = insert_row(db, table, row, columns[table], kind); !ok) break;
          if (!ok) break;
        }
        if (!ok) {
          spdlog::warn("cluster state: an object of {} not loaded: {}", kind, ok.error().message);
          (void)conn.db().exec("ROLLBACK TO object");
        }
        (void)conn.db().exec("RELEASE object");
      }
    }
    // The policy's current version is also its latest history entry.
    (void)conn.db().exec(
        "INSERT OR IGNORE INTO policy_history(version, spec, changed_ms, changed_by) "
        "SELECT version, spec, changed_ms, changed_by FROM policy");
    return ok_status();
  });
  if (!st) return st.error();
  std::vector<Change> changes;
  for (const auto& [key, rows] : loaded) {
    auto old = loaded_.find(key);
    if (old == loaded_.end()) changes.push_back({key.first, key.second, "created"});
    else if (old->second != rows) changes.push_back({key.first, key.second, "updated"});
  }
  for (const auto& [key, rows] : loaded_)
    if (!loaded.count(key) && key.first != "policy") changes.push_back({key.first, key.second, "deleted"});
  loaded_ = std::move(loaded);
  {
    std::lock_guard lock(mu_);
    written_.clear();  // what the cluster holds is what was just read, not what this replica last wrote
  }
  if (on_loaded_ && !changes.empty()) on_loaded_(changes);
  return objects;
}

}  // namespace c4i::orchestrator
