// Backend: where placement decisions are applied. The orchestrator decides
// (through c4i_placement) and records; a backend only makes the world match:
// run one function on a node or tier, stop it, and report what runs. The
// embedded backend (child processes) is the default; kubernetes and docker
// backends implement the same interface.
//
// Contract every backend keeps: at most one running instance per function id
// at any instant. apply() to a new target stops the old instance before it
// starts the new one (kubernetes: strategy Recreate).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace c4i::orchestrator {

struct BackendNode {
  std::string name;
  std::string tier;  // gateway | edge | cloud
  std::string arch;
  std::int64_t cpu_capacity_m = 0;
  std::int64_t mem_capacity_mb = 0;
  std::map<std::string, std::string> labels;
};

// A node's measured usage, as shares of its capacity (0..1 each).
struct NodeUsage {
  std::string node;
  double cpu = 0, mem = 0;
  std::int64_t t_ms = 0;  // when it was measured (unix ms)
};

// What to run: the function's identity, its template's command and the device.
struct FunctionSpec {
  std::string id;        // function id
  std::string template_name;
  std::string device;    // device id (its address)
  std::string device_addr;
  std::vector<std::string> command;            // argv; [0] is an absolute path or found on PATH
  std::map<std::string, std::string> env;      // extra environment
  // For backends that run images (kubernetes): the template's image (it holds
  // the function and c4i-reader), the architectures it has images for, requests.
  std::string image;
  std::vector<std::string> archs;
  std::int64_t cpu_m = 0, mem_mb = 0;
};

// Where to run it: a node by name, or a tier (the backend picks a node).
struct Target {
  std::string node;
  std::string tier;
  bool is_node() const { return !node.empty(); }
};

enum class InstanceState { absent, scheduled, running, backoff, stopping };
const char* to_string(InstanceState s);

struct InstanceStatus {
  InstanceState state = InstanceState::absent;
  std::string node;                      // where it is (or will be) running
  std::optional<std::int64_t> scheduled_ms;  // unix ms the node was chosen
  std::optional<std::int64_t> started_ms;    // unix ms the instance started
  int restarts = 0;
  std::string last_exit;                 // "exit 3", "signal 9", or empty
};

// One timeline step of a migration, in order.
inline constexpr const char* kTimelineSteps[] = {"detected", "notified", "decided", "applied", "scheduled", "started", "first_data"};
// Finer steps a backend may stamp between applied and started (the migration's `steps`).
inline constexpr const char* kBackendSteps[] = {"stopped", "pulled", "created"};

// Result of apply(): the steps of the migration timeline the backend reached.
struct ApplyResult {
  std::int64_t applied_ms = 0;    // affinity written / old instance stopped
  std::string node;               // chosen node
  std::int64_t scheduled_ms = 0;  // 0: not known yet (kubernetes: the scheduler binds later; see status())
  std::optional<std::int64_t> started_ms;  // may be known later through status()
  // Finer steps a backend stamps on the way (unix ms), recorded on the
  // migration's `steps`: docker: stopped (old container removed), pulled
  // (image present on the new engine), created.
  std::map<std::string, std::int64_t> steps;
};

// For backends that place a tier target themselves: the node of `tier` (by
// name and tier, in topology order) not in `exclude` that runs the fewest
// instances (`placed`: the node of each); ties go to the first, so the
// choice is deterministic. Empty when none is left.
inline std::string least_loaded_node(const std::vector<std::pair<std::string, std::string>>& nodes,
                                     const std::vector<std::string>& placed, const std::string& tier,
                                     const std::vector<std::string>& exclude) {
  std::string best;
  std::ptrdiff_t best_count = -1;
  for (const auto& [name, node_tier] : nodes) {
    if (node_tier != tier || std::find(exclude.begin(), exclude.end(), name) != exclude.end()) continue;
    auto count = std::count(placed.begin(), placed.end(), name);
    if (best_count < 0 || count < best_count) {
      best = name;
      best_count = count;
    }
  }
  return best;
}

// Restart backoff of a backend that restarts its instances: base * 2^(failures-1), at most max.
inline std::chrono::milliseconds restart_delay(std::chrono::milliseconds base, std::chrono::milliseconds max, int failures) {
  std::chrono::milliseconds d = base * (1LL << std::min(std::max(failures - 1, 0), 16));
  return d > max ? max : d;
}

// apply() to where an instance already is: nothing done, its own times.
inline ApplyResult unchanged_apply(const std::string& node, const InstanceStatus& st, std::int64_t now_ms) {
  ApplyResult r;
  r.applied_ms = now_ms;
  r.node = node;
  r.scheduled_ms = st.scheduled_ms.value_or(now_ms);
  r.started_ms = st.started_ms;
  return r;
}

// The migration step an apply() error belongs to, from its code: docker's
// pull_failed/create_failed/start_failed/stop_failed name theirs.
inline std::string failed_step_of(const Error& e) {
  if (e.code == "spawn_failed" || e.code == "start_failed") return "started";
  if (e.code == "pull_failed") return "pulled";
  if (e.code == "create_failed") return "created";
  if (e.code == "stop_failed") return "stopped";
  return "applied";
}

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // True when the backend places a tier target itself (the kubernetes
  // scheduler): offloads to edge or cloud then name the tier, not a node.
  virtual bool schedules_tiers() const { return false; }
  // How many apply()/stop() calls, for different functions, the backend takes
  // at once from the control loop's workers. 1: it is not thread-safe, and
  // only the control loop's thread calls it (migrations run one by one).
  virtual std::size_t parallel_applies() const { return 1; }
  virtual Result<std::vector<BackendNode>> list_nodes() = 0;
  // Idempotent: applying the target an instance already has changes nothing.
  // `exclude` lists nodes a tier target must not use (overloaded ones).
  virtual Result<ApplyResult> apply(const FunctionSpec& spec, const Target& target,
                                    const std::vector<std::string>& exclude = {}) = 0;
  // Idempotent: stopping an absent function succeeds.
  virtual Status stop(const std::string& function_id) = 0;
  virtual InstanceStatus status(const std::string& function_id) = 0;
  // Ids of every function that has an instance (for reconciliation).
  virtual std::vector<std::string> instances() = 0;
  // Lets the backend observe its instances (reap exits, restart with backoff).
  // Returns the ids whose status changed since the last call.
  virtual std::vector<std::string> poll() = 0;
};

}  // namespace c4i::orchestrator
