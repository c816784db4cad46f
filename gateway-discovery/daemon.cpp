#include "gateway-discovery/daemon.hpp"

#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/https_client.hpp"
#include "gateway-discovery/advertising_data.hpp"
#include "gateway-discovery/delivery.hpp"
#include "gateway-discovery/events.hpp"
#include "gateway-discovery/hci_events.hpp"
#include "gateway-discovery/identity.hpp"
#include "gateway-discovery/outbox.hpp"
#include "gateway-discovery/presence.hpp"
#include "gateway-discovery/proc_stats.hpp"
#include "gateway-discovery/sources.hpp"

namespace c4i::discovery {

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

void install_signals() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking poll returns at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

std::string slurp(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Samples /proc for a heartbeat; CPU share since the previous sample.
class HeartbeatSampler {
 public:
  explicit HeartbeatSampler(std::string usage_file) : usage_file_(std::move(usage_file)) {
    utsname u{};
    arch_ = uname(&u) == 0 ? kube_arch(u.machine) : "unknown";
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpus_ = n > 0 ? n : 1;
    prev_ = parse_proc_stat(slurp("/proc/stat"));
  }
  Heartbeat sample(std::int64_t t_ms) {
    Heartbeat h;
    h.t_ms = t_ms;
    h.arch = arch_;
    h.cpu_capacity_m = cpus_ * 1000;
    if (auto now = parse_proc_stat(slurp("/proc/stat"))) {
      if (prev_) h.cpu = cpu_busy_share(*prev_, *now);
      prev_ = now;
    }
    if (auto m = parse_meminfo(slurp("/proc/meminfo"))) {
      h.mem = m->used_share();
      h.mem_capacity_mb = static_cast<std::int64_t>(m->total_kb / 1024);
    }
    if (!usage_file_.empty()) {
      if (auto u = parse_usage_override(slurp(usage_file_.c_str()))) {
        h.cpu = u->cpu;
        h.mem = u->mem;
      } else {
        spdlog::warn("usage file {} is missing or malformed: reporting /proc usage", usage_file_);
      }
    }
    return h;
  }

 private:
  std::string usage_file_;
  std::string arch_;
  long cpus_ = 1;
  std::optional<CpuTimes> prev_;
};

// The bootstrap token: given, or read from its file (surrounding space trimmed).
Result<std::string> read_token(const DaemonConfig& c) {
  std::string t = c.enrol_token;
  if (t.empty() && !c.enrol_token_file.empty()) {
    std::ifstream in(c.enrol_token_file);
    if (!in) return Error{"invalid_config", c.enrol_token_file + ": cannot read the bootstrap token"};
    std::stringstream ss;
    ss << in.rdbuf();
    t = ss.str();
  }
  const auto b = t.find_first_not_of(" \t\r\n"), e = t.find_last_not_of(" \t\r\n");
  t = b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
  return t;
}

// Enrols, retrying while the orchestrator is unreachable or failing (a
// gateway may start before its network): -1 when enrolled, else the exit
// code (6 refused, 2 no token, 4 the identity directory, 0 stopped).
int enrol_until_done(Identity& identity) {
  http::Backoff backoff(std::chrono::milliseconds(500), std::chrono::milliseconds(30'000));
  while (!g_stop.load()) {
    auto st = identity.enrol();
    if (st) return -1;
    const auto& e = st.error();
    if (e.code == "refused") {
      spdlog::error("enrolment refused: {}", e.message);
      std::cerr << "c4i-discovery: enrolment refused: " << e.message << "\n";
      return 6;
    }
    if (e.code == "no_token" || e.code == "invalid_argument") {
      std::cerr << "c4i-discovery: " << e.message << "\n";
      return 2;
    }
    if (e.code == "storage") {
      std::cerr << "c4i-discovery: " << e.message << "\n";
      return 4;
    }
    const auto wait = std::max(backoff.next(), std::chrono::milliseconds(100));
    spdlog::warn("enrolment: {} ({}); retry {} in {} ms", e.message, e.code, backoff.attempt(), wait.count());
    for (auto until = std::chrono::steady_clock::now() + wait; !g_stop.load() && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return 0;
}

}  // namespace

int run_daemon(const DaemonConfig& config) {
  auto spec = parse_source(config.source);
  if (!spec) {
    std::cerr << "c4i-discovery: " << spec.error().message << "\n";
    return 2;
  }
  std::unique_ptr<Source> source;
  switch (spec->kind) {
    case SourceSpec::Kind::hci: {
      ScanSettings scan{config.scan_active, config.scan_interval_ms, config.scan_window_ms,
                        config.scan_filter_duplicates};
      auto s = open_hci_source(spec->hci_device, scan);
      if (!s) {
        std::cerr << "c4i-discovery: " << s.error().message << "\n";
        return 3;
      }
      source = std::move(*s);
      break;
    }
    case SourceSpec::Kind::btsnoop: {
      auto s = open_btsnoop_source(spec->path, spec->speed);
      if (!s) {
        std::cerr << "c4i-discovery: " << s.error().message << "\n";
        return 2;
      }
      source = std::move(*s);
      break;
    }
    case SourceSpec::Kind::sim:
      source = open_sim_source(*spec, config.gateway);
      break;
  }

  // The source first: on a gateway without a usable adapter that is the error to see.
  if (auto v = validate(config); !v) {
    std::cerr << "c4i-discovery: " << v.error().message << "\n";
    return 2;
  }
  auto endpoint = parse_https_url(config.orchestrator_url);
  if (!endpoint) {
    std::cerr << "c4i-discovery: " << endpoint.error().message << "\n";
    return 2;
  }
  install_signals();
  // The gateway's identity: enrolled (and renewed) here, or files given.
  std::unique_ptr<Identity> identity;
  std::string gateway = config.gateway;
  if (enrols(config)) {
    IdentityOptions io;
    io.name = config.gateway;
    io.endpoint = *endpoint;
    io.ca_file = config.ca_file;
    io.dir = identity_dir_of(config);
    io.renew_at = config.renew_at;
    io.request_timeout = std::chrono::milliseconds(config.request_timeout_ms);
    identity = std::make_unique<Identity>(io);
    auto loaded = identity->load();
    if (!loaded) {
      std::cerr << "c4i-discovery: " << loaded.error().message << "\n";
      return 4;
    }
    if (!*loaded) {
      if (auto t = read_token(config); !t) {
        std::cerr << "c4i-discovery: " << t.error().message << "\n";
        return 2;
      } else {
        io.token = *t;
      }
      identity = std::make_unique<Identity>(io);
      if (int code = enrol_until_done(*identity); code >= 0) return code;
    }
    if (identity->cert().common_name != gateway)
      spdlog::info("gateway name {} (from its certificate; configured: {})", identity->cert().common_name, gateway);
    gateway = identity->cert().common_name;
  }
  auto writer = Outbox::open(config.outbox_path);
  if (!writer) {
    std::cerr << "c4i-discovery: " << writer.error().message << "\n";
    return 4;
  }
  auto reader = Outbox::open(config.outbox_path);
  if (!reader) {
    std::cerr << "c4i-discovery: " << reader.error().message << "\n";
    return 4;
  }
  const auto next = writer->next_seq();
  const auto pending = writer->pending();
  spdlog::info("gateway {}: boot_id {}, next seq {}, {} events waiting in the outbox; source {}; orchestrator {}:{}",
               gateway, writer->boot_id(), next ? *next : -1, pending ? *pending : -1, source->describe(),
               endpoint->host, endpoint->port);

  DeliveryOptions dopt;
  dopt.gateway = gateway;
  dopt.endpoint = *endpoint;
  dopt.tls.ca_file = config.ca_file;
  dopt.tls.cert_file = identity ? identity->cert_file() : config.cert_file;
  dopt.tls.key_file = identity ? identity->key_file() : config.key_file;
  dopt.batch_max = config.batch_max;
  dopt.backoff_base = std::chrono::milliseconds(config.backoff_base_ms);
  dopt.backoff_max = std::chrono::milliseconds(config.backoff_max_ms);
  dopt.request_timeout = std::chrono::milliseconds(config.request_timeout_ms);
  Delivery delivery(dopt, std::move(*reader));
  delivery.start();
  std::optional<Renewer> renewer;
  if (identity) {
    renewer.emplace(*identity, [&delivery] { delivery.reload_credentials(); });
    renewer->start();
  }

  Presence presence(config.presence, config.filters);
  HeartbeatSampler sampler(config.usage_file);
  std::vector<AdvReport> reports;
  AdvertisingData ad;
  std::vector<PresenceEvent> changes;
  std::vector<std::string> unsaved;  // events not yet durable (an append failed)
  std::uint64_t malformed_events = 0, malformed_ad = 0;
  const std::int64_t heartbeat_ms = static_cast<std::int64_t>(config.heartbeat_interval_s) * 1000;
  std::int64_t next_heartbeat = wall_ms() + heartbeat_ms;
  std::int64_t last_tick = source->now_ms();
  bool append_failing = false;

  const PacketSink sink = [&](std::span<const std::uint8_t> event, std::int64_t t_ms) {
    reports.clear();
    if (decode_advertising_event(event, reports) == EventDecode::malformed) {
      if (malformed_events++ % 1000 == 0)
        spdlog::warn("skipped a malformed advertising event ({} so far)", malformed_events);
    }
    for (const auto& r : reports) {
      decode_advertising_data(r.data, ad);
      malformed_ad += ad.malformed;
      presence.observe(Sighting{r.addr, r.addr_type, r.rssi, t_ms, &ad}, changes);
    }
  };

  int code = 0;
  while (!g_stop.load()) {
    if (auto s = source->pump(200, sink); !s) {
      spdlog::error("{}", s.error().message);
      std::cerr << "c4i-discovery: " << s.error().message << "\n";
      code = 3;
      break;
    }
    const auto now = source->now_ms();
    if (now - last_tick >= 250 || now < last_tick) {
      presence.tick(now, changes);
      last_tick = now;
    }
    if (heartbeat_ms > 0 && wall_ms() >= next_heartbeat) {
      unsaved.push_back(heartbeat_json(sampler.sample(wall_ms())));
      next_heartbeat += heartbeat_ms;
      if (next_heartbeat < wall_ms()) next_heartbeat = wall_ms() + heartbeat_ms;
    }
    for (const auto& c : changes) {
      spdlog::debug("{} {} rssi {} ({})", c.seen() ? "device.seen" : "device.lost", c.device.addr.str(), c.rssi_dbm,
                    change_name(c.change));
      unsaved.push_back(presence_event_json(c));
    }
    changes.clear();
    if (!unsaved.empty()) {
      // Durable first: only then may delivery see the events.
      if (auto last = writer->append(unsaved); last) {
        unsaved.clear();
        delivery.notify();
        if (append_failing) spdlog::info("outbox: writing again");
        append_failing = false;
      } else if (!append_failing) {
        spdlog::error("outbox: cannot store events (kept in memory, retrying): {}", last.error().message);
        append_failing = true;
      }
    }
  }
  spdlog::info("stopping: {} events delivered this run, {} failed sends, {} malformed events, {} malformed AD "
               "structures, {} sightings, {} filtered out",
               delivery.delivered(), delivery.failures(), malformed_events, malformed_ad, presence.stats().sightings,
               presence.stats().filtered_out);
  if (renewer) renewer->stop();
  delivery.stop();
  source.reset();  // restores the adapter's scan state
  return code;
}

}  // namespace c4i::discovery
