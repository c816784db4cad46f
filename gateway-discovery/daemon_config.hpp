// The daemon's configuration: the YAML file (README.md, section 3) read
// with common/config.hpp, and the parsers of --source and the orchestrator
// URL. Pure: text in, values or one-line errors out.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "gateway-discovery/presence.hpp"

namespace c4i::discovery {

struct SourceSpec {
  enum class Kind { hci, btsnoop, sim } kind = Kind::hci;
  std::string hci_device;  // "hci0"; empty: the first adapter
  std::string path;        // btsnoop file
  double speed = 1.0;      // btsnoop: 1 real time, 0 as fast as possible
  std::string sim_unix;    // sim: a Unix socket path, or
  std::string sim_host;    // sim: TCP host and port
  std::uint16_t sim_port = 0;
};
// "hci", "hci:hci0", "btsnoop:FILE[@speed]", "sim:unix:/path", "sim:HOST:PORT".
Result<SourceSpec> parse_source(const std::string& text);

struct Endpoint {
  std::string host;
  std::uint16_t port = 443;
};
// "https://HOST[:PORT]" (an IPv6 host in brackets).
Result<Endpoint> parse_https_url(const std::string& url);

struct DaemonConfig {
  std::string gateway;
  std::string source = "hci";
  bool scan_active = false;
  int scan_interval_ms = 100;
  int scan_window_ms = 50;
  bool scan_filter_duplicates = false;
  PresenceConfig presence;
  Filters filters;
  std::string orchestrator_url;
  std::string ca_file, cert_file, key_file;
  std::string outbox_path = "/var/lib/c4i/discovery-outbox.db";
  int batch_max = 100;
  int backoff_base_ms = 200;
  int backoff_max_ms = 30'000;
  int request_timeout_ms = 10'000;
  int heartbeat_interval_s = 15;
  // When set, heartbeats report CPU and memory use from this JSON file
  // ({"cpu":0.9,"mem":0.4}) instead of /proc: a simulated gateway's load.
  std::string usage_file;
  // Enrolment (README.md, section 7): the identity directory holding the
  // gateway's key and certificate, and the bootstrap token for the first start.
  std::string identity_dir;
  std::string enrol_token, enrol_token_file;
  double renew_at = 2.0 / 3.0;
  std::string log_format = "text";
  std::string log_level = "info";
};

// Reads a YAML document over `base` (fields absent keep their value).
Result<DaemonConfig> load_config_text(const std::string& text, const std::string& name, DaemonConfig base = {});
// True when the daemon gets its certificate by enrolment (identity_dir or a
// bootstrap token given) rather than from cert_file/key_file.
bool enrols(const DaemonConfig& c);
// The identity directory: identity_dir, else the outbox's directory.
std::string identity_dir_of(const DaemonConfig& c);
// Checks what the file and the flags must give together.
Status validate(const DaemonConfig& c);

}  // namespace c4i::discovery
