// The control loop: level-triggered reconciliation on its own thread. Each
// pass reads one snapshot of the durable state, asks the placement engine
// what should run where (c4i_placement decides; this only applies), records
// every decision as a migration before acting on it, then makes the backend
// match: applies open migrations step by step (each step stamped on the
// migration's timeline), retries failed steps with backoff, restarts what
// should run and does not, and stops what should not run. It wakes on every
// committed change (wake()) and at least every reconcile interval.
//
// A backend that takes several apply() calls at once (kubernetes: one
// round trip to the apiserver each) gets them from a pool of workers: the
// loop hands each due migration to a worker (at most one per function at a
// time) and goes on deciding, so a burst of roams is decided in one pass and
// applied side by side, and a slow apply never delays the next decision.
// Other backends run migrations on the loop's own thread, one by one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.hpp"
#include "orchestrator/backend.hpp"
#include "orchestrator/state.hpp"
#include "placement/placement.hpp"

namespace c4i::orchestrator {

struct ControllerOptions {
  std::chrono::milliseconds interval{500};
  std::chrono::milliseconds retry_base{200};
  std::chrono::milliseconds retry_max{10'000};
  // Ended migrations older than this are deleted (with the kubernetes
  // backend, their Migration objects too); 0 keeps them all.
  std::chrono::milliseconds migration_retention{std::chrono::hours(24)};
};

class Controller {
 public:
  Controller(State& state, Backend& backend, metrics::Registry& metrics, ControllerOptions options);
  ~Controller();
  void start();
  void stop();
  // Thread-safe: run a pass soon.
  void wake();
  // True after the first complete pass (for /readyz).
  bool ready() const { return ready_.load(); }
  std::uint64_t passes() const { return passes_.load(); }
  // Set before start(): only while it answers true does the loop decide and
  // act (leader election: the leader, within its renew deadline). A replica
  // that may not act counts as ready (it serves reads).
  void set_gate(std::function<bool()> may_act) { gate_ = std::move(may_act); }

  // Checks a manual move to a node against the placement rules (arch, tier,
  // readiness, capacity) on the last pass's world. Thread-safe.
  Status check_move(const std::string& function, const std::string& node);

  // Builds the placement engine's view of a snapshot (public for tests).
  static placement::World build_world(const WorldSnapshot& w, std::int64_t now_ms);

 private:
  void loop();
  void pass();
  // Records the planner's moves; returns them as open migrations (empty: none).
  std::vector<OpenMigration> decide(const WorldSnapshot& w, std::int64_t now);
  void execute(const OpenMigration& m, const FunctionRow& f);
  // Hands the snapshot's due migrations to the workers, or runs them here.
  void run_migrations(const WorldSnapshot& w, std::uint64_t generation);
  void worker();
  void reconcile(const WorldSnapshot& w);
  bool may_act() const { return !gate_ || gate_(); }
  std::int64_t retry_at(int attempts);

  State& state_;
  Backend& backend_;
  metrics::Registry& metrics_;
  ControllerOptions options_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  bool stop_ = false;
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> passes_{0};
  std::chrono::steady_clock::time_point last_reconcile_{};
  // The world between passes, read incrementally (State::snapshot(WorldCache&)).
  WorldCache world_;
  std::uint64_t listener_ = 0;
  std::chrono::steady_clock::time_point last_full_read_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_prune_{};
  std::chrono::milliseconds next_wait_{0};  // until the next pass without a wake (loop thread only)
  std::mutex planner_mu_;  // guards planner_ (the loop and check_move)
  std::optional<placement::Planner> planner_;
  std::int64_t planner_policy_version_ = -1;
  std::mutex rng_mu_;
  std::mt19937_64 rng_{std::random_device{}()};

  // Workers (parallel backends only).
  struct Job {
    OpenMigration migration;
    FunctionRow function;
  };
  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<Job> jobs_;
  bool jobs_stop_ = false;
  std::set<std::string> in_flight_;  // functions a worker holds
  // Snapshots are numbered; a function a worker finished with at or after
  // snapshot N began may look open in N while it is done: not handed out again from N.
  std::uint64_t generation_ = 0;
  std::map<std::string, std::uint64_t> finished_at_;
  std::vector<std::thread> workers_;
  std::function<bool()> gate_;
  bool acting_ = false;            // loop thread: the last pass could act
  bool decided_since_act_ = false;  // loop thread: a decision recorded since acting began
};

}  // namespace c4i::orchestrator
