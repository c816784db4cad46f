// The docker backend: one Docker engine per node (the topology file gives
// each node's endpoint: a Unix socket, or TCP with TLS client certificates),
// driven through the Engine API (docker_client.hpp). A function is a
// container `c4i-<function>` labelled cloud4iot.io/function, /device, /node,
// /owner (this orchestrator's state directory) and /role=function, running the
// template's image for the engine's architecture (read from the engine's
// /info) with C4I_NODE, C4I_TIER, C4I_FUNCTION, C4I_DEVICE, C4I_DEVICE_ADDR,
// C4I_TEMPLATE and C4I_ORCHESTRATOR_URL in its environment; beside it (the
// topology's `reader`, on by default) its BLE reader, a second container
// `c4i-<function>-reader` with the same labels but /role=reader, running
// /usr/bin/c4i-reader of the same image (or the reader's own) on the reader's
// network (host: BLE sockets live there) with the docker restart policy
// on-failure (it exits when the function's socket is not there yet or goes).
// Both mount the volume `c4i-<function>-run` (tmpfs, mode 1777) at /run/c4i:
// the function listens on /run/c4i/samples.sock (C4I_READER_SOCKET), the
// reader connects to it, as in the kubernetes backend's pod. Without a reader
// the function's stdin is kept open instead (the stream can be attached).
//
// A move (apply to another node) checks that the new engine answers, stops
// and removes the old reader, then the old function and their volume (so two
// never run at once: a BLE device takes one connection), then pulls the image if the engine lacks it, creates and
// starts the new function (its reader at the next poll(), once the control
// loop recorded the start); each step is stamped (ApplyResult::steps:
// stopped, pulled, created) and a failure names its step and node
// ("create on gw-2: connect unix:///...: Connection refused"); the control
// loop retries it with backoff. An exited container is started again with
// backoff.
//
// Engines are watched by one thread each on GET /events (our containers'
// die/destroy events wake the control loop); when an engine comes back after
// being unreachable, or at start, every container with our owner label on
// it is listed and those that are not the function's current instance are
// removed (strays of an interrupted move or of an earlier run). At start the
// running containers of an earlier run are adopted, not restarted.
//
// Node usage: a poller reads the stats of each of our containers (functions
// and readers) every usage_interval_ms and reports their sum as shares of the
// node's capacity (the topology's cpu_capacity_m and mem_capacity_mb, else the
// engine host's NCPU and MemTotal from /info), like the kubernetes backend's
// metrics (the newest of this and the gateways' heartbeats wins).
//
// apply/stop/status/poll run on the control loop's thread (its own engine
// clients); watchers on their own threads, exchanging only through a queue
// under a mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/backend.hpp"
#include "orchestrator/docker_api.hpp"
#include "orchestrator/docker_client.hpp"

namespace c4i::orchestrator {

struct DockerOptions {
  docker::DockerTopology topology;
  std::string owner;  // cloud4iot.io/owner: our containers (the state directory)
  std::string orchestrator_url;
  std::map<std::string, std::string> env;  // extra environment for every function
  std::chrono::milliseconds restart_base{200};
  std::chrono::milliseconds restart_max{10'000};
};

class DockerBackend final : public Backend {
 public:
  explicit DockerBackend(DockerOptions options);
  ~DockerBackend() override;  // stops the watchers; the containers keep running

  // Reads every engine's /info (an engine down at start is used with the
  // topology's arch and capacity until it answers), adopts our running
  // containers, removes strays, and starts the watchers.
  Status start();
  void stop_watches();
  // Called on a watcher thread when an instance may have changed.
  void set_on_change(std::function<void()> f);
  // Called on the usage poller's thread with each reading.
  void set_on_usage(std::function<void(const std::vector<NodeUsage>&)> f);

  std::string name() const override { return "docker"; }
  Result<std::vector<BackendNode>> list_nodes() override;
  Result<ApplyResult> apply(const FunctionSpec& spec, const Target& target,
                            const std::vector<std::string>& exclude) override;
  Status stop(const std::string& function_id) override;
  InstanceStatus status(const std::string& function_id) override;
  std::vector<std::string> instances() override;
  std::vector<std::string> poll() override;

  // The container id of a function's instance, or empty (tests).
  std::string container_of(const std::string& function_id) const;
  std::string reader_of(const std::string& function_id) const;
  // Containers removed as strays so far.
  std::uint64_t strays_removed() const { return strays_removed_.load(); }

 private:
  struct Engine {
    docker::DockerNode cfg;
    std::optional<docker::EngineInfo> info;
    std::unique_ptr<docker::Client> client;  // the control loop's
    std::thread watcher;
  };
  struct Instance {
    FunctionSpec spec;
    bool adopted = false;  // found running at start: its spec is learnt at the next apply
    std::string node, container;
    std::string reader;  // the reader's container, empty when the node runs none
    bool reader_pending = false;  // created, started by the next poll()
    InstanceStatus status;
    int consecutive_failures = 0;
    std::chrono::steady_clock::time_point started_at{}, restart_at{};
  };
  struct Notice {
    std::string node, container, action;  // action: die | destroy | down | up
    std::string exit_code;
  };

  Engine* engine(const std::string& node);
  std::string arch_of(const Engine& e) const;
  std::string choose_node(const std::string& tier, const std::vector<std::string>& exclude) const;
  nlohmann::json labels(const FunctionSpec& spec, const std::string& node, const char* role) const;
  nlohmann::json container_config(const FunctionSpec& spec, const Engine& e, const docker::ImageRef& ref) const;
  nlohmann::json reader_config(const FunctionSpec& spec, const Engine& e, const docker::ImageRef& ref) const;
  // Pulls `ref` for `arch` onto `e` unless it has it.
  Status ensure_image(Engine& e, const docker::ImageRef& ref, const std::string& arch);
  // Stops and removes the reader, the function and their volume.
  Status remove_instance(Engine& e, const Instance& inst);
  std::vector<std::string> owner_labels() const;
  // Removes our containers on `e` that are not an instance we track; forgets
  // instances whose container is gone. Returns ids whose status changed.
  std::vector<std::string> sweep(Engine& e);
  void adopt(Engine& e);
  void schedule_restart(Instance& inst, const std::string& why);
  void watch(const Engine* e, bool up);
  void usage_loop();
  void notify(Notice n);

  DockerOptions options_;
  std::vector<std::unique_ptr<Engine>> engines_;
  std::map<std::string, Instance> instances_;  // by function id; the control loop's

  std::mutex mu_;  // guards what watchers share with the control loop
  std::condition_variable cv_;
  std::vector<Notice> notices_;
  std::function<void()> on_change_;
  std::function<void(const std::vector<NodeUsage>&)> on_usage_;
  std::atomic<bool> stop_{false};
  std::thread usage_thread_;
  std::atomic<std::uint64_t> strays_removed_{0};
};

}  // namespace c4i::orchestrator
