// The kubernetes backend: each function is a Deployment
// c4i-<template>-<device> (strategy Recreate, replicas 1, the function and
// the reader as two containers) and a decision is a server-side apply of its
// node affinity: a roam pins kubernetes.io/hostname In [gw-2], an offload
// writes cloud4iot.io/tier In [edge] and lets the scheduler pick the node;
// kubernetes.io/arch In [the template's archs] always. Three list+watch
// loops (nodes; our Deployments and Pods in the namespace) keep a cache from
// which status() answers without a request and which fills the migration's
// `scheduled` (the pod got its node) and `started` (the pod is Ready).
//
// Times: the cluster stamps conditions with one-second resolution, so the
// backend stamps `scheduled` and `started` with the time the watch event
// reached it (ms; later than the truth by the watch latency only). Pods
// found already running at the first list keep the cluster's stamps.
//
// Node usage: polled from metrics.k8s.io (GET /apis/metrics.k8s.io/v1beta1/nodes,
// the API metrics-server serves; it has no watch) every `usage_interval`, as
// shares of each node's allocatable. A cluster that does not serve it (404)
// is said once in the log, and CPU and memory then come from the gateways'
// heartbeats only; both sources write the same node usage, the newest wins.
// apply/stop run on the control loop's workers, up to `apply_concurrency`
// at once, each on a connection of its own from a pool (one server-side
// apply is one round trip, so a fleet's roams go out side by side instead
// of queueing on one connection); the watches and the usage poller run on
// their own threads; the cache is under a mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
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
#include "orchestrator/k8s_client.hpp"
#include "orchestrator/k8s_objects.hpp"

namespace c4i::orchestrator {

struct KubernetesOptions {
  k8s::Endpoint endpoint;
  std::string ns = "default";
  std::string reader_image;       // empty: the function's image (it holds c4i-reader)
  std::string orchestrator_url;   // given to the reader for its first_data mark
  std::chrono::milliseconds sync_timeout{30'000};
  std::chrono::milliseconds usage_interval{10'000};  // metrics.k8s.io poll; 0: never
  std::size_t apply_concurrency = 16;  // apply/stop calls in flight at once (connections in the pool)
};

class KubernetesBackend final : public Backend {
 public:
  explicit KubernetesBackend(KubernetesOptions options);
  ~KubernetesBackend() override;

  // Starts the watches and waits for their first lists.
  Status start();
  // Stops the watches (no callback runs after it returns).
  void stop_watches();
  // Called on a watch thread when an instance changed (wake the control loop).
  void set_on_change(std::function<void()> f);
  // Called on a watch thread when the cluster's nodes (tier, arch, allocatable) changed.
  void set_on_nodes(std::function<void(const std::vector<BackendNode>&)> f);
  // Called on the usage poller's thread with each metrics.k8s.io reading.
  void set_on_usage(std::function<void(const std::vector<NodeUsage>&)> f);

  std::string name() const override { return "kubernetes"; }
  bool schedules_tiers() const override { return true; }
  std::size_t parallel_applies() const override { return options_.apply_concurrency; }
  Result<std::vector<BackendNode>> list_nodes() override;
  Result<ApplyResult> apply(const FunctionSpec& spec, const Target& target,
                            const std::vector<std::string>& exclude) override;
  Status stop(const std::string& function_id) override;
  InstanceStatus status(const std::string& function_id) override;
  std::vector<std::string> instances() override;
  std::vector<std::string> poll() override;

 private:
  struct DeploymentInfo {
    std::string function_id;
    std::string placement;
    bool deleting = false;
  };
  struct PodInfo {
    k8s::PodView view;
    std::optional<std::int64_t> scheduled_ms;  // when we saw it bound
    std::optional<std::int64_t> started_ms;    // when we saw it Ready
  };
  struct Applied {
    std::string deployment;
    std::string placement;
    std::int64_t applied_ms = 0;
  };

  void on_nodes_replace(const std::vector<nlohmann::json>& items);
  void on_node_event(const std::string& type, const nlohmann::json& obj);
  void on_deployments_replace(const std::vector<nlohmann::json>& items);
  void on_deployment_event(const std::string& type, const nlohmann::json& obj);
  void on_pods_replace(const std::vector<nlohmann::json>& items);
  void on_pod_event(const std::string& type, const nlohmann::json& obj);
  // Under mu_: records a pod seen at `now` (nullopt: from a list, keep the cluster's times).
  void observe_pod_locked(const nlohmann::json& obj, std::optional<std::int64_t> now);
  void nodes_changed();
  void changed(const std::string& function_id);
  std::string deployment_path(const std::string& name) const;
  void poll_usage_loop();
  void poll_usage_once(k8s::Client& client);

  // A connection from the pool (a new one when none is idle), given back on scope exit.
  class PooledClient {
   public:
    PooledClient(KubernetesBackend& b, std::unique_ptr<k8s::Client> c) : b_(b), c_(std::move(c)) {}
    PooledClient(const PooledClient&) = delete;
    PooledClient& operator=(const PooledClient&) = delete;
    ~PooledClient();
    k8s::Client* operator->() { return c_.get(); }

   private:
    KubernetesBackend& b_;
    std::unique_ptr<k8s::Client> c_;
  };
  PooledClient client();

  KubernetesOptions options_;
  std::mutex clients_mu_;
  std::vector<std::unique_ptr<k8s::Client>> idle_clients_;

  std::mutex mu_;
  std::map<std::string, BackendNode> nodes_;
  std::vector<BackendNode> last_nodes_reported_;
  std::map<std::string, DeploymentInfo> deployments_;           // by deployment name
  std::map<std::string, std::string> deployment_of_;            // function id -> deployment name
  std::map<std::string, PodInfo> pods_;                         // by pod name
  std::map<std::string, std::set<std::string>> pods_of_;        // function id -> pod names
  std::map<std::string, Applied> applied_;                      // what we last wrote, ahead of the watch
  std::set<std::string> changed_;
  std::function<void()> on_change_;
  std::function<void(const std::vector<BackendNode>&)> on_nodes_;
  std::function<void(const std::vector<NodeUsage>&)> on_usage_;
  int usage_served_ = -1;  // metrics.k8s.io: -1 not asked yet, 0 not served, 1 served (poller thread only)

  std::mutex usage_mu_;
  std::condition_variable usage_cv_;
  bool usage_stop_ = false;
  std::thread usage_thread_;

  std::unique_ptr<k8s::Watch> node_watch_, deployment_watch_, pod_watch_;
};

}  // namespace c4i::orchestrator
