// Durable orchestrator state in SQLite (WAL, synchronous=FULL): templates,
// devices, sightings, functions, placements, nodes, policy with history,
// migrations with their timeline, and the applied (gateway, boot_id, seq).
//
// One writer thread owns the write connection and commits jobs in groups:
// each job runs inside its own SAVEPOINT of a shared transaction, so a job
// that fails leaves nothing behind while the others commit, and a burst of
// requests costs one fsync. write() returns after the COMMIT is durable, so
// an accepted request is on disk before it is answered. Reads use a pool of
// read connections (WAL snapshots) and never wait for the writer. With a
// replicate hook (the kubernetes backend), write() returns once the hook has
// also written the commit elsewhere; a second thread runs the hook, so local
// commits go on while the cluster is written.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "common/sqlite.hpp"

namespace c4i::orchestrator {

// A change a committed write made, for GET /v1/watch.
struct Change {
  std::string kind;  // nodes | devices | functions | templates | migrations | policy | streams | gateways | tokens
  std::string id;
  std::string op;    // created | updated | deleted
  // Progress nobody waits on (a migration's later steps, a function's
  // observed status): a replicate hook may write it a little later, with
  // the other changes of the same object since.
  bool deferrable = false;
};

// A connection with a cache of prepared statements.
class Conn {
 public:
  explicit Conn(sqlite::Db db) : db_(std::move(db)) {}
  // A cached prepared statement, reset and unbound; throws on a malformed
  // statement (a programming error).
  sqlite::Stmt& stmt(const std::string& sql);
  sqlite::Db& db() { return db_; }
  // Records a change (only during a write job).
  void changed(std::string kind, std::string id, std::string op, bool deferrable = false) {
    if (changes_) changes_->push_back(Change{std::move(kind), std::move(id), std::move(op), deferrable});
  }

 private:
  friend class Store;
  sqlite::Db db_;
  std::map<std::string, std::unique_ptr<sqlite::Stmt>> cache_;
  std::vector<Change>* changes_ = nullptr;
};

// Resets a cached statement when it leaves scope (after stepping rows).
class StmtGuard {
 public:
  explicit StmtGuard(sqlite::Stmt& s) : s_(s) {}
  ~StmtGuard() { s_.reset(); }
  sqlite::Stmt* operator->() { return &s_; }
  sqlite::Stmt& operator*() { return s_; }
 private:
  sqlite::Stmt& s_;
};

class Store {
 public:
  using Job = std::function<Status(Conn&)>;

  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs `job` in the writer's transaction; returns its status once the
  // commit is durable (or the error that rolled the job back).
  Status write(Job job);
  // Runs `fn` on a read connection inside a read transaction (one snapshot).
  Status read(const std::function<Status(Conn&)>& fn);

  // Calls `f` (on the writer thread) with the changes of each commit that
  // made any (/v1/watch, the control loop's wake-up and WorldCache), in the
  // order listeners were added, as soon as the commit is durable here:
  // before the replicate hook writes it elsewhere. Remove it before it goes away.
  std::uint64_t add_commit_listener(std::function<void(const std::vector<Change>&)> f);
  void remove_commit_listener(std::uint64_t id);
  // Called (on the replicator thread) after commits, before any of their
  // jobs returns, with their changes (maybe none): where the changes are
  // made durable elsewhere (the kubernetes backend's cluster objects). The
  // writer thread goes on committing while it runs; the commits made
  // meanwhile come to the next call together, in order. Its error becomes
  // the result of every job it covers that had succeeded: the caller is
  // told the change is not yet durable, though the working copy has it (the
  // hook keeps what it could not write and writes it first next time).
  // Set it before anything is written; it starts the replicator thread (a
  // store without a hook has none).
  void set_replicate(std::function<Status(const std::vector<Change>&)> f);

  Result<std::string> integrity_check();
  const std::string& path() const { return path_; }
  std::uint64_t commits() const { return commits_; }

 private:
  Store() = default;
  struct PendingJob {
    Job fn;
    Status result = ok_status();
    bool done = false;
    std::vector<Change> changes;
  };
  // A commit's jobs and changes, waiting for the replicate hook.
  struct Committed {
    std::vector<PendingJob*> jobs;
    std::vector<Change> changes;
  };
  void writer_loop();
  void replicator_loop();
  void note_storage(const std::vector<PendingJob*>& group);  // the disk-full log lines
  std::unique_ptr<Conn> take_reader();
  void give_reader(std::unique_ptr<Conn> c);

  std::string path_;
  std::unique_ptr<Conn> writer_;
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<PendingJob*> queue_;
  bool stop_ = false;
  std::thread thread_;
  std::deque<Committed> to_replicate_;  // mu_
  std::condition_variable replicate_cv_;
  bool replicator_stop_ = false;  // mu_
  std::thread replicator_;
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Conn>> readers_;
  std::function<Status(const std::vector<Change>&)> replicate_;
  std::mutex listeners_mu_;
  std::map<std::uint64_t, std::function<void(const std::vector<Change>&)>> listeners_;
  std::uint64_t next_listener_ = 0;
  std::atomic<std::uint64_t> commits_{0};
  bool storage_full_ = false;  // writer thread only
};

// The schema, applied in order by Store::open (meta.schema_version).
extern const std::vector<std::string> kSchemaMigrations;

}  // namespace c4i::orchestrator
