#include "orchestrator/cluster_objects.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>

#include "orchestrator/k8s_objects.hpp"

namespace c4i::orchestrator {

using nlohmann::json;

namespace cluster {
namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr const char* kApiVersion = "cloud4iot.io/v1alpha1";

std::string cut(const std::string& s, std::size_t n) { return s.size() <= n ? s : s.substr(0, n); }
bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return true;
  return false;
}
// A row's field by type (the apiserver's readers, k8s_objects.hpp).
std::string str(const json& row, const char* key) { return k8s::str_at(row, {key}); }
std::optional<std::int64_t> num(const json& row, const char* key) { return k8s::int_at(row, {key}); }
void put_time(json& out, const char* field, std::optional<std::int64_t> ms) {
  if (ms && *ms > 0) out[field] = k8s::format_rfc3339_micro(*ms);
}
json parse_text(const json& row, const char* key, json fallback) {
  auto j = json::parse(str(row, key), nullptr, false);
  return j.is_discarded() ? fallback : j;
}

std::string snake_to_camel(const std::string& s) {
  std::string out;
  bool up = false;
  for (char ch : s) {
    if (ch == '_') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch;
    up = false;
  }
  return out;
}
std::string camel_to_snake(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (std::isupper(static_cast<unsigned char>(ch))) {
      out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    } else {
      out += ch;
    }
  }
  return out;
}

// Field names whose units the CRDs spell out; the rest convert by case.
const std::map<std::string, std::string>& unit_names() {
  static const std::map<std::string, std::string> m = {
      {"cpu_m", "cpuMillis"},          {"mem_mb", "memoryMiB"},           {"cooldown_s", "cooldownSeconds"},
      {"lost_after_s", "lostAfterSeconds"}, {"node_stale_after_s", "nodeStaleAfterSeconds"},
  };
  return m;
}
std::string to_crd_name(const std::string& k) {
  auto it = unit_names().find(k);
  return it != unit_names().end() ? it->second : snake_to_camel(k);
}
std::string from_crd_name(const std::string& k) {
  for (const auto& [snake, camel] : unit_names())
    if (camel == k) return snake;
  return camel_to_snake(k);
}
// Top-level keys converted; values kept (maps of names stay as they are).
json rename_keys(const json& in, std::string (*rename)(const std::string&)) {
  json out = json::object();
  if (!in.is_object()) return out;
  for (auto it = in.begin(); it != in.end(); ++it) out[rename(it.key())] = *it;
  return out;
}

const json& first(const Rows& rows, const std::string& table) {
  static const json empty = json::object();
  auto it = rows.find(table);
  return it == rows.end() || it->second.empty() ? empty : it->second.front();
}

json object_base(const std::string& kind_name, const std::string& name, const std::string& ns, const Rows& rows) {
  json record = json::object();
  for (const auto& [table, list] : rows) record[table] = list;
  return {{"apiVersion", kApiVersion},
          {"kind", kind_name},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"labels", {{k8s::kLabelManagedBy, k8s::kManagedBy}}},
            {"annotations", {{kAnnotationRecord, record.dump()}}}}}};
}

std::int64_t created_ms_of(const json& object) {
  const json& md = object.contains("metadata") ? object["metadata"] : json::object();
  if (md.contains("creationTimestamp") && md["creationTimestamp"].is_string())
    return k8s::parse_rfc3339_ms(md["creationTimestamp"].get<std::string>()).value_or(wall_ms());
  return wall_ms();
}
}  // namespace

const std::vector<std::string>& tables_of(const std::string& kind) {
  static const std::map<std::string, std::vector<std::string>> m = {
      {"templates", {"templates"}},       {"functions", {"functions", "placements"}},
      {"devices", {"devices", "sightings"}}, {"migrations", {"migrations"}},
      {"policy", {"policy", "policy_history"}}, {"streams", {"gateway_streams"}},
      {"gateways", {"gateway_identities", "gateway_certs"}}, {"tokens", {"bootstrap_tokens"}},
  };
  static const std::vector<std::string> none;
  auto it = m.find(kind);
  return it == m.end() ? none : it->second;
}

json template_spec_to_crd(const json& spec) {
  json out = rename_keys(spec, [](const std::string& k) { return to_crd_name(k); });
  out.erase("description");  // not in the CRD: kept in the record
  out.erase("name");
  return out;
}
json template_spec_from_crd(const json& spec) { return rename_keys(spec, [](const std::string& k) { return from_crd_name(k); }); }

json policy_spec_to_crd(const json& spec) {
  json out = rename_keys(spec, [](const std::string& k) { return to_crd_name(k); });
  if (out.contains("tiers") && out["tiers"].is_object())
    for (auto it = out["tiers"].begin(); it != out["tiers"].end(); ++it)
      *it = rename_keys(*it, [](const std::string& k) { return to_crd_name(k); });
  return out;
}
json policy_spec_from_crd(const json& spec) {
  json out = rename_keys(spec, [](const std::string& k) { return from_crd_name(k); });
  if (out.contains("tiers") && out["tiers"].is_object())
    for (auto it = out["tiers"].begin(); it != out["tiers"].end(); ++it)
      *it = rename_keys(*it, [](const std::string& k) { return from_crd_name(k); });
  return out;
}

const char* id_column(const std::string& kind) {
  if (kind == "templates" || kind == "gateways") return "name";
  if (kind == "streams") return "gateway";
  return "id";
}

namespace {
// A DNS-1123 subdomain (an object name) as it is: a gateway's name usually is one.
bool is_subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto end = s.find('.', start);
    if (end == std::string::npos) end = s.size();
    if (end == start || end - start > 63) return false;
    for (std::size_t i = start; i < end; ++i) {
      char c = s[i];
      bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      if (!alnum && !(c == '-' && i != start && i + 1 != end)) return false;
    }
    start = end + 1;
  }
  return true;
}
}  // namespace

std::string object_name(const std::string& kind, const std::string& id) {
  if (kind == "gateways" && is_subdomain(id)) return id;
  if (kind == "devices") {
    std::string s = id;
    for (char& c : s)
      if (c == ':') c = '-';
    return s;
  }
  if (kind == "migrations") return "m-" + id;
  if (kind == "policy") return "default";
  return k8s::dns1123_label(id);
}

namespace {
Result<ObjectPair> build_object(const std::string& kind, const std::string& ns, const Rows& rows);
}  // namespace

namespace {
// Removes the empty maps inside `j` (not `j` itself): server-side apply
// turns a map whose every key it removed into null, which the CRDs refuse
// (a policy's templates emptied, a gateway's labels). Absent means the same.
void drop_empty_maps(json& j) {
  if (!j.is_object() && !j.is_array()) return;
  for (auto it = j.begin(); it != j.end();) {
    drop_empty_maps(*it);
    if (j.is_object() && it->is_object() && it->empty()) it = j.erase(it);
    else ++it;
  }
}
}  // namespace

Result<ObjectPair> to_object(const std::string& kind, const std::string& ns, const Rows& rows) {
  auto out = build_object(kind, ns, rows);
  if (!out) return out;
  if (out->object.contains("spec")) drop_empty_maps(out->object["spec"]);
  drop_empty_maps(out->status);
  if (out->status.is_null()) return out;
  // A kind with a status keeps its record there: what changes with progress
  // (most of it) is then one status write, the object written only when its
  // spec, labels or other annotations change.
  json& annotations = out->object["metadata"]["annotations"];
  out->status[kStatusRecord] = annotations[kAnnotationRecord];
  annotations.erase(kAnnotationRecord);
  return out;
}

namespace {
Result<ObjectPair> build_object(const std::string& kind, const std::string& ns, const Rows& rows) {
  ObjectPair out;
  if (kind == "templates") {
    const json& t = first(rows, "templates");
    out.object = object_base("FunctionTemplate", object_name(kind, str(t, "name")), ns, rows);
    out.object["spec"] = template_spec_to_crd(parse_text(t, "spec", json::object()));
    return out;
  }
  if (kind == "functions") {
    const json& f = first(rows, "functions");
    const json& p = first(rows, "placements");
    out.object = object_base("IoTFunction", object_name(kind, str(f, "id")), ns, rows);
    out.object["metadata"]["annotations"][k8s::kAnnotationFunctionId] = str(f, "id");
    out.object["spec"] = {{"template", str(f, "template")}, {"device", str(f, "device")}, {"pinned", num(f, "pinned").value_or(0) != 0}};
    json st = json::object();
    if (std::string phase = str(f, "state"); one_of(phase, {"pending", "scheduled", "running", "backoff", "stopping", "undeployed"}))
      st["phase"] = phase;
    st["node"] = cut(str(f, "node"), 253);
    st["restarts"] = std::max<std::int64_t>(num(f, "restarts").value_or(0), 0);
    st["lastExit"] = cut(str(f, "last_exit"), 1024);
    put_time(st, "startedTime", num(f, "started_ms"));
    put_time(st, "firstDataTime", num(f, "first_data_ms"));
    if (!p.empty()) {
      json d = json::object();
      d["node"] = cut(str(p, "node"), 253);
      if (std::string tier = str(p, "tier"); one_of(tier, {"gateway", "edge", "cloud"})) d["tier"] = tier;
      if (std::string k = str(p, "kind"); one_of(k, {"place", "roam", "offload_up", "bring_down", "undeploy", "manual"})) d["kind"] = k;
      d["reason"] = cut(str(p, "reason"), 1024);
      put_time(d, "decidedTime", num(p, "decided_ms"));
      if (auto m = num(p, "migration")) {
        d["migration"] = object_name("migrations", std::to_string(*m));
        st["lastMigration"] = d["migration"];
      }
      st["desired"] = d;
    }
    out.status = st;
    return out;
  }
  if (kind == "devices") {
    const json& d = first(rows, "devices");
    std::string addr = str(d, "id");
    out.object = object_base("Device", object_name(kind, addr), ns, rows);
    json spec = {{"address", addr}};
    if (std::string t = str(d, "addr_type"); one_of(t, {"public", "random"})) spec["addressType"] = t;
    out.object["spec"] = spec;
    auto rssi_ok = [](std::optional<std::int64_t> r) { return r && *r >= -127 && *r <= 20; };
    json st = json::object();
    if (std::string s = str(d, "state"); one_of(s, {"present", "lost"})) st["state"] = s;
    st["gateway"] = cut(str(d, "gateway"), 253);
    if (auto r = num(d, "rssi"); rssi_ok(r)) st["rssi"] = *r;
    st["name"] = cut(str(d, "name"), 248);
    json services = json::array();
    for (const auto& s : parse_text(d, "services", json::array()))
      if (s.is_string() && services.size() < 64) services.push_back(cut(s.get<std::string>(), 36));
    st["services"] = services;
    put_time(st, "firstSeenTime", num(d, "first_seen_ms"));
    put_time(st, "lastSeenTime", num(d, "last_seen_ms"));
    put_time(st, "lostTime", num(d, "lost_ms"));
    json sightings = json::array();
    if (auto it = rows.find("sightings"); it != rows.end())
      for (const auto& s : it->second) {
        if (sightings.size() >= 256) break;
        json o = {{"gateway", cut(str(s, "gateway"), 253)},
                  {"rssi", std::clamp<std::int64_t>(num(s, "rssi").value_or(-127), -127, 20)},
                  {"present", num(s, "present").value_or(0) != 0}};
        put_time(o, "enterTime", num(s, "enter_t"));
        put_time(o, "lastSeenTime", num(s, "last_t"));
        sightings.push_back(o);
      }
    st["sightings"] = sightings;
    out.status = st;
    return out;
  }
  if (kind == "migrations") {
    const json& m = first(rows, "migrations");
    auto id = num(m, "id");
    if (!id) return Error{"invalid_argument", "migration row without an id"};
    out.object = object_base("Migration", object_name(kind, std::to_string(*id)), ns, rows);
    out.object["metadata"]["labels"][k8s::kLabelFunction] = k8s::label_value(str(m, "function"));
    // The spec is immutable (the CRD says so): a tier decision's node, known
    // once the scheduler binds the pod, stays in the record only.
    json to = json::object();
    if (std::string tier = str(m, "to_tier"); one_of(tier, {"gateway", "edge", "cloud"})) to["tier"] = tier;
    else if (!str(m, "to_node").empty()) to["node"] = cut(str(m, "to_node"), 253);
    json spec = {{"function", cut(str(m, "function"), 128)}, {"kind", str(m, "kind")}, {"reason", cut(str(m, "reason"), 1024)},
                 {"from", cut(str(m, "from_node"), 253)},   {"to", to}, {"requestedBy", cut(str(m, "requested_by"), 253)}};
    out.object["spec"] = spec;
    json st = json::object();
    if (std::string s = str(m, "state"); one_of(s, {"pending", "applying", "failed", "done", "superseded", "cancelled"}))
      st["state"] = s;
    st["attempts"] = std::max<std::int64_t>(num(m, "attempts").value_or(0), 0);
    put_time(st, "nextRetryTime", num(m, "next_retry_ms"));
    if (!str(m, "failed_step").empty())
      st["failure"] = {{"step", cut(str(m, "failed_step"), 64)}, {"error", cut(str(m, "error"), 4096)}};
    json tl = json::object();
    for (const char* step : kTimelineSteps) put_time(tl, step == std::string("first_data") ? "firstData" : step, num(m, step));
    st["timeline"] = tl;
    json steps = json::object();
    json recorded = parse_text(m, "steps", json::object());
    for (auto it = recorded.begin(); it != recorded.end() && recorded.is_object(); ++it)
      if (it->is_number_integer() && steps.size() < 16) steps[it.key()] = k8s::format_rfc3339_micro(it->get<std::int64_t>());
    st["steps"] = steps;
    out.status = st;
    return out;
  }
  if (kind == "policy") {
    const json& p = first(rows, "policy");
    out.object = object_base("OffloadPolicy", "default", ns, rows);
    out.object["spec"] = policy_spec_to_crd(parse_text(p, "spec", json::object()));
    json st = {{"version", num(p, "version").value_or(0)}, {"changedBy", cut(str(p, "changed_by"), 253)}};
    put_time(st, "changedTime", num(p, "changed_ms"));
    out.status = st;
    return out;
  }
  if (kind == "gateways") {
    const json& g = first(rows, "gateway_identities");
    const std::string name = str(g, "name");
    out.object = object_base("GatewayIdentity", object_name(kind, name), ns, rows);
    json spec = {{"gateway", cut(name, 63)}, {"token", cut(str(g, "token"), 64)}, {"revokedBy", cut(str(g, "revoked_by"), 253)}};
    if (json labels = parse_text(g, "labels", json::object()); labels.is_object()) spec["labels"] = labels;
    put_time(spec, "enrolledTime", num(g, "enrolled_ms"));
    put_time(spec, "revokedTime", num(g, "revoked_ms"));
    json certs = json::array();
    if (auto it = rows.find("gateway_certs"); it != rows.end())
      for (const auto& c : it->second) {
        json o = {{"serial", cut(str(c, "serial"), 64)}, {"sha256", cut(str(c, "sha256"), 64)}};
        if (std::string k = str(c, "kind"); one_of(k, {"enrol", "renew"})) o["kind"] = k;
        put_time(o, "notBefore", num(c, "not_before_ms"));
        put_time(o, "notAfter", num(c, "not_after_ms"));
        put_time(o, "revokedTime", num(c, "revoked_ms"));
        certs.push_back(std::move(o));
      }
    spec["certificates"] = certs;
    out.object["spec"] = spec;
    return out;
  }
  if (kind == "tokens") {
    const json& t = first(rows, "bootstrap_tokens");
    out.object = object_base("BootstrapToken", object_name(kind, str(t, "id")), ns, rows);
    const std::int64_t uses_max = std::clamp<std::int64_t>(num(t, "uses_max").value_or(1), 1, 10'000);
    json spec = {{"gateway", cut(str(t, "gateway"), 63)},
                 {"usesMax", uses_max},
                 {"uses", std::clamp<std::int64_t>(num(t, "uses").value_or(0), 0, uses_max)},
                 {"createdBy", cut(str(t, "created_by"), 253)}};
    if (json labels = parse_text(t, "labels", json::object()); labels.is_object()) spec["labels"] = labels;
    put_time(spec, "createdTime", num(t, "created_ms"));
    // Required by the CRD: a row without a time (never made so) reads as long expired.
    spec["expiresTime"] = k8s::format_rfc3339_micro(std::max<std::int64_t>(num(t, "expires_ms").value_or(1), 1));
    out.object["spec"] = spec;
    return out;
  }
  return Error{"invalid_argument", "no object for kind " + kind};
}
}  // namespace

Result<Rows> rows_of(const std::string& kind, const json& object) {
  const json& md = object.contains("metadata") && object["metadata"].is_object() ? object["metadata"] : json::object();
  std::string name = str(md, "name");
  const auto& tables = tables_of(kind);
  Rows rows;
  // The record: in the status (kinds that have one), or in an annotation
  // (the rest, and objects written before the record moved to the status).
  const json* found = nullptr;
  std::string where;
  if (object.contains("status") && object["status"].is_object() && object["status"].contains(kStatusRecord)) {
    found = &object["status"][kStatusRecord];
    where = std::string("status.") + kStatusRecord;
  } else if (md.contains("annotations") && md["annotations"].is_object() && md["annotations"].contains(kAnnotationRecord)) {
    found = &md["annotations"][kAnnotationRecord];
    where = std::string("annotation ") + kAnnotationRecord;
  }
  if (found) {
    json record = found->is_string() ? json::parse(found->get<std::string>(), nullptr, false) : json();
    if (!record.is_object()) return Error{"invalid_argument", kind + " " + name + ": " + where + " is not a JSON object"};
    for (auto it = record.begin(); it != record.end(); ++it) {
      if (std::find(tables.begin(), tables.end(), it.key()) == tables.end())
        return Error{"invalid_argument", kind + " " + name + ": " + where + " names table " + it.key() + ", not one of this kind's"};
      if (!it->is_array()) return Error{"invalid_argument", kind + " " + name + ": record " + it.key() + " is not a list"};
      for (const auto& row : *it) {
        if (!row.is_object()) return Error{"invalid_argument", kind + " " + name + ": record " + it.key() + " has a non-object row"};
        rows[it.key()].push_back(row);
      }
    }
    return rows;
  }
  // Made with kubectl: what the spec says.
  const json& spec = object.contains("spec") && object["spec"].is_object() ? object["spec"] : json::object();
  std::int64_t created = created_ms_of(object);
  if (kind == "templates") {
    json s = template_spec_from_crd(spec);
    rows["templates"].push_back({{"name", name}, {"spec", s.dump()}, {"created_ms", created}, {"created_by", "kubernetes"}});
  } else if (kind == "functions") {
    if (!spec.contains("template") || !spec["template"].is_string() || !spec.contains("device") || !spec["device"].is_string())
      return Error{"invalid_argument", "IoTFunction " + name + ": spec.template and spec.device are required"};
    rows["functions"].push_back({{"id", name},
                                 {"template", spec["template"]},
                                 {"device", spec["device"]},
                                 {"pinned", spec.contains("pinned") && spec["pinned"].is_boolean() && spec["pinned"].get<bool>() ? 1 : 0},
                                 {"created_ms", created},
                                 {"created_by", "kubernetes"},
                                 {"updated_ms", created}});
  } else if (kind == "policy") {
    const json& st = object.contains("status") && object["status"].is_object() ? object["status"] : json::object();
    rows["policy"].push_back({{"id", 1},
                              {"version", std::max<std::int64_t>(num(st, "version").value_or(1), 1)},
                              {"spec", policy_spec_from_crd(spec).dump()},
                              {"changed_ms", created},
                              {"changed_by", "kubernetes"}});
  }
  return rows;  // devices, migrations and enrolment records are the orchestrator's own: none without a record
}

}  // namespace cluster

// ---------------------------------------------------------------- the Lease

Result<LeaseRecord> lease_from_json(const json& lease) {
  if (k8s::str_at(lease, {"kind"}) != "Lease")
    return Error{"invalid_argument", "not a Lease object (kind is not Lease)"};
  LeaseRecord r;
  const json& md = lease.contains("metadata") ? lease["metadata"] : json::object();
  if (md.contains("resourceVersion") && md["resourceVersion"].is_string()) r.resource_version = md["resourceVersion"];
  if (md.contains("annotations") && md["annotations"].is_object()) {
    const auto& a = md["annotations"];
    if (a.contains(kAnnotationLeaderUrl) && a[kAnnotationLeaderUrl].is_string()) r.leader_url = a[kAnnotationLeaderUrl];
  }
  if (!lease.contains("spec")) return r;  // an empty Lease: nobody holds it
  const json& spec = lease["spec"];
  if (!spec.is_object()) return Error{"invalid_argument", "Lease spec is not an object"};
  if (spec.contains("holderIdentity")) {
    if (!spec["holderIdentity"].is_string()) return Error{"invalid_argument", "Lease spec.holderIdentity is not a string"};
    r.holder = spec["holderIdentity"];
  }
  if (spec.contains("leaseDurationSeconds")) {
    if (!spec["leaseDurationSeconds"].is_number_integer())
      return Error{"invalid_argument", "Lease spec.leaseDurationSeconds is not an integer"};
    r.lease_duration_s = spec["leaseDurationSeconds"];
  }
  if (spec.contains("leaseTransitions") && spec["leaseTransitions"].is_number_integer())
    r.transitions = spec["leaseTransitions"];
  for (auto [field, out] : {std::pair{"acquireTime", &r.acquire_ms}, std::pair{"renewTime", &r.renew_ms}})
    if (spec.contains(field) && spec[field].is_string())
      *out = k8s::parse_rfc3339_ms(spec[field].get<std::string>()).value_or(0);
  return r;
}

json lease_to_json(const LeaseRecord& r, const std::string& name, const std::string& ns) {
  json md = {{"name", name}, {"namespace", ns}, {"annotations", {{kAnnotationLeaderUrl, r.leader_url}}}};
  if (!r.resource_version.empty()) md["resourceVersion"] = r.resource_version;
  json spec = {{"holderIdentity", r.holder}, {"leaseDurationSeconds", r.lease_duration_s}, {"leaseTransitions", r.transitions}};
  if (r.acquire_ms) spec["acquireTime"] = k8s::format_rfc3339_micro(r.acquire_ms);
  if (r.renew_ms) spec["renewTime"] = k8s::format_rfc3339_micro(r.renew_ms);
  return {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"metadata", md}, {"spec", spec}};
}

}  // namespace c4i::orchestrator
