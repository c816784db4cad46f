// The orchestrator's records as Kubernetes objects, and back: the pure
// conversions of the kubernetes backend's durable state (ClusterState: the
// cloud4iot.io custom resources) and of leader election (the Lease). No I/O:
// unit tested, and fuzzed on what the apiserver may send back.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace c4i::orchestrator {

// An object's rows, exactly (JSON text): in the status field `record` for
// kinds with a status, else in the annotation cloud4iot.io/record.
inline constexpr const char* kAnnotationRecord = "cloud4iot.io/record";
inline constexpr const char* kStatusRecord = "record";

// Pure conversions between the store's rows and the objects (unit tested).
namespace cluster {
// Row sets of one object, as JSON: {"templates": [row], ...}; keys are table names.
using Rows = std::map<std::string, std::vector<nlohmann::json>>;

// REST shapes (snake_case) <-> the CRDs' spec (camelCase, units spelled out:
// cpu_m -> cpuMillis, cooldown_s -> cooldownSeconds). Map keys that are
// names (env, nodeSelector, templates.<name>) are kept as they are.
nlohmann::json template_spec_to_crd(const nlohmann::json& spec);
nlohmann::json template_spec_from_crd(const nlohmann::json& spec);
nlohmann::json policy_spec_to_crd(const nlohmann::json& spec);
nlohmann::json policy_spec_from_crd(const nlohmann::json& spec);

// The tables whose rows one object of a kind holds; the first is the kind's own.
const std::vector<std::string>& tables_of(const std::string& kind);

// The column of a kind's own table that holds an object's id ("name" for
// templates and gateways, "gateway" for streams, else "id").
const char* id_column(const std::string& kind);

// The object names: templates, functions and tokens as DNS-1123 labels (the
// id itself rides in the record), gateways by their name when it is a
// DNS-1123 subdomain (else a label too), devices as the address with '-',
// migrations "m-<id>".
std::string object_name(const std::string& kind, const std::string& id);

// The object (apiVersion, kind, metadata, spec) and its status (with the
// record; kinds without a status: null, the record in an annotation) for one store kind ("templates", "functions", "devices",
// "migrations", "policy", "gateways", "tokens") from the rows that describe it.
struct ObjectPair {
  nlohmann::json object;
  nlohmann::json status;  // null: the kind has none to write
};
Result<ObjectPair> to_object(const std::string& kind, const std::string& ns, const Rows& rows);
// The rows of one listed object: its record when it has one, else what its
// spec says (objects made with kubectl). invalid_argument names the object.
Result<Rows> rows_of(const std::string& kind, const nlohmann::json& object);
}  // namespace cluster

// The leader's REST address, so a follower can say where to go.
inline constexpr const char* kAnnotationLeaderUrl = "cloud4iot.io/leader-url";

// What a Lease says (spec), plus its resourceVersion.
struct LeaseRecord {
  std::string holder;                 // spec.holderIdentity ("" after a release)
  std::int64_t lease_duration_s = 0;  // spec.leaseDurationSeconds
  std::int64_t acquire_ms = 0, renew_ms = 0;  // spec.acquireTime / renewTime (informative only)
  std::int64_t transitions = 0;       // spec.leaseTransitions
  std::string leader_url;             // annotation
  std::string resource_version;
};
// A Lease object -> record; invalid_argument naming the field when it is not a Lease.
Result<LeaseRecord> lease_from_json(const nlohmann::json& lease);
// The Lease object to PUT (update, with the resourceVersion) or POST (create, without).
nlohmann::json lease_to_json(const LeaseRecord& r, const std::string& name, const std::string& ns);

}  // namespace c4i::orchestrator
