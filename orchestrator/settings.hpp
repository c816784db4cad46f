// The orchestrator's YAML files: its configuration, the embedded backend's
// topology, and the bearer token file. Pure parsing through common/config.hpp:
// every error names file:line and the field path.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/result.hpp"

namespace c4i::orchestrator {

struct Settings {
  std::string listen_address = "127.0.0.1";
  std::uint16_t listen_port = 8443;
  std::string port_file;        // when set, the bound port is written here
  std::string state_dir = "/var/lib/c4i-orchestrator";
  std::string topology_file;    // embedded backend nodes
  std::string tokens_file;
  std::string tls_cert, tls_key, client_ca;
  // Gateway enrolment (orchestrator/README.md): the fleet CA that signs the
  // gateways' client certificates, and how long each one is valid.
  std::string enrol_ca_cert, enrol_ca_key;
  std::int64_t enrol_cert_lifetime_s = 24 * 3600;
  std::int64_t enrol_max_token_ttl_s = 7 * 24 * 3600;
  std::string log_format = "text";
  std::string log_level = "info";
  std::string advertise_url;    // the URL functions use to reach us; default https://<listen>:<port>
  int threads = 4;
  std::size_t max_body_bytes = 256 * 1024;
  std::size_t max_batch_events = 1000;
  // Event times further than these from the receive time are clamped to it (events.hpp, TimeBounds).
  std::int64_t event_future_ms = 5 * 60'000;
  std::int64_t event_past_ms = 7 * 24 * 3'600'000LL;
  std::int64_t reconcile_interval_ms = 500;
  std::int64_t stop_grace_ms = 3000;
  std::int64_t retry_base_ms = 200;
  std::int64_t retry_max_ms = 10'000;
  std::int64_t restart_base_ms = 200;
  std::int64_t restart_max_ms = 10'000;
  std::int64_t heartbeat_stale_ms = 60'000;
  std::int64_t migration_retention_s = 86'400;  // ended migrations kept this long (0: forever)
};

// Parses a configuration document onto `s` (fields absent keep their values).
Status parse_settings(const config::Node& root, Settings& s);
Result<Settings> load_settings_file(const std::string& path);

// "host:port" or ":port" or "port".
Status parse_listen(const std::string& text, std::string& address, std::uint16_t& port);

struct TopologyNode {
  std::string name;
  std::string tier;  // gateway | edge | cloud
  std::string arch = "amd64";
  std::int64_t cpu_capacity_m = 1000;
  std::int64_t mem_capacity_mb = 1024;
  std::map<std::string, std::string> labels;
};
Result<std::vector<TopologyNode>> parse_topology(const config::Node& root);
Result<std::vector<TopologyNode>> load_topology_file(const std::string& path);

enum class Role { viewer = 1, operator_ = 2, admin = 3 };
const char* to_string(Role r);
std::optional<Role> parse_role(const std::string& s);

struct TokenEntry {
  std::string name;
  Role role = Role::viewer;
  std::string sha256_hex;  // lowercase, 64 hex digits
};
Result<std::vector<TokenEntry>> parse_tokens(const config::Node& root);
Result<std::vector<TokenEntry>> load_tokens_file(const std::string& path);

}  // namespace c4i::orchestrator
