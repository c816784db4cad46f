// Fuzzes the kubernetes backend's readers of apiserver answers: the watch
// stream's line splitter, then each line as a Node, a Pod, a
// NodeMetricsList, a Lease and each kind of our custom resources (the rows a
// new leader loads); and the raw bytes as quantities, RFC 3339 times and
// base64. Never crash or throw; quantities never negative.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string_view>

#include <nlohmann/json.hpp>

#include "orchestrator/cluster_objects.hpp"
#include "orchestrator/k8s_objects.hpp"

namespace k8s = c4i::orchestrator::k8s;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto c = k8s::parse_cpu_milli(in); c && *c < 0) std::abort();
  if (auto b = k8s::parse_bytes(in); b && *b < 0) std::abort();
  (void)k8s::parse_rfc3339_ms(in);
  (void)k8s::base64_decode(in);
  k8s::LineSplitter lines(4096);
  lines.feed(in, [](std::string_view line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) return true;
    std::optional<c4i::orchestrator::BackendNode> node = k8s::node_from_json(j);
    (void)k8s::node_ready(j);
    (void)k8s::pod_from_json(j);
    std::map<std::string, c4i::orchestrator::BackendNode> capacity;
    if (node) capacity[node->name] = *node;
    std::size_t skipped = 0;
    (void)k8s::node_usage_from_metrics(j, capacity, &skipped);
    (void)c4i::orchestrator::lease_from_json(j);
    for (const char* kind : {"templates", "functions", "devices", "migrations", "policy", "gateways", "tokens"})
      // What a new leader loads, and the object it would write back from it.
      if (auto rows = c4i::orchestrator::cluster::rows_of(kind, j); rows && !rows->empty())
        (void)c4i::orchestrator::cluster::to_object(kind, "ns", *rows);
    return true;
  });
  return 0;
}
