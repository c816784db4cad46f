#include "orchestrator/store.hpp"

#include <stdexcept>

#include <spdlog/spdlog.h>

namespace c4i::orchestrator {

const std::vector<std::string> kSchemaMigrations = {
    // 1: the first schema.
    R"sql(
CREATE TABLE templates(
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  created_by TEXT NOT NULL);
CREATE TABLE devices(
  id TEXT PRIMARY KEY,
  addr_type TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL DEFAULT '',
  services TEXT NOT NULL DEFAULT '[]',
  state TEXT NOT NULL,
  gateway TEXT NOT NULL DEFAULT '',
  rssi INTEGER,
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  lost_ms INTEGER,
  seen_events INTEGER NOT NULL DEFAULT 1);
CREATE TABLE sightings(
  device TEXT NOT NULL,
  gateway TEXT NOT NULL,
  rssi INTEGER,
  present INTEGER NOT NULL,
  enter_t INTEGER NOT NULL,
  enter_notified_ms INTEGER NOT NULL,
  last_t INTEGER NOT NULL,
  PRIMARY KEY(device, gateway)) WITHOUT ROWID;
CREATE TABLE nodes(
  name TEXT PRIMARY KEY,
  tier TEXT NOT NULL,
  arch TEXT NOT NULL DEFAULT '',
  cpu_capacity_m INTEGER NOT NULL DEFAULT 0,
  mem_capacity_mb INTEGER NOT NULL DEFAULT 0,
  labels TEXT NOT NULL DEFAULT '{}',
  source TEXT NOT NULL,
  cpu REAL,
  mem REAL,
  heartbeat_ms INTEGER,
  heartbeat_notified_ms INTEGER);
CREATE TABLE functions(
  id TEXT PRIMARY KEY,
  template TEXT NOT NULL REFERENCES templates(name),
  device TEXT NOT NULL,
  pinned INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending',
  node TEXT NOT NULL DEFAULT '',
  restarts INTEGER NOT NULL DEFAULT 0,
  last_exit TEXT NOT NULL DEFAULT '',
  started_ms INTEGER,
  first_data_ms INTEGER,
  updated_ms INTEGER NOT NULL);
CREATE INDEX functions_device ON functions(device);
CREATE TABLE placements(
  function TEXT PRIMARY KEY REFERENCES functions(id) ON DELETE CASCADE,
  node TEXT NOT NULL DEFAULT '',
  tier TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL,
  reason TEXT NOT NULL,
  decided_ms INTEGER NOT NULL,
  migration INTEGER);
CREATE TABLE policy(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL,
  spec TEXT NOT NULL,
  changed_ms INTEGER NOT NULL,
  changed_by TEXT NOT NULL);
CREATE TABLE policy_history(
  version INTEGER PRIMARY KEY,
  spec TEXT NOT NULL,
  changed_ms INTEGER NOT NULL,
  changed_by TEXT NOT NULL);
CREATE TABLE migrations(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  function TEXT NOT NULL,
  kind TEXT NOT NULL,
  reason TEXT NOT NULL,
  from_node TEXT NOT NULL DEFAULT '',
  to_node TEXT NOT NULL DEFAULT '',
  to_tier TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_retry_ms INTEGER,
  failed_step TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  requested_by TEXT NOT NULL DEFAULT '',
  detected INTEGER, notified INTEGER, decided INTEGER, applied INTEGER,
  scheduled INTEGER, started INTEGER, first_data INTEGER,
  updated_ms INTEGER NOT NULL);
CREATE INDEX migrations_function ON migrations(function, id);
CREATE INDEX migrations_open ON migrations(state) WHERE state IN ('pending', 'failed', 'applying');
CREATE TABLE gateway_streams(
  gateway TEXT NOT NULL,
  boot_id TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  events INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY(gateway, boot_id)) WITHOUT ROWID;
)sql",
    // 2: a migration's finer backend steps (docker: stopped, pulled, created), a JSON object of unix ms.
    R"sql(
ALTER TABLE migrations ADD COLUMN steps TEXT NOT NULL DEFAULT '{}';
)sql",
    // 3: gateway enrolment (orchestrator/enrolment.hpp): bootstrap tokens
    // (hashed), enrolled gateways, the certificates issued to them, and
    // nodes taken out of placement (a revoked gateway's).
    R"sql(
CREATE TABLE bootstrap_tokens(
  id TEXT PRIMARY KEY,
  sha256 TEXT NOT NULL UNIQUE,
  gateway TEXT NOT NULL DEFAULT '',
  labels TEXT NOT NULL DEFAULT '{}',
  uses_max INTEGER NOT NULL,
  uses INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  expires_ms INTEGER NOT NULL);
CREATE TABLE gateway_identities(
  name TEXT PRIMARY KEY,
  token TEXT NOT NULL,
  labels TEXT NOT NULL DEFAULT '{}',
  enrolled_ms INTEGER NOT NULL,
  revoked_ms INTEGER,
  revoked_by TEXT NOT NULL DEFAULT '');
CREATE TABLE gateway_certs(
  serial TEXT PRIMARY KEY,
  gateway TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  kind TEXT NOT NULL,
  not_before_ms INTEGER NOT NULL,
  not_after_ms INTEGER NOT NULL,
  revoked_ms INTEGER);
CREATE INDEX gateway_certs_gateway ON gateway_certs(gateway);
ALTER TABLE nodes ADD COLUMN unschedulable INTEGER NOT NULL DEFAULT 0;
)sql",
    // 4: every control-loop pass reads the last minute's moves (the move budget).
    R"sql(
CREATE INDEX migrations_decided ON migrations(decided);
)sql",
};

sqlite::Stmt& Conn::stmt(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    it->second->reset();
    return *it->second;
  }
  auto st = db_.prepare(sql);
  if (!st) throw std::logic_error(st.error().message);
  auto p = std::make_unique<sqlite::Stmt>(std::move(*st));
  auto& ref = *p;
  cache_.emplace(sql, std::move(p));
  return ref;
}

namespace {
Status migrate(sqlite::Db& db) {
  if (auto s = db.exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)"); !s) return s;
  auto q = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'");
  if (!q) return q.error();
  std::size_t version = 0;
  auto row = q->step();
  if (!row) return row.error();
  if (*row) version = static_cast<std::size_t>(std::stoll(q->text(0)));
  q->reset();
  if (version > kSchemaMigrations.size())
    return Error{"schema_too_new", "the state database has schema version " + std::to_string(version) +
                                       ", this build knows up to " + std::to_string(kSchemaMigrations.size())};
  for (std::size_t v = version; v < kSchemaMigrations.size(); ++v) {
    sqlite::Transaction tx(db);
    if (!tx.begin_status()) return tx.begin_status();
    if (auto s = db.exec(kSchemaMigrations[v]); !s) return s;
    if (auto s = db.exec("INSERT INTO meta(key, value) VALUES('schema_version', '" + std::to_string(v + 1) +
                         "') ON CONFLICT(key) DO UPDATE SET value = excluded.value");
        !s)
      return s;
    if (auto s = tx.commit(); !s) return s;
    spdlog::info("state database migrated to schema version {}", v + 1);
  }
  return ok_status();
}
}  // namespace

std::uint64_t Store::add_commit_listener(std::function<void(const std::vector<Change>&)> f) {
  std::lock_guard lock(listeners_mu_);
  listeners_.emplace(++next_listener_, std::move(f));
  return next_listener_;
}

void Store::remove_commit_listener(std::uint64_t id) {
  std::lock_guard lock(listeners_mu_);
  listeners_.erase(id);
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  auto db = sqlite::Db::open(path);
  if (!db) return db.error();
  if (auto s = migrate(*db); !s) return s.error();
  std::unique_ptr<Store> store(new Store());
  store->path_ = path;
  store->writer_ = std::make_unique<Conn>(std::move(*db));
  store->thread_ = std::thread([s = store.get()] { s->writer_loop(); });
  return store;
}

void Store::set_replicate(std::function<Status(const std::vector<Change>&)> f) {
  replicate_ = std::move(f);
  if (!replicator_.joinable()) replicator_ = std::thread([this] { replicator_loop(); });
}

Store::~Store() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // The writer is gone: what it handed over is replicated, then the replicator stops.
  {
    std::lock_guard lock(mu_);
    replicator_stop_ = true;
  }
  replicate_cv_.notify_all();
  if (replicator_.joinable()) replicator_.join();
}

Status Store::write(Job job) {
  PendingJob pj{std::move(job)};
  std::unique_lock lock(mu_);
  if (stop_) return Error{"unavailable", "the store is shutting down"};
  queue_.push_back(&pj);
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return pj.done; });
  return pj.result;
}

void Store::writer_loop() {
  // Group commit: everything queued while the last fsync ran goes into the
  // next transaction. A bound keeps one commit's latency in check.
  constexpr std::size_t kMaxGroup = 256;
  while (true) {
    std::vector<PendingJob*> group;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty() && stop_) return;
      while (!queue_.empty() && group.size() < kMaxGroup) {
        group.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    auto& db = writer_->db_;
    Status begun = db.exec("BEGIN IMMEDIATE");
    if (begun) {
      for (auto* job : group) {
        if (auto s = db.exec("SAVEPOINT job"); !s) {
          job->result = s;
          continue;
        }
        writer_->changes_ = &job->changes;
        try {
          job->result = job->fn(*writer_);
        } catch (const std::exception& e) {
          job->result = Error{"internal", std::string("write failed: ") + e.what()};
        }
        writer_->changes_ = nullptr;
        if (!job->result) {
          job->changes.clear();
          (void)db.exec("ROLLBACK TO job");
        }
        (void)db.exec("RELEASE job");
      }
      Status committed = db.exec("COMMIT");
      if (!committed) {
        (void)db.exec("ROLLBACK");
        for (auto* job : group)
          if (job->result) job->result = committed;
        if (committed.error().code != "storage_full") spdlog::error("state commit failed: {}", committed.error().message);
      } else {
        commits_++;
      }
    } else {
      for (auto* job : group) job->result = begun;
      if (begun.error().code != "storage_full") spdlog::error("state transaction failed to begin: {}", begun.error().message);
    }
    note_storage(group);
    std::vector<Change> all;
    for (auto* job : group)
      if (job->result) all.insert(all.end(), job->changes.begin(), job->changes.end());
    // Listeners first: the control loop may decide on what is committed here
    // while the replicate hook writes it elsewhere. Acting stays safe: a
    // decision's own record is replicated, with or after these changes (the
    // replicator takes commits in order), before anything acts on it.
    if (!all.empty()) {
      std::lock_guard lock(listeners_mu_);
      for (auto& [id, f] : listeners_) f(all);
    }
    if (replicate_ && begun) {
      // Its jobs return once the replicator has written it; meanwhile this
      // thread commits the next group here.
      {
        std::lock_guard lock(mu_);
        to_replicate_.push_back({std::move(group), std::move(all)});
      }
      replicate_cv_.notify_one();
      continue;
    }
    {
      std::lock_guard lock(mu_);
      for (auto* job : group) job->done = true;
    }
    done_cv_.notify_all();
  }
}

void Store::replicator_loop() {
  // Every group committed while the last replicate ran goes out in the next
  // one: an object changed by several groups is written once, with its rows
  // as they are now. Groups are taken in commit order, and a job returns only
  // once the replicate that covers its group (and all before it) ran; its
  // failure is the job's error.
  while (true) {
    std::vector<Committed> batch;
    {
      std::unique_lock lock(mu_);
      replicate_cv_.wait(lock, [&] { return replicator_stop_ || !to_replicate_.empty(); });
      if (to_replicate_.empty()) return;  // stopping, nothing left
      while (!to_replicate_.empty()) {
        batch.push_back(std::move(to_replicate_.front()));
        to_replicate_.pop_front();
      }
    }
    std::vector<Change> all;
    for (auto& c : batch) all.insert(all.end(), c.changes.begin(), c.changes.end());
    Status replicated = replicate_(all);
    {
      std::lock_guard lock(mu_);
      for (auto& c : batch)
        for (auto* job : c.jobs) {
          if (!replicated && job->result) job->result = replicated;
          job->done = true;
        }
    }
    done_cv_.notify_all();
  }
}

void Store::note_storage(const std::vector<PendingJob*>& group) {
  // A full disk is an operator's problem, not a bug: one line when it starts
  // (writes answer 507 meanwhile; reads and what is stored are untouched) and
  // one when a write succeeds again.
  bool full = false, wrote = false;
  for (auto* job : group) {
    if (job->result) wrote = true;
    else if (job->result.error().code == "storage_full") full = true;
  }
  if (full && !storage_full_) {
    storage_full_ = true;
    spdlog::error("state: the disk holding {} is full: writes are refused (HTTP 507) until space returns; stored state "
                  "is intact and still served", path_);
  } else if (wrote && storage_full_) {
    storage_full_ = false;
    spdlog::info("state: writing again ({} has space)", path_);
  }
}

std::unique_ptr<Conn> Store::take_reader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!readers_.empty()) {
      auto c = std::move(readers_.back());
      readers_.pop_back();
      return c;
    }
  }
  sqlite::Options o;
  auto db = sqlite::Db::open(path_, o);
  if (!db) return nullptr;
  return std::make_unique<Conn>(std::move(*db));
}

void Store::give_reader(std::unique_ptr<Conn> c) {
  std::lock_guard lock(readers_mu_);
  readers_.push_back(std::move(c));
}

Status Store::read(const std::function<Status(Conn&)>& fn) {
  auto c = take_reader();
  if (!c) return Error{"unavailable", "cannot open a read connection to " + path_};
  Status result = c->db().exec("BEGIN");
  if (result) {
    try {
      result = fn(*c);
    } catch (const std::exception& e) {
      result = Error{"internal", std::string("read failed: ") + e.what()};
    }
    (void)c->db().exec("COMMIT");
  }
  give_reader(std::move(c));
  return result;
}

Result<std::string> Store::integrity_check() {
  Result<std::string> out = std::string();
  auto s = read([&](Conn& c) {
    out = c.db().integrity_check();
    return ok_status();
  });
  if (!s) return s.error();
  return out;
}

}  // namespace c4i::orchestrator
