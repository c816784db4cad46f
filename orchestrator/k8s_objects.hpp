// The Kubernetes objects of the kubernetes backend, without I/O: names
// (DNS-1123), the Deployment manifest of one function, views of the Nodes
// and Pods the watches deliver, resource quantities, RFC 3339 times, the
// framing of a watch stream, and the kubeconfig file. Pure and unit tested;
// k8s_client.hpp does the talking.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.hpp"
#include "common/result.hpp"
#include "orchestrator/backend.hpp"

namespace c4i::orchestrator::k8s {

// Labels and annotations we own (DESIGN.md, Backends: kubernetes).
inline constexpr const char* kLabelFunction = "cloud4iot.io/function";
inline constexpr const char* kLabelDevice = "cloud4iot.io/device";
inline constexpr const char* kLabelTier = "cloud4iot.io/tier";
inline constexpr const char* kLabelManagedBy = "app.kubernetes.io/managed-by";
inline constexpr const char* kManagedBy = "cloud4iot";
// The function id as given (a label value may not hold every id).
inline constexpr const char* kAnnotationFunctionId = "cloud4iot.io/function-id";
// The placement a pod template was written for ("node=gw-2", "tier=edge!gw-1"):
// tells the pod of the latest decision from an older one.
inline constexpr const char* kAnnotationPlacement = "cloud4iot.io/placement";
inline constexpr const char* kFieldManager = "cloud4iot";

// A DNS-1123 label (RFC 1123, 2.1, as Kubernetes restricts it): lowercase
// [a-z0-9-], starting and ending alphanumeric, at most `max_len` characters.
// Other characters become '-', runs of '-' collapse; a name that had to be
// cut keeps a hash of the whole so two long names stay apart.
std::string dns1123_label(std::string_view in, std::size_t max_len = 63);
// "c4i-<template>-<device>": at most 52 characters, so the ReplicaSet's
// "-<hash>" suffix and the pod's "-<5>" keep pod names within 63.
std::string deployment_name(std::string_view template_name, std::string_view device);
// A label value: [A-Za-z0-9._-], alphanumeric at both ends, at most 63.
std::string label_value(std::string_view in);

std::string placement_key(const Target& t, const std::vector<std::string>& exclude);

struct DeploymentParams {
  std::string ns;
  std::string name;
  FunctionSpec spec;
  Target target;
  std::vector<std::string> exclude;  // nodes a tier target must not use
  std::vector<std::string> archs;    // kubernetes.io/arch In [...]; never empty
  std::string reader_image;          // empty: the function's image (it holds c4i-reader too)
  std::string orchestrator_url;      // for the reader's first_data mark; may be empty
  std::int64_t cpu_m = 0, mem_mb = 0;
};
// The Deployment for server-side apply: strategy Recreate, replicas 1, the
// function and the reader containers, the required node affinity.
Result<nlohmann::json> deployment_manifest(const DeploymentParams& p);

// Readers of apiserver answers by type: a field missing or of another type
// reads as absent (nullptr, "", nullopt), never as an exception.
const nlohmann::json* find_path(const nlohmann::json& j, std::initializer_list<const char*> path);
std::string str_at(const nlohmann::json& j, std::initializer_list<const char*> path);
std::optional<std::int64_t> int_at(const nlohmann::json& j, std::initializer_list<const char*> path);

// Resource quantities (k8s.io/apimachinery resource.Quantity, the forms
// nodes report): "4", "3500m", "0.5"; "4Gi", "4096Mi", "4G", "123456", "1e3".
std::optional<std::int64_t> parse_cpu_milli(std::string_view q);
std::optional<std::int64_t> parse_bytes(std::string_view q);
// RFC 3339 "2026-11-23T12:30:05Z" (or with fraction / offset) -> unix ms.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view s);
// Unix ms -> RFC 3339 UTC with microseconds ("2026-11-23T12:30:05.123000Z"):
// the form of a MicroTime (a Lease's renewTime), also a valid date-time.
std::string format_rfc3339_micro(std::int64_t ms);

// A Node as the backend sees it; nullopt when it has no cloud4iot.io/tier label.
std::optional<BackendNode> node_from_json(const nlohmann::json& node);
bool node_ready(const nlohmann::json& node);

// A metrics.k8s.io/v1beta1 NodeMetricsList (what metrics-server serves at
// /apis/metrics.k8s.io/v1beta1/nodes) as shares of each node's capacity.
// Nodes missing from `capacity`, or with a usage that does not parse, are
// skipped and counted in `skipped`.
std::vector<NodeUsage> node_usage_from_metrics(const nlohmann::json& list,
                                               const std::map<std::string, BackendNode>& capacity,
                                               std::size_t* skipped = nullptr);

struct PodView {
  std::string name;
  std::string function_id;   // annotation, else the function label
  std::string placement;     // annotation
  std::string node;          // spec.nodeName
  std::string phase;         // Pending | Running | Succeeded | Failed | Unknown
  bool ready = false;
  bool deleting = false;     // metadata.deletionTimestamp set
  int restarts = 0;
  std::string last_exit;     // "exit 3", "signal 9" of the last terminated container
  std::string waiting_reason;  // e.g. CrashLoopBackOff
  std::optional<std::int64_t> scheduled_ms;  // PodScheduled condition (1 s resolution)
  std::optional<std::int64_t> ready_ms;      // Ready condition (1 s resolution)
};
PodView pod_from_json(const nlohmann::json& pod);

// Splits a watch stream (one JSON object per line, RFC 7464-like framing
// used by the apiserver) into lines. A line longer than `max_line` is
// dropped and counted.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line = 32 * 1024 * 1024) : max_line_(max_line) {}
  // Calls `on_line` for each complete line; stops early when it returns false.
  bool feed(std::string_view data, const std::function<bool(std::string_view)>& on_line);
  void reset() {
    buf_.clear();
    skipping_ = false;
  }
  std::uint64_t dropped() const { return dropped_; }

 private:
  std::string buf_;
  std::size_t max_line_;
  bool skipping_ = false;
  std::uint64_t dropped_ = 0;
};

Result<std::string> base64_decode(std::string_view in);

// A kubeconfig resolved to one context. File references are made absolute
// (relative to the kubeconfig's folder); *-data fields are decoded to PEM.
struct KubeConfig {
  std::string server;       // https://host[:port]
  std::string host;
  std::uint16_t port = 443;
  std::string tls_server_name;
  bool insecure_skip_tls_verify = false;
  std::string ca_file, ca_pem;
  std::string cert_file, cert_pem;
  std::string key_file, key_pem;
  std::string token, token_file;
  std::string ns;           // the context's namespace, may be empty
};
// `context`: the context to use; empty: current-context.
Result<KubeConfig> parse_kubeconfig(const config::Node& root, const std::string& dir, const std::string& context);
// "https://host:port" -> host and port (IPv6 in brackets).
Status parse_server_url(const std::string& url, std::string& host, std::uint16_t& port);

}  // namespace c4i::orchestrator::k8s
