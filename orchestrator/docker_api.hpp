// The Docker Engine API's shapes, without I/O (API v1.41,
// https://docs.docker.com/engine/api/v1.41/): engine endpoints, the JSON
// bodies the docker backend reads (info, container list and inspect, stats,
// events), the JSON-lines streams (image pull progress, events), the
// multiplexed log stream, and the docker topology file. Everything here
// parses bytes from an engine or a file: bounded, never trusting a length,
// fuzzed (tests/fuzz/docker_api.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.hpp"
#include "common/result.hpp"
#include "orchestrator/settings.hpp"

namespace c4i::orchestrator::docker {

// Where an engine listens: unix:///run/docker.sock, or tcp://host:port with
// TLS (client certificate, key and the CA that signed the engine's certificate).
struct Endpoint {
  std::string url;          // as written, for messages
  std::string socket_path;  // unix
  std::string host;         // tcp
  std::uint16_t port = 0;
  std::string ca_file, cert_file, key_file;
  bool is_unix() const { return !socket_path.empty(); }
};
Result<Endpoint> parse_endpoint(const std::string& url);

// The BLE reader beside each function: a second container (the function's
// image unless `image`, entrypoint /usr/bin/c4i-reader) that connects to the
// device and streams its samples to the function over a Unix socket in a
// volume both containers mount at /run/c4i (as the kubernetes backend's
// emptyDir). In `args`, `binds` and `connect`, {addr}, {device}, {node} and
// {function} are replaced by the function's values.
struct ReaderConfig {
  bool enabled = true;
  std::string image;              // empty: the function's image (images/multicall.cpp)
  std::string network = "host";   // BLE (L2CAP) sockets exist only in the host's network namespace
  std::string connect = "{addr}"; // c4i-reader --connect
  std::vector<std::string> args;  // more c4i-reader arguments (--ca, --cert, --key, --token...)
  std::vector<std::string> binds; // HOST:CONTAINER[:ro]
};
// One node of the docker topology: the node and its engine.
struct DockerNode {
  TopologyNode node;       // arch and capacity are read from the engine when it answers
  Endpoint engine;
  std::string network = "bridge";  // the containers' network (HostConfig.NetworkMode)
  ReaderConfig reader;             // the topology's `reader`, or the node's own
};
struct DockerTopology {
  std::vector<DockerNode> nodes;
  std::int64_t usage_interval_ms = 10'000;  // container stats poll; 0: never
  std::int64_t stop_timeout_s = 3;          // POST /containers/{id}/stop?t=
  std::int64_t pull_timeout_ms = 300'000;
};
// nodes: [{name, tier, [arch, cpu_capacity_m, mem_capacity_mb, labels,]
//          engine: {endpoint, ca, cert, key}, network, reader}], usage_interval_ms, stop_timeout_s,
// pull_timeout_ms, reader: {enabled, image, network, connect, args, binds}
// (a node's `reader` replaces the top-level one whole).
Result<DockerTopology> parse_docker_topology(const config::Node& root);
Result<DockerTopology> load_docker_topology_file(const std::string& path);
// Replaces {addr}, {device}, {node} and {function} in `s`.
std::string expand_reader_template(std::string s, const std::map<std::string, std::string>& values);

// Docker's Architecture (uname -m) as a Go/OCI architecture: x86_64 -> amd64.
std::string normalize_arch(std::string_view uname_machine);

struct EngineInfo {
  std::string name, server_version, os_type;
  std::string arch;  // normalized
  std::int64_t ncpu = 0;
  std::int64_t mem_total_bytes = 0;
};
Result<EngineInfo> parse_info(std::string_view body);

// The message of an error body {"message": "..."}, or the start of the raw body.
std::string error_message(std::string_view body);

// "127.0.0.1:5000/cloud4iot/fn-omh:0.1.0" -> {"127.0.0.1:5000/cloud4iot/fn-omh", "0.1.0"};
// no tag -> "latest"; a digest ("repo@sha256:...") is kept whole in `tag` with an empty repo split.
struct ImageRef {
  std::string repo, tag;
  std::string str() const { return repo + (tag.rfind("sha256:", 0) == 0 ? "@" : ":") + tag; }
};
Result<ImageRef> parse_image_ref(std::string_view ref);

// Splits a stream of JSON values separated by newlines (and \r) as it
// arrives in pieces: pull progress and events. A line longer than
// `max_line_bytes` is an error (the stream is not what we expect).
class JsonLines {
 public:
  explicit JsonLines(std::size_t max_line_bytes = 1 << 20) : max_(max_line_bytes) {}
  // Appends bytes; the complete values are appended to `out`.
  Status feed(std::string_view bytes, std::vector<nlohmann::json>& out);
  std::size_t skipped() const { return skipped_; }  // lines that were not JSON

 private:
  std::string partial_;
  std::size_t max_;
  std::size_t skipped_ = 0;
};

// Pull progress (POST /images/create): the error an engine reports inside a
// 200 stream ({"errorDetail":{"message":..},"error":..}) becomes an Error.
Status check_pull_message(const nlohmann::json& m);

struct ContainerSummary {
  std::string id, name, image, state, status;
  std::map<std::string, std::string> labels;
};
Result<std::vector<ContainerSummary>> parse_container_list(std::string_view body);

struct ContainerView {
  std::string id, name, image, status;  // status: created | running | exited | ...
  bool running = false;
  int exit_code = 0;
  bool oom_killed = false;
  std::string started_at, finished_at, error;
  std::map<std::string, std::string> labels;
};
Result<ContainerView> parse_inspect(std::string_view body);

struct ImageView {
  std::string id, arch, os;
};
Result<ImageView> parse_image_inspect(std::string_view body);

// One reading of GET /containers/{id}/stats?stream=false.
struct StatsSample {
  std::uint64_t cpu_total_ns = 0, system_cpu_ns = 0;
  std::int64_t online_cpus = 0;
  std::uint64_t mem_usage_bytes = 0;  // usage less the page cache
};
Result<StatsSample> parse_stats(std::string_view body);
// The share of the whole host's CPU (0..1) the container used between two readings.
double cpu_share(const StatsSample& before, const StatsSample& after);

// A container event (GET /events): die, start, destroy...
struct ContainerEvent {
  std::string action, id;
  std::map<std::string, std::string> attributes;  // labels, exitCode, name, image
  std::int64_t time_ns = 0;
};
std::optional<ContainerEvent> parse_event(const nlohmann::json& e);

// Demultiplexes a non-TTY attach/logs stream: 8-byte frames
// [stream(1) 0 0 0 size(4, big-endian)] then `size` bytes. A truncated last
// frame keeps what arrived. Stream 1 stdout, 2 stderr (0 stdin, written to stdout).
struct Logs {
  std::string out, err;
};
Result<Logs> demux_logs(std::string_view bytes);

// RFC 3339 with nanoseconds (Docker's StartedAt) to unix ms; nullopt for Go's zero time.
std::optional<std::int64_t> parse_docker_time_ms(std::string_view t);

}  // namespace c4i::orchestrator::docker
