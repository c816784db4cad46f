// The kubernetes backend's durable record: the cluster's own objects
// (manifests/crds: FunctionTemplate, IoTFunction, Device, OffloadPolicy,
// Migration; and a ConfigMap of the gateways' applied (boot_id, seq)).
//
// Each replica keeps a working copy in its Store (a file rebuilt at start,
// never read back after a restart), so every read and the placement engine
// work as on the other backends. The cluster is written through: after each
// commit, the store's replicate hook writes the objects of what changed,
// and the request is answered only once they are written (an accepted
// event survives a kill -9 of the leader). Objects carry their typed
// spec/status for kubectl, and the rows as an annotation
// (cloud4iot.io/record) so a new leader rebuilds its copy exactly,
// millisecond times and counters included. Objects written by hand with
// kubectl (a FunctionTemplate, an IoTFunction, the OffloadPolicy: no record)
// are read from their spec.
//
// Not kept in the cluster: nodes (the cluster has them), gateway usage
// (the next heartbeat brings it), policy history beyond the current
// version, and enrolment records (bootstrap tokens, issued certificates).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

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
};

class ClusterState {
 public:
  ClusterState(Store& store, ClusterOptions options);

  // The Store's replicate hook (writer thread): notes what `changes` touched
  // and writes every object not yet written; unavailable (503) when some
  // could not be written (they stay pending and are written first next time).
  Status replicate(const std::vector<Change>& changes);
  // Forgets unwritten changes (a replica that is no longer the leader: its
  // copy is replaced from the cluster next).
  void drop_pending();
  std::size_t pending() const;
  // Set before the store commits anything: true while this replica may
  // write the cluster (the leader, within its renew deadline). Unset: always.
  void set_may_write(std::function<bool()> f) { may_write_ = std::move(f); }
  // Called after each load with what it changed in the working copy (for
  // /v1/watch on a follower, whose copy changes only this way). Set before use.
  void set_on_loaded(std::function<void(const std::vector<Change>&)> f) { on_loaded_ = std::move(f); }

  // Lists every object (consistent reads) and replaces the store's copy of
  // templates, functions, placements, devices, sightings, policy, migrations
  // and gateway streams. Returns how many objects it read.
  Result<std::size_t> hydrate();

 private:
  Status write_object(k8s::Client& c, const std::string& kind, const std::string& id);
  // Writes `objects` (independent of each other) on up to options_.writers
  // connections at once; what is written leaves pending_. The first
  // unavailable error, if any (the rest stay pending).
  Status write_objects(const std::vector<std::pair<std::string, std::string>>& objects);
  Result<cluster::Rows> read_rows(const std::string& kind, const std::string& id);
  std::string collection(const std::string& kind) const;

  Store& store_;
  ClusterOptions options_;
  mutable std::mutex mu_;  // guards pending_ (the writer thread and drop_pending)
  std::set<std::pair<std::string, std::string>> pending_;
  std::function<bool()> may_write_;
  std::function<void(const std::vector<Change>&)> on_loaded_;
  std::map<std::pair<std::string, std::string>, std::string> loaded_;  // (kind, id) -> rows as loaded; hydrate_mu_
  std::vector<std::unique_ptr<k8s::Client>> writer_clients_;  // the store's writer thread only
  std::unique_ptr<k8s::Client> hydrate_client_;  // hydrate() callers, serialized by hydrate_mu_
  std::mutex hydrate_mu_;
};

}  // namespace c4i::orchestrator
