#include "tests/reliability/support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <gtest/gtest.h>

#include "common/btsnoop.hpp"
#include "common/sqlite.hpp"
#include "gateway-discovery/sim_wire.hpp"

namespace c4i::testing {

namespace fs = std::filesystem;

namespace {
RunResult ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, std::chrono::seconds(10));
}
}  // namespace

std::string NetnsPair::ip_path() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (access(p, X_OK) == 0) return p;
  return "ip";
}

NetnsPair::NetnsPair() {
  // Names unique per test process: tests run in parallel (ctest -j).
  const std::string tag = std::to_string(getpid());
  orch_ = "c4i-" + tag + "-orch";
  gw_ = "c4i-" + tag + "-gw";
  if (geteuid() != 0) {
    why_ = "network namespaces need root (ip netns add); run the test command as root";
    return;
  }
  auto a = ip({"netns", "add", orch_});
  if (a.code != 0) {
    why_ = "ip netns add failed: " + a.err;
    return;
  }
  auto b = ip({"netns", "add", gw_});
  if (b.code != 0) {
    why_ = "ip netns add failed: " + b.err;
    return;
  }
  // Both ends are made inside their namespaces: no name is ever taken in the
  // host's namespace, so parallel runs cannot collide.
  const std::vector<std::vector<std::string>> steps = {
      {"link", "add", "veth-o", "netns", orch_, "type", "veth", "peer", "name", "veth-g", "netns", gw_},
      {"-n", orch_, "addr", "add", orch_ip() + "/24", "dev", "veth-o"},
      {"-n", gw_, "addr", "add", gw_ip() + "/24", "dev", "veth-g"},
      {"-n", orch_, "link", "set", "lo", "up"},
      {"-n", gw_, "link", "set", "lo", "up"},
      {"-n", orch_, "link", "set", "veth-o", "up"},
      {"-n", gw_, "link", "set", "veth-g", "up"},
  };
  for (const auto& s : steps) {
    auto r = ip(s);
    if (r.code != 0) {
      why_ = "ip " + s[0] + " " + s[1] + " ... failed: " + r.err;
      return;
    }
  }
  ok_ = true;
}

NetnsPair::~NetnsPair() {
  ip({"netns", "del", orch_});
  ip({"netns", "del", gw_});
}

bool NetnsPair::set_link(bool up) { return ip({"-n", gw_, "link", "set", "veth-g", up ? "up" : "down"}).code == 0; }

SmallTmpfs::SmallTmpfs(std::string dir, int size_kb) : dir_(std::move(dir)) {
  fs::create_directories(dir_);
  if (geteuid() != 0) {
    why_ = "mounting a tmpfs needs root";
    return;
  }
  auto r = run({"mount", "-t", "tmpfs", "-o", "size=" + std::to_string(size_kb) + "k,mode=0755", "c4i-test-full", dir_});
  if (r.code != 0) {
    why_ = "mount -t tmpfs failed: " + r.err;
    return;
  }
  ok_ = true;
}

SmallTmpfs::~SmallTmpfs() {
  if (ok_) run({"umount", "-l", dir_});
}

std::int64_t SmallTmpfs::fill() {
  const std::string path = dir_ + "/filler";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  std::vector<char> block(4096, 'x');
  std::int64_t total = 0;
  for (;;) {
    ssize_t n = ::write(fd, block.data(), block.size());
    if (n <= 0) break;  // ENOSPC
    total += n;
  }
  // The last partial page too: the file system is really full.
  for (;;) {
    ssize_t n = ::write(fd, block.data(), 1);
    if (n <= 0) break;
    total += n;
  }
  ::close(fd);
  return total;
}

void SmallTmpfs::release() { fs::remove(dir_ + "/filler"); }

std::string capture_device(int i) {
  char s[18];
  std::snprintf(s, sizeof s, "c4:7c:8d:00:%02x:%02x", (i >> 8) & 0xFF, i & 0xFF);
  return s;
}

double write_enter_leave_capture(const std::string& path, int devices, double spacing_s, int strong, double first_s) {
  using namespace c4i::discovery;
  struct Rec {
    std::int64_t t_us;
    std::vector<std::uint8_t> h4;
  };
  std::vector<Rec> recs;
  const std::int64_t t0 = 1'700'000'000'000'000;
  sim::Advert adv;
  adv.name = "HRM";
  adv.services = {*Uuid::parse("180d")};
  auto ad = sim::encode_ad(adv);
  double span = 0;
  for (int i = 0; i < devices; ++i) {
    BdAddr a;
    BdAddr::parse(capture_device(i), a);
    const double start = first_s + i * spacing_s;
    for (int k = 0; k < strong + 4; ++k) {
      const double t = start + 0.5 * k;
      auto f = sim::encode_adv_report_event(a, 0, static_cast<std::int8_t>(k < strong ? -50 : -100), *ad);
      recs.push_back({t0 + static_cast<std::int64_t>(t * 1e6), *f});
      span = std::max(span, t);
    }
  }
  std::stable_sort(recs.begin(), recs.end(), [](const Rec& x, const Rec& y) { return x.t_us < y.t_us; });
  std::vector<std::uint8_t> file;
  btsnoop::append_header(file, btsnoop::kDatalinkH4);
  // A first record at capture time 0: the replay starts its clock there.
  std::vector<std::uint8_t> noop{0x04, 0x0E, 0x04, 0x01, 0x01, 0x0C, 0x00};  // Command Complete, Set Event Mask
  btsnoop::append_record(file, t0, 1, noop);
  for (const auto& r : recs) btsnoop::append_record(file, r.t_us, 1, r.h4);
  std::string bytes(file.begin(), file.end());
  write_file(path, bytes);
  return span;
}

void write_visits_capture(const std::string& path, const std::vector<Visit>& visits, int strong) {
  using namespace c4i::discovery;
  const std::int64_t t0 = 1'700'000'000'000'000;
  sim::Advert adv;
  adv.name = "HRM";
  adv.services = {*Uuid::parse("180d")};
  auto ad = sim::encode_ad(adv);
  std::vector<std::uint8_t> file;
  btsnoop::append_header(file, btsnoop::kDatalinkH4);
  std::vector<std::uint8_t> noop{0x04, 0x0E, 0x04, 0x01, 0x01, 0x0C, 0x00};  // Command Complete: the replay's time 0
  btsnoop::append_record(file, t0, 1, noop);
  for (const auto& v : visits) {
    BdAddr a;
    BdAddr::parse(capture_device(v.device), a);
    for (int k = 0; k < strong + 4; ++k) {
      auto f = sim::encode_adv_report_event(a, 0, static_cast<std::int8_t>(k < strong ? -50 : -100), *ad);
      btsnoop::append_record(file, t0 + static_cast<std::int64_t>((v.start_s + 0.5 * k) * 1e6), 1, *f);
    }
  }
  write_file(path, std::string(file.begin(), file.end()));
}

std::unique_ptr<Child> start_discovery(const TempDir& dir, const DiscoveryOptions& o) {
  const auto& pki = test_pki();
  const std::string cfg = dir.file("discovery-" + o.gateway + ".yaml");
  write_file(cfg, "gateway: " + o.gateway + "\n"
                  "source: " + o.source + "\n"
                  "presence: {threshold_dbm: -70, hysteresis_db: 6, smoothing_alpha: 0.3, lost_after_s: 3600, refresh_s: 0}\n"
                  "orchestrator:\n"
                  "  url: " + o.url + "\n"
                  "  ca_file: " + pki.ca() + "\n"
                  "  cert_file: " + pki.cert(o.gateway) + "\n"
                  "  key_file: " + pki.key(o.gateway) + "\n"
                  "outbox: {path: " + o.outbox + "}\n"
                  "delivery: {batch_max: " + std::to_string(o.batch_max) + ", backoff_base_ms: 20, backoff_max_ms: " +
                      std::to_string(o.backoff_max_ms) + ", request_timeout_ms: " + std::to_string(o.request_timeout_ms) + "}\n"
                  "heartbeat: {interval_s: " + std::to_string(o.heartbeat_s) + "}\n");
  std::vector<std::string> argv = o.prefix;
  argv.push_back(binary_dir() + "/gateway-discovery/c4i-discovery");
  argv.insert(argv.end(), {"--config", cfg});
  return std::make_unique<Child>(argv, std::map<std::string, std::string>{}, dir.path());
}

StreamState stream_state(const std::string& db_path, const std::string& gateway) {
  StreamState s;
  auto db = sqlite::Db::open(db_path);
  if (!db) return s;
  auto q = db->prepare("SELECT coalesce(max(last_seq), 0), coalesce(sum(events), 0), count(*) FROM gateway_streams WHERE gateway = ?");
  if (!q) return s;
  q->bind(1, gateway);
  auto row = q->step();
  if (!row || !*row) return s;
  s.last_seq = q->int64(0);
  s.events = q->int64(1);
  s.boot_ids = static_cast<int>(q->int64(2));
  return s;
}

std::optional<DeviceRow> device_row(const std::string& db_path, const std::string& addr) {
  auto db = sqlite::Db::open(db_path);
  if (!db) return std::nullopt;
  auto q = db->prepare("SELECT seen_events, state FROM devices WHERE id = ?");
  if (!q) return std::nullopt;
  q->bind(1, addr);
  auto row = q->step();
  if (!row || !*row) return std::nullopt;
  return DeviceRow{q->int64(0), q->text(1)};
}

std::string integrity(const std::string& db_path) {
  auto db = sqlite::Db::open(db_path);
  if (!db) return "cannot open: " + db.error().message;
  auto ic = db->integrity_check();
  if (!ic) return "integrity_check failed: " + ic.error().message;
  return *ic;
}

std::pair<std::string, std::string> server_cert_for_ip(const TempDir& dir, const std::string& ip) {
  const auto& pki = test_pki();
  const std::string key = dir.file("server-ip.key"), csr = dir.file("server-ip.csr"), ext = dir.file("server-ip.ext"),
                    cert = dir.file("server-ip.pem");
  write_file(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                  "subjectAltName=IP:" + ip + ",IP:127.0.0.1,DNS:localhost\n");
  auto k = run({"openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key});
  auto r = run({"openssl", "req", "-new", "-key", key, "-subj", "/CN=localhost", "-out", csr});
  auto s = run({"openssl", "x509", "-req", "-in", csr, "-CA", pki.ca(), "-CAkey", pki.dir + "/ca.key", "-CAcreateserial",
                "-CAserial", dir.file("ca.srl"), "-days", "2", "-sha256", "-extfile", ext, "-out", cert});
  if (k.code != 0 || r.code != 0 || s.code != 0)
    throw std::runtime_error("server certificate for " + ip + ": " + k.err + r.err + s.err);
  return {cert, key};
}

void expect_capture_delivered_once_in_order(const std::string& db_path, const std::string& gateway, int devices) {
  const auto s = stream_state(db_path, gateway);
  EXPECT_EQ(s.boot_ids, 1) << "one durable sequence";
  EXPECT_EQ(s.last_seq, 2 * devices) << "every event of the capture arrived";
  EXPECT_EQ(s.events, s.last_seq) << "each seq from 1 applied once, none skipped, none twice";
  int wrong = 0;
  for (int i = 0; i < devices; ++i) {
    auto d = device_row(db_path, capture_device(i));
    // A device.lost applied before its device.seen would leave it present;
    // a seen applied twice would count 2.
    if (!d || d->seen_events != 1 || d->state != "lost") {
      if (++wrong <= 5)
        ADD_FAILURE() << capture_device(i) << ": "
                      << (d ? "seen_events " + std::to_string(d->seen_events) + ", state " + d->state : "missing");
    }
  }
  EXPECT_EQ(wrong, 0);
}

std::string read_log(const Child& c) { return c.err(); }

int count_occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + needle.size())) ++n;
  return n;
}

int listen_loopback(std::uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // the port is taken over later
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 64) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

}  // namespace c4i::testing
