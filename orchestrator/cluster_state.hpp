// The kubernetes backend's durable record: the cluster's own objects
// (manifests/crds: FunctionTemplate, IoTFunction, Device, OffloadPolicy,
// Migration, and the enrolment records GatewayIdentity and BootstrapToken;
// and a ConfigMap of the gateways' applied (boot_id, seq)).
//
// Each replica keeps a working copy in its Store (a file rebuilt at start,
// never read back after a restart), so every read and the placement engine
// work as on the other backends. The cluster is written through: after each
// commit, the store's replicate hook writes the objects of what changed,
// and the request is answered only once they are written (an accepted
// event survives a kill -9 of the leader); progress nobody waits on (a
// migration's middle steps, a function's observed status) may follow up to
// ClusterOptions::defer later. Objects carry their typed
// spec/status for kubectl, and the rows as a record (status.record, or the
// annotation cloud4iot.io/record for kinds without a status) so a new
// leader rebuilds its copy exactly, millisecond times and counters
// included. An object whose spec and metadata are as this replica last
// wrote them gets only its status written; one as it was, nothing. Objects
// written by hand with kubectl (a FunctionTemplate, an IoTFunction, the
// OffloadPolicy: no record) are read from their spec.
//
// Not kept in the cluster: nodes (the cluster has them), gateway usage
// (the next heartbeat brings it) and policy history beyond the current
// version.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/metrics.hpp"
#include "common/result.hpp"
#include "orchestrator/cluster_objects.hpp"
#include "orchestrator/k8s_client.hpp"
#include "orchestrator/store.hpp"

namespace c4i::orchestrator {

inline constexpr const char* kStreamsConfigMap = "c4i-orchestrator-streams";

struct ClusterOptions {
  k8s::Endpoint endpoint;
  std::string ns;
  // Objects of one commit group written side by side, each on its own connection.
  std::size_t writers = 16;
  // Deferrable changes (a migration's later steps, a function's observed
  // status) are written at most this long after they were made, all the
  // changes of one object since in one write; 0 writes them with the rest.
  std::chrono::milliseconds defer{1000};
  // At most this many deferred objects in one commit's replicate, so a burst
  // of progress does not hold the next decision's write for long.
  std::size_t defer_batch = 256;
  // Counts c4i_cluster_writes_total{kind} and c4i_cluster_deferred_folded_total when set.
  metrics::Registry* metrics = nullptr;
};

class ClusterState {
 public:
  ClusterState(Store& store, ClusterOptions options);
  ~ClusterState();
  ClusterState(const ClusterState&) = delete;
  ClusterState& operator=(const ClusterState&) = delete;

  // The Store's replicate hook (its replicator thread): notes what `changes` touched
  // and writes every object not yet written; unavailable (503) when some
  // could not be written (they stay pending and are written first next time).
  // Deferrable changes wait up to options.defer (a timer commits an empty
  // job to bring them out when nothing else does); their failure is logged
  // and retried, never the error of the commit that happened to carry them.
  Status replicate(const std::vector<Change>& changes);
  // Forgets unwritten changes (a replica that is no longer the leader: its
  // copy is replaced from the cluster next).
  void drop_pending();
  std::size_t pending() const;  // urgent and deferred
  // Set before the store commits anything: true while this replica may
  // write the cluster (the leader, within its renew deadline). Unset: always.
  void set_may_write(std::function<bool()> f) { may_write_ = std::move(f); }
  // Called after each load with what it changed in the working copy (for
  // /v1/watch on a follower, whose copy changes only this way). Set before use.
  void set_on_loaded(std::function<void(const std::vector<Change>&)> f) { on_loaded_ = std::move(f); }

  // Lists every object (consistent reads) and replaces the store's copy of
  // templates, functions, placements, devices, sightings, policy, migrations,
  // gateway streams and enrolment records. Returns how many objects it read.
  Result<std::size_t> hydrate();

 private:
  // Reads the object's rows and writes the object and its status, each
  // unless it is what this replica last wrote of it.
  Status write_object(k8s::Client& c, const std::string& kind, const std::string& id);
  void count_write(const std::string& kind);  // c4i_cluster_writes_total: an object and its status count one each
  void timer_loop();
  // Writes `objects` (independent of each other) on up to options_.writers
  // connections at once; what is written leaves pending_. The first
  // unavailable error, if any (the rest stay pending).
  Status write_objects(const std::vector<std::pair<std::string, std::string>>& objects);
  Result<cluster::Rows> read_rows(const std::string& kind, const std::string& id);
  std::string collection(const std::string& kind) const;

  Store& store_;
  ClusterOptions options_;
  mutable std::mutex mu_;  // guards pending_, deferred_ and stop_ (the replicator thread, drop_pending, the timer)
  std::set<std::pair<std::string, std::string>> pending_;
  // Deferred objects and when each was first changed (the replicator thread
  // writes those older than options_.defer).
  std::map<std::pair<std::string, std::string>, std::chrono::steady_clock::time_point> deferred_;
  // Digests of each object and its status as this replica last wrote them
  // (0: not written) (mu_); forgotten at each load and when leadership may
  // have changed hands.
  struct Written {
    std::size_t object = 0, status = 0;
  };
  std::map<std::pair<std::string, std::string>, Written> written_;
  std::condition_variable timer_cv_;
  bool stop_ = false;
  std::thread timer_;
  std::chrono::steady_clock::time_point last_defer_warning_{};  // the replicator thread only
  std::function<bool()> may_write_;
  std::function<void(const std::vector<Change>&)> on_loaded_;
  std::map<std::pair<std::string, std::string>, std::string> loaded_;  // (kind, id) -> rows as loaded; hydrate_mu_
  std::vector<std::unique_ptr<k8s::Client>> writer_clients_;  // the store's replicator thread only
  std::unique_ptr<k8s::Client> hydrate_client_;  // hydrate() callers, serialized by hydrate_mu_
  std::mutex hydrate_mu_;
};

}  // namespace c4i::orchestrator
