// The embedded backend: nodes from a topology file, functions as local child
// processes. Each instance runs the template's command with C4I_NODE,
// C4I_FUNCTION, C4I_DEVICE, C4I_DEVICE_ADDR and C4I_ORCHESTRATOR_URL in its
// environment, in its own process group. A roam stops the process (SIGTERM,
// SIGKILL after the grace period) before the new one starts, so two copies
// never overlap. Exits are restarted with exponential backoff.
//
// Children die with the orchestrator (PR_SET_PDEATHSIG), so after a crash
// the control loop starts from a clean slate and reconciles; leftovers that
// escaped (marked by C4I_OWNER in their environment) are killed at start-up.
//
// Thread-safe: the control loop's workers apply and stop different functions
// at once; the slow part of a move (stopping the old process, fork and exec
// of the new one) runs outside the lock that guards the instance table, so
// the loop's own calls (poll, status) never wait behind a move.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "orchestrator/backend.hpp"
#include "orchestrator/settings.hpp"

namespace c4i::orchestrator {

struct EmbeddedOptions {
  std::vector<TopologyNode> nodes;
  std::string owner;            // marks our children (C4I_OWNER): the state directory
  std::string log_dir;          // each function's stdout/stderr, appended to <log_dir>/<function>.log
  std::string orchestrator_url;
  std::map<std::string, std::string> env;  // extra environment for every function
  std::chrono::milliseconds stop_grace{3000};
  std::chrono::milliseconds restart_base{200};
  std::chrono::milliseconds restart_max{10'000};
  std::size_t apply_concurrency = 4;  // moves carried out at once
};

class EmbeddedBackend final : public Backend {
 public:
  explicit EmbeddedBackend(EmbeddedOptions options);
  ~EmbeddedBackend() override;  // stops every instance

  std::string name() const override { return "embedded"; }
  std::size_t parallel_applies() const override { return options_.apply_concurrency; }
  Result<std::vector<BackendNode>> list_nodes() override;
  Result<ApplyResult> apply(const FunctionSpec& spec, const Target& target,
                            const std::vector<std::string>& exclude) override;
  Status stop(const std::string& function_id) override;
  InstanceStatus status(const std::string& function_id) override;
  std::vector<std::string> instances() override;
  std::vector<std::string> poll() override;

  // Kills processes of an earlier run of this orchestrator (same owner) that
  // are still alive. Returns how many it killed.
  int kill_leftovers();
  void stop_all();
  // The pid of a function's running process, or -1.
  pid_t pid_of(const std::string& function_id) const;

 private:
  struct Instance {
    FunctionSpec spec;
    std::string node;
    pid_t pid = -1;  // -1 while in backoff
    InstanceStatus status;
    int consecutive_failures = 0;
    std::chrono::steady_clock::time_point started_at{};
    std::chrono::steady_clock::time_point restart_at{};
  };
  Result<pid_t> spawn(const FunctionSpec& spec, const std::string& node);
  void terminate(pid_t pid);
  // Under mu_.
  std::string choose_node(const std::string& tier, const std::vector<std::string>& exclude) const;

  EmbeddedOptions options_;
  mutable std::mutex mu_;
  // Functions with a process (or one in backoff). One that is being moved is
  // absent for the move's duration: its process is the mover's to stop.
  std::map<std::string, Instance> instances_;
};

}  // namespace c4i::orchestrator
