// The orchestrator's domain operations on the durable store: what the REST
// handlers and the control loop read and change. Every change is one write
// job (one atomic unit); every read one snapshot. Results are JSON values in
// the API's shapes (openapi.json), errors carry codes the API maps to a
// status: not_found 404, conflict 409, stale_version 409, invalid_argument 400.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "orchestrator/backend.hpp"
#include "orchestrator/events.hpp"
#include "orchestrator/store.hpp"

namespace c4i::orchestrator {

std::int64_t now_ms();

struct BatchOutcome {
  std::int64_t accepted = 0;   // events applied by this request
  std::int64_t duplicates = 0; // events already applied before
  std::int64_t last_seq = 0;   // highest applied seq of (gateway, boot_id)
  bool new_boot = false;
};

struct ListQuery {
  std::map<std::string, std::string> filters;  // validated field -> value
  std::size_t limit = 100;
  std::optional<std::string> after;            // decoded continue token
};
struct ListPage {
  std::vector<nlohmann::json> items;
  std::optional<std::string> next_after;       // last key, when more remain
};


// A decision the control loop records (from the placement engine or a manual move).
struct PlannedMove {
  std::string function;
  std::string kind;      // place | roam | offload_up | bring_down | undeploy | manual
  std::string reason;
  std::string from_node;
  Target to;
  std::optional<std::int64_t> detected_ms, notified_ms;
  std::string requested_by;
};

// What the control loop needs to act on one open migration.
struct OpenMigration {
  std::int64_t id = 0;
  std::string function;
  std::string kind;
  Target to;
  std::string state;
  int attempts = 0;
  std::optional<std::int64_t> next_retry_ms;
  std::optional<std::int64_t> applied, scheduled, started;
};

// A template as the control loop uses it: parsed once, shared by its functions.
struct TemplateRow {
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  std::int64_t cpu_m = 0, mem_mb = 0;
  std::vector<std::string> tiers;  // allowed tiers, in preference order
  std::vector<std::string> archs;  // as the template names them (empty: any the fleet has)
  nlohmann::json spec;             // the template as stored
};

struct FunctionRow {
  std::string id, template_name, device, state, node;
  bool pinned = false;
  int restarts = 0;
  std::string last_exit;
  std::optional<std::int64_t> started_ms;
  Target desired;          // from placements (empty when never placed)
  std::string placement_kind;
  std::shared_ptr<const TemplateRow> tpl;  // never null in a snapshot
  std::int64_t created_ms = 0;
  std::optional<std::int64_t> last_move_ms;
};

struct NodeRow {
  std::string name, tier, arch, source;
  std::int64_t cpu_capacity_m = 0, mem_capacity_mb = 0;
  std::map<std::string, std::string> labels;
  std::optional<double> cpu, mem;
  std::optional<std::int64_t> heartbeat_ms;
  std::optional<std::int64_t> heartbeat_notified_ms;
  bool unschedulable = false;  // taken out of placement (a revoked gateway)
};

struct SightingRow {
  std::string device, gateway;
  int rssi_dbm = 0;
  bool present = false;
  std::int64_t enter_t = 0, enter_notified_ms = 0, last_t = 0;
};

// What the backend reports of one function (the control loop's reconcile).
struct Observation {
  std::string id, state, node;
  int restarts = 0;
  std::string last_exit;
  std::optional<std::int64_t> started_ms;
};

struct PolicyRow {
  std::int64_t version = 0;
  nlohmann::json spec;
  std::int64_t changed_ms = 0;
  std::string changed_by;
};

// Everything the placement engine looks at, read in one snapshot.
struct WorldSnapshot {
  std::vector<NodeRow> nodes;
  std::vector<FunctionRow> functions;  // in id order (find one with a binary search)
  std::vector<SightingRow> sightings;
  PolicyRow policy;
  std::vector<OpenMigration> open_migrations;
  std::vector<std::int64_t> recent_moves_ms;  // decided times of counted moves in the last minute
};

// The control loop's world kept between passes. The store's change feed
// marks what each commit touched (note(), on the writer thread), and
// State::snapshot(cache) reads only those rows again: a pass costs what
// changed since the last one, not the whole fleet. Everything is read on the
// first call, after invalidate(), after a template changed, or when more than
// kMaxMarks rows are marked. Only one thread reads through a cache.
class WorldCache {
 public:
  void note(const std::vector<Change>& changes);
  void invalidate();
  std::uint64_t reads() const { return reads_; }
  std::uint64_t full_reads() const { return full_reads_; }

 private:
  friend class State;
  static constexpr std::size_t kMaxMarks = 5000;
  struct Marks {
    bool everything = false;
    std::set<std::string> devices, functions, nodes, migrations;
  };
  static Marks all() {
    Marks m;
    m.everything = true;
    return m;
  }
  std::mutex mu_;
  Marks marks_ = all();
  // The last read's rows (touched by the reading thread only).
  std::map<std::string, NodeRow> nodes_;
  std::map<std::string, FunctionRow> functions_;
  std::map<std::string, std::shared_ptr<const TemplateRow>> templates_;
  std::map<std::string, std::vector<SightingRow>> sightings_;  // devices with a function only
  std::map<std::string, std::set<std::string>> functions_of_device_;
  std::uint64_t reads_ = 0, full_reads_ = 0;
};

class State {
 public:
  explicit State(Store& store) : store_(store) {}
  Store& store() { return store_; }

  // --- start-up
  Status sync_topology(const std::vector<BackendNode>& nodes);
  // Usage measured by the backend (metrics.k8s.io) for known nodes; unknown ones are ignored.
  Status record_node_usage(const std::vector<NodeUsage>& usage);
  // The first policy (version 1) when none is stored.
  Status ensure_policy(const nlohmann::json& default_spec);

  // --- gateways
  Result<BatchOutcome> apply_batch(const EventBatch& batch, std::int64_t received_ms);

  // --- reads (JSON in API shape)
  Result<ListPage> list(const std::string& kind, const ListQuery& q);
  Result<nlohmann::json> get(const std::string& kind, const std::string& id);
  Result<PolicyRow> policy();
  Result<ListPage> policy_history(const ListQuery& q);

  // --- writes from the API
  Result<nlohmann::json> create_template(const nlohmann::json& body, const std::string& by);
  Status delete_template(const std::string& name);
  Result<nlohmann::json> create_function(const nlohmann::json& body, const std::string& by);
  Status delete_function(const std::string& id);
  // A manual move: records a migration (kind manual) and the new desired placement.
  Result<nlohmann::json> move_function(const std::string& id, const Target& to, std::optional<bool> pin,
                                       const std::string& by);
  // Replaces the policy if `expected_version` is current (else stale_version).
  Result<PolicyRow> put_policy(const nlohmann::json& spec, std::int64_t expected_version, const std::string& by);
  // Records a mark (first_data) on the function's latest started migration.
  Result<nlohmann::json> mark(const std::string& function, const std::string& mark, std::int64_t t_ms);

  // --- the control loop
  Result<WorldSnapshot> snapshot();
  // The same world, reading only what changed since the cache's last read.
  Result<WorldSnapshot> snapshot(WorldCache& cache);
  // Records decisions in one transaction: a migration each, the new desired
  // placement, and supersedes a function's earlier open migration.
  Result<std::vector<std::int64_t>> record_moves(const std::vector<PlannedMove>& moves, std::int64_t decided_ms);
  Status migration_step(std::int64_t id, const std::map<std::string, std::int64_t>& steps, const std::string& state,
                        const std::string& node);
  Status migration_failed(std::int64_t id, const std::string& step, const std::string& error,
                          std::int64_t next_retry_ms);
  // Many observations in one write job (one commit, one fsync): a pass that
  // sees hundreds of functions change does not queue hundreds of commits.
  Status functions_observed(const std::vector<Observation>& observations);
  Status forget_undeployed(const std::string& id);
  // Deletes up to `limit` ended migrations (done, superseded, cancelled) last
  // changed and decided before now_ms - retention_ms, never the one a
  // function's placement points at, nor one decided in the last minute (the
  // move budget counts those). Returns how many went.
  Result<std::size_t> prune_migrations(std::int64_t now_ms, std::int64_t retention_ms, std::size_t limit);

 private:
  Store& store_;
};

// Function ids are path segments: no ':' (custom verbs), no '/', no leading '.'.
bool valid_function_id(const std::string& id);
// The default id of a template's function for a device: "<template>-<addr with '-'>".
std::string default_function_id(const std::string& template_name, const std::string& device);

}  // namespace c4i::orchestrator
