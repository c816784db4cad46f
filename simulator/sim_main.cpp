// c4i-sim: the embedded demo's device simulator.
//   c4i-sim run --scenario FILE --radio unix:PATH --devices-dir DIR --usage-dir DIR [--speed S]
//     Virtual radios: each c4i-discovery connects to --radio with "C4I-SIM 1 <gateway>" and
//     receives H4 LE advertising reports of the devices that gateway can hear, with RSSI from
//     the log-distance model. Per heart-rate device, an emulated GATT peripheral on
//     DIR/<addr>.sock (c4i-reader --connect unix:...); per engine device, accelerometer
//     samples as JSON lines on DIR/<addr>.accel.sock. Gateway load goes to
//     USAGE_DIR/<gateway>.json for the discovery daemons' heartbeats.
//   c4i-sim feed unix:PATH
//     Copies an accelerometer stream to stdout, reconnecting (for a function's pipeline).
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "ble-reader/peripheral_server.hpp"
#include "common/log.hpp"
#include "gateway-discovery/sim_wire.hpp"
#include "simulator/scenario.hpp"

namespace {

using namespace c4i;
using Clock = std::chrono::steady_clock;
std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop = true; }

std::string strip_unix(const std::string& a) { return a.rfind("unix:", 0) == 0 ? a.substr(5) : a; }
std::string file_name_of(const std::string& addr) {
  std::string s = addr;
  for (auto& c : s)
    if (c == ':') c = '-';
  return s;
}

int listen_unix(const std::string& path, int type) {
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    ::close(fd);
    errno = ENAMETOOLONG;
    return -1;
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || ::listen(fd, 16) < 0) {
    int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

bool write_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// The virtual radios: which gateway listens on which connection.
class Radios {
 public:
  void add(const std::string& gateway, int fd) {
    std::lock_guard lock(mu_);
    if (auto it = fds_.find(gateway); it != fds_.end()) ::close(it->second);
    fds_[gateway] = fd;
    spdlog::info("radio of {} connected", gateway);
  }
  void send(const std::string& gateway, const std::vector<std::uint8_t>& frame) {
    std::lock_guard lock(mu_);
    auto it = fds_.find(gateway);
    if (it == fds_.end()) return;
    if (!write_all(it->second, frame.data(), frame.size())) {
      spdlog::info("radio of {} disconnected", gateway);
      ::close(it->second);
      fds_.erase(it);
    }
  }
  void close_all() {
    std::lock_guard lock(mu_);
    for (auto& [g, fd] : fds_) ::close(fd);
    fds_.clear();
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> fds_;
};

// Accepts daemon connections and reads their greeting line.
void accept_radios(int listen_fd, Radios& radios) {
  while (!g_stop) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::string line;
    char c;
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (line.size() < 256 && Clock::now() < deadline) {
      pollfd q{fd, POLLIN, 0};
      if (::poll(&q, 1, 100) <= 0) continue;
      if (::read(fd, &c, 1) != 1) break;
      line.push_back(c);
      if (c == '\n') break;
    }
    auto gw = discovery::sim::parse_hello(line);
    if (!gw) {
      spdlog::warn("radio connection refused: {}", gw.error().message);
      ::close(fd);
      continue;
    }
    radios.add(*gw, fd);
  }
}

// Serves accelerometer samples (JSON lines, t in seconds) to whoever connects.
void serve_accel(int listen_fd, const sim::SimDevice dev, double speed) {
  std::mt19937_64 rng(std::hash<std::string>{}(dev.addr));
  std::normal_distribution<double> noise(0.0, 0.05);
  constexpr double kRateHz = 1000;
  while (!g_stop) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto start = Clock::now();
    std::uint64_t n = 0;
    std::string batch;
    while (!g_stop) {
      double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      auto due = static_cast<std::uint64_t>(elapsed * kRateHz);
      batch.clear();
      for (; n < due; ++n) {
        double t = static_cast<double>(n) / kRateHz;
        double a = dev.vibration_g * std::sin(2 * M_PI * dev.vibration_hz * t) +
                   0.3 * dev.vibration_g * std::sin(2 * M_PI * dev.vibration_hz * 2.7 * t) + noise(rng);
        char line[128];
        std::snprintf(line, sizeof line, "{\"t\":%.3f,\"x\":%.4f,\"y\":%.4f,\"z\":%.4f}\n", t, a, 0.2 * a + noise(rng), 1.0 + noise(rng));
        batch += line;
      }
      if (!batch.empty() && !write_all(fd, batch.data(), batch.size())) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::close(fd);
  }
  (void)speed;
}

void write_usage(const std::string& dir, const std::string& gw, const sim::LoadStep& l) {
  std::string path = dir + "/" + gw + ".json";
  {
    std::ofstream out(path + ".tmp");
    out << "{\"cpu\":" << l.cpu << ",\"mem\":" << l.mem << "}\n";
  }
  std::rename((path + ".tmp").c_str(), path.c_str());
}

int run(const std::string& scenario_path, const std::string& radio, const std::string& devices_dir,
        const std::string& usage_dir, double speed, const std::string& ready_file) {
  auto sc = sim::load_scenario(scenario_path);
  if (!sc) {
    std::fprintf(stderr, "c4i-sim: %s\n", sc.error().message.c_str());
    return 2;
  }
  std::filesystem::create_directories(devices_dir);
  std::filesystem::create_directories(usage_dir);
  int radio_fd = listen_unix(strip_unix(radio), SOCK_STREAM);
  if (radio_fd < 0) {
    std::fprintf(stderr, "c4i-sim: cannot listen on %s: %s\n", radio.c_str(), std::strerror(errno));
    return 2;
  }
  Radios radios;
  std::thread acceptor(accept_radios, radio_fd, std::ref(radios));

  std::vector<std::unique_ptr<reader::PeripheralServer>> peripherals;
  std::vector<std::thread> accel_threads;
  std::vector<int> accel_fds;
  std::vector<std::vector<std::uint8_t>> ads;
  for (const auto& d : sc->devices) {
    discovery::sim::Advert ad;
    ad.name = d.name;
    for (const auto& s : d.services) {
      auto u = discovery::Uuid::parse(s);
      if (u) ad.services.push_back(*u);
    }
    ad.manufacturer_id = d.manufacturer_id;
    if (d.manufacturer_id) ad.manufacturer_data = {0x01, 0x02};
    auto enc = discovery::sim::encode_ad(ad);
    if (!enc) {
      std::fprintf(stderr, "c4i-sim: device %s: %s\n", d.addr.c_str(), enc.error().message.c_str());
      return 2;
    }
    ads.push_back(*enc);
    std::string base = devices_dir + "/" + file_name_of(d.addr);
    if (d.kind == sim::DeviceKind::heart_rate) {
      reader::PeripheralConfig pc;
      pc.device_name = d.name.empty() ? "C4I Heart Rate" : d.name;
      pc.heart_rate_bpm = static_cast<std::uint16_t>(d.heart_rate_bpm);
      auto p = std::make_unique<reader::PeripheralServer>(base + ".sock", pc);
      if (auto s = p->start(); !s) {
        std::fprintf(stderr, "c4i-sim: peripheral %s: %s\n", d.addr.c_str(), s.error().message.c_str());
        return 2;
      }
      peripherals.push_back(std::move(p));
    } else {
      int fd = listen_unix(base + ".accel.sock", SOCK_STREAM);
      if (fd < 0) {
        std::fprintf(stderr, "c4i-sim: cannot listen on %s.accel.sock: %s\n", base.c_str(), std::strerror(errno));
        return 2;
      }
      accel_fds.push_back(fd);
      accel_threads.emplace_back(serve_accel, fd, d, speed);
    }
  }
  if (!ready_file.empty()) std::ofstream(ready_file) << "ready\n";
  spdlog::info("simulating {} devices around {} gateways for {} s at speed {}", sc->devices.size(),
               sc->gateways.size(), sc->duration_s, speed);

  sim::RssiSampler sampler(sc->rssi, sc->seed);
  std::map<std::string, double> last_cpu;
  // Every gateway has a usage file; so has any other node the scenario loads.
  std::set<std::string> loaded_nodes;
  for (const auto& g : sc->gateways) loaded_nodes.insert(g.name);
  for (const auto& [node, steps] : sc->load) loaded_nodes.insert(node);
  auto start = Clock::now();
  auto tick = std::chrono::milliseconds(sc->advert_interval_ms);
  auto next = start;
  while (!g_stop) {
    double t = std::chrono::duration<double>(Clock::now() - start).count() * speed;
    if (t > sc->duration_s) t = sc->duration_s;  // the world stays as it ended
    for (const auto& node : loaded_nodes) {
      auto l = sim::load_at(*sc, node, t);
      if (!last_cpu.count(node) || last_cpu[node] != l.cpu) {
        write_usage(usage_dir, node, l);
        last_cpu[node] = l.cpu;
      }
    }
    for (std::size_t i = 0; i < sc->devices.size(); ++i) {
      const auto& d = sc->devices[i];
      discovery::BdAddr addr;
      discovery::BdAddr::parse(d.addr, addr);
      auto pos = sim::position_at(d, t);
      for (const auto& g : sc->gateways) {
        auto rssi = sampler.sample(sim::distance(pos, g.at));
        if (!rssi) continue;
        auto frame = discovery::sim::encode_adv_report_event(addr, d.random_addr ? 1 : 0, static_cast<std::int8_t>(*rssi), ads[i]);
        if (frame) radios.send(g.name, *frame);
      }
    }
    next += tick;
    std::this_thread::sleep_until(next);
  }
  spdlog::info("stopping");
  acceptor.join();
  for (auto& t : accel_threads) t.join();
  for (int fd : accel_fds) ::close(fd);
  ::close(radio_fd);
  radios.close_all();
  for (auto& p : peripherals) p->stop();
  return 0;
}

// Copies an accelerometer stream to stdout, reconnecting while the simulator restarts.
int feed(const std::string& addr) {
  std::string path = strip_unix(addr);
  char buf[16384];
  int backoff_ms = 50;
  while (!g_stop) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
      ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min(backoff_ms * 2, 2000);
      continue;
    }
    backoff_ms = 50;
    while (!g_stop) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      // stdout is a pipe or a file: write(), not send().
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(1, buf + off, static_cast<std::size_t>(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;  // the function went away
        off += w;
      }
    }
    ::close(fd);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"c4i-sim: virtual BLE devices for the embedded demo"};
  app.require_subcommand(1);
  std::string scenario, radio, devices_dir, usage_dir, ready_file, log_format = "text", feed_addr;
  double speed = 1.0;
  auto* r = app.add_subcommand("run", "run a scenario");
  r->add_option("--scenario", scenario, "scenario YAML")->required();
  r->add_option("--radio", radio, "unix:PATH the discovery daemons connect to")->required();
  r->add_option("--devices-dir", devices_dir, "where device sockets are made")->required();
  r->add_option("--usage-dir", usage_dir, "where gateway usage files are written")->required();
  r->add_option("--speed", speed, "scenario seconds per wall second")->check(CLI::Range(0.1, 100.0));
  r->add_option("--ready-file", ready_file, "written once every socket listens");
  r->add_option("--log-format", log_format)->check(CLI::IsMember({"text", "json"}));
  auto* f = app.add_subcommand("feed", "copy a device's accelerometer stream to stdout");
  f->add_option("addr", feed_addr, "unix:PATH of the stream")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "c4i-sim: %s\n", e.what());
    return 2;
  }
  c4i::log::init("c4i-sim", log_format == "json" ? c4i::log::Format::json : c4i::log::Format::text);
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (*r) return run(scenario, radio, devices_dir, usage_dir, speed, ready_file);
  return feed(feed_addr);
}
