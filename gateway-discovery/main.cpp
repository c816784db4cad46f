// c4i-discovery: the gateway discovery daemon, and `replay` to check the
// decoders against a capture. Usage and contracts: README.md.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "common/log.hpp"
#include "gateway-discovery/daemon.hpp"
#include "gateway-discovery/daemon_config.hpp"
#include "gateway-discovery/privileges.hpp"
#include "gateway-discovery/replay.hpp"
#include "gateway-discovery/sources.hpp"

namespace {

int fail(const std::string& message, int code) {
  std::cerr << "c4i-discovery: " << message << "\n";
  return code;
}

int run_replay(const std::string& path) {
  auto file = c4i::discovery::MappedFile::open(path);
  if (!file) return fail(file.error().message, 2);
  std::FILE* out = stdout;
  bool write_failed = false;
  auto sum = c4i::discovery::replay_jsonl(
      file->bytes(),
      [&](std::string_view chunk) {
        if (!write_failed && std::fwrite(chunk.data(), 1, chunk.size(), out) != chunk.size()) write_failed = true;
      },
      [&](std::size_t offset) { file->release_before(offset); });
  if (!sum) return fail(path + ": " + sum.error().message, 2);
  if (std::fflush(out) != 0 || write_failed) return fail("writing the output failed", 1);
  std::cerr << sum->line() << "\n";
  return 0;
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"c4i-discovery: BLE presence on a gateway, delivered durably to the Cloud4IoT orchestrator"};
  app.set_version_flag("--version", "c4i-discovery 0.1.0");

  std::string config_file, gateway, hci, source, orchestrator, ca, cert, key, outbox, log_format, log_level, user;
  std::string enrol_token, enrol_token_file, identity_dir;
  bool active = false;
  double threshold = 0;
  int heartbeat = -1;
  app.add_option("--config", config_file, "YAML configuration file");
  app.add_option("--gateway", gateway, "gateway name (default: the file's, else the host name)");
  app.add_option("--hci", hci, "Bluetooth adapter (hci0); same as --source hci:NAME");
  app.add_option("--source", source, "hci[:NAME] | btsnoop:FILE[@speed] | sim:unix:/path | sim:HOST:PORT");
  app.add_flag("--active", active, "active scanning (send scan requests)");
  auto* thr = app.add_option("--threshold", threshold, "RSSI threshold, dBm");
  app.add_option("--orchestrator", orchestrator, "orchestrator URL, https://HOST[:PORT]");
  app.add_option("--ca", ca, "CA bundle to verify the orchestrator");
  app.add_option("--cert", cert, "client certificate (PEM)");
  app.add_option("--key", key, "client key (PEM)");
  app.add_option("--outbox", outbox, "outbox database path");
  app.add_option("--enrol-token", enrol_token, "bootstrap token: enrol on first start (prefer --enrol-token-file)");
  app.add_option("--enrol-token-file", enrol_token_file, "file holding the bootstrap token");
  app.add_option("--identity-dir", identity_dir,
                 "where the enrolled key and certificate live (default: the outbox's directory)");
  app.add_option("--user", user, "run as this user (keeping only the capabilities the source needs)");
  app.add_option("--heartbeat-interval", heartbeat, "seconds between heartbeats, 0: none")->check(CLI::Range(0, 86400));
  app.add_option("--log-format", log_format, "text | json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  auto* replay = app.add_subcommand("replay", "decode a btsnoop capture's advertising reports to JSON lines");
  std::string replay_file, replay_format = "jsonl";
  replay->add_option("file", replay_file, "btsnoop capture (datalink 1001, 1002 or 2001)")->required();
  replay->add_option("--format", replay_format, "output format")->check(CLI::IsMember({"jsonl"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(e.what(), 2);
  }

  if (replay->parsed()) return run_replay(replay_file);

  c4i::discovery::DaemonConfig cfg;
  cfg.gateway = hostname();
  if (!config_file.empty()) {
    std::FILE* f = std::fopen(config_file.c_str(), "rb");
    if (!f) return fail(config_file + ": cannot open", 2);
    std::string text;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    std::fclose(f);
    auto loaded = c4i::discovery::load_config_text(text, config_file, cfg);
    if (!loaded) return fail(loaded.error().message, 2);
    cfg = std::move(*loaded);
  }
  if (!gateway.empty()) cfg.gateway = gateway;
  if (!hci.empty() && !source.empty()) return fail("--hci and --source are exclusive", 2);
  if (!hci.empty()) cfg.source = "hci:" + hci;
  if (!source.empty()) cfg.source = source;
  if (active) cfg.scan_active = true;
  if (*thr) cfg.presence.threshold_dbm = threshold;
  if (!orchestrator.empty()) cfg.orchestrator_url = orchestrator;
  if (!ca.empty()) cfg.ca_file = ca;
  if (!cert.empty()) cfg.cert_file = cert;
  if (!key.empty()) cfg.key_file = key;
  if (!outbox.empty()) cfg.outbox_path = outbox;
  if (!enrol_token.empty()) cfg.enrol_token = enrol_token;
  if (!enrol_token_file.empty()) cfg.enrol_token_file = enrol_token_file;
  if (!identity_dir.empty()) cfg.identity_dir = identity_dir;
  if (heartbeat >= 0) cfg.heartbeat_interval_s = heartbeat;
  if (!log_format.empty()) cfg.log_format = log_format;
  if (!log_level.empty()) cfg.log_level = log_level;

  auto fmt = c4i::log::parse_format(cfg.log_format);
  if (!fmt) return fail(fmt.error().message, 2);
  auto level = c4i::log::parse_level(cfg.log_level);
  if (!level) return fail(level.error().message, 2);
  c4i::log::init("c4i-discovery", *fmt, *level);
  // Two threads (scan loop, delivery) need no per-thread malloc arenas; one
  // keeps the resident set small on a gateway.
  mallopt(M_ARENA_MAX, 1);
  // Before anything is opened: only the HCI source keeps CAP_NET_RAW and
  // CAP_NET_ADMIN (raw socket, LE scan commands); every other capability goes.
  bool hci_source = cfg.source.rfind("hci", 0) == 0;
  if (auto st = c4i::discovery::drop_privileges(hci_source ? c4i::discovery::hci_capabilities() : std::vector<int>{}, user); !st)
    return fail(st.error().message, st.error().code == "unknown_user" ? 2 : 5);
  return c4i::discovery::run_daemon(cfg);
}
