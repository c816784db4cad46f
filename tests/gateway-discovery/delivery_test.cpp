// The daemon end to end over real sockets: a device simulator on a Unix
// socket feeds adverts (the documented sim wire format), the daemon decides
// presence, stores events in its outbox and delivers them over HTTPS with
// mTLS to a receiver that records batches and dedupes by (boot_id, seq)
// like the orchestrator. The receiver can be down, refuse, or apply a batch
// and still fail the answer.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/https_server.hpp"
#include "common/sqlite.hpp"
#include "gateway-discovery/sim_wire.hpp"
#include "tests/support/outbox.hpp"
#include "tests/support/testlib.hpp"

namespace c4i::discovery {
namespace {

using namespace std::chrono_literals;
using c4i::testing::Child;
using c4i::testing::outbox_state;
using c4i::testing::TempDir;
using c4i::testing::test_pki;
using c4i::testing::wait_until;

// What the orchestrator will do: per boot_id keep the last applied seq and
// apply only the next ones.
class Receiver {
 public:
  explicit Receiver(std::uint16_t port = 0) {
    http::ServerOptions o;
    o.port = port;
    o.tls.cert_file = test_pki().cert("server");
    o.tls.key_file = test_pki().key("server");
    o.tls.client_ca_file = test_pki().ca();
    o.tls.client_cert = tls::ClientCertMode::required;
    server_ = std::make_unique<http::Server>(o);
    server_->route("POST", "/v1/gateways/{gateway}/events", [this](http::Request& r) { return handle(r); });
    auto s = server_->start();
    if (!s) throw std::runtime_error(s.error().message);
    thread_ = std::thread([this] { server_->run(); });
  }
  ~Receiver() { stop(); }
  void stop() {
    if (!server_) return;
    server_->shutdown();
    thread_.join();
    server_.reset();
  }
  std::uint16_t port() const { return server_->port(); }

  struct Applied {
    std::string boot_id;
    std::int64_t seq;
    nlohmann::json event;
  };
  std::mutex mu;
  std::vector<Applied> applied;  // in the order applied
  std::vector<std::string> boot_ids;  // of every batch
  int requests = 0, refused = 0, duplicates = 0, gaps = 0, bad = 0, batches_applied = 0;
  int refuse_next = 0;          // answer 503 to this many requests
  int fail_after_apply_from = -1;  // from this applied batch on, apply but answer 503 (lost answers)

  std::size_t applied_count() {
    std::lock_guard lk(mu);
    return applied.size();
  }

 private:
  http::Response handle(http::Request& r) {
    std::lock_guard lk(mu);
    ++requests;
    const std::string gw = *r.param("gateway");
    if (!r.peer || !r.peer->names(gw)) return http::error_response(403, "forbidden", "certificate does not name " + gw);
    if (refuse_next > 0) {
      --refuse_next;
      ++refused;
      return http::error_response(503, "unavailable", "refusing for a while");
    }
    auto body = nlohmann::json::parse(r.body, nullptr, false);
    if (body.is_discarded() || body["gateway"] != gw || !body["boot_id"].is_string() || !body["events"].is_array() ||
        body["events"].empty() || body["seq"] != body["events"][0]["seq"]) {
      ++bad;
      return http::error_response(400, "bad_request", "malformed batch");
    }
    const std::string boot = body["boot_id"];
    boot_ids.push_back(boot);
    std::int64_t& last = last_[boot];
    for (const auto& e : body["events"]) {
      const std::int64_t seq = e["seq"];
      if (seq <= last) {
        ++duplicates;
        continue;
      }
      if (seq != last + 1) ++gaps;
      applied.push_back({boot, seq, e});
      last = seq;
    }
    ++batches_applied;
    if (fail_after_apply_from >= 0 && batches_applied > fail_after_apply_from)
      return http::error_response(503, "unavailable", "applied, but the answer is lost");
    return http::json_response(200, {{"last_seq", last}});
  }

  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  std::map<std::string, std::int64_t> last_;
};

// The device simulator side of the wire format: listens on a Unix socket,
// reads the greeting, and sends one advert per device on the first connection.
class Simulator {
 public:
  Simulator(std::string path, int devices) : path_(std::move(path)) {
    for (int i = 0; i < devices; ++i) {
      sim::Advert a;
      a.name = "HRM-" + std::to_string(i);
      a.services = {*Uuid::parse("180d")};
      auto ad = sim::encode_ad(a);
      BdAddr addr = device(i);
      auto f = sim::encode_adv_report_event(addr, 0, static_cast<std::int8_t>(-50 - i % 10), *ad);
      frames_.insert(frames_.end(), f->begin(), f->end());
    }
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 4) != 0)
      throw std::runtime_error("simulator: cannot listen on " + path_);
    thread_ = std::thread([this] { loop(); });
  }
  ~Simulator() {
    stop_ = true;
    thread_.join();
    for (int c : conns_) ::close(c);
    ::close(fd_);
  }
  static BdAddr device(int i) {
    BdAddr a;
    a.b = {0xc4, 0x7c, 0x8d, 0x00, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i & 0xFF)};
    return a;
  }
  std::vector<std::string> hellos() {
    std::lock_guard lk(mu_);
    return hellos_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      conns_.push_back(c);
      std::string line;
      char ch;
      while (line.size() < 300 && ::read(c, &ch, 1) == 1 && ch != '\n') line.push_back(ch);
      {
        std::lock_guard lk(mu_);
        hellos_.push_back(line);
      }
      if (!sent_) {
        // Several writes of odd sizes: the daemon must reassemble frames.
        for (std::size_t off = 0; off < frames_.size(); off += 777) {
          const auto n = std::min<std::size_t>(777, frames_.size() - off);
          if (::send(c, frames_.data() + off, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) break;
        }
        sent_ = true;
      }
    }
  }
  std::string path_;
  std::vector<std::uint8_t> frames_;
  int fd_ = -1;
  std::vector<int> conns_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool sent_ = false;
  std::mutex mu_;
  std::vector<std::string> hellos_;
};

std::string discovery() { return c4i::testing::binary_dir() + "/gateway-discovery/c4i-discovery"; }

std::string write_config(const TempDir& dir, std::uint16_t port, int heartbeat_s = 0) {
  const auto& pki = test_pki();
  const std::string path = dir.file("discovery.yaml");
  c4i::testing::write_file(path, "gateway: gw-1\n"
                                 "source: sim:unix:" + dir.file("sim.sock") + "\n"
                                 "presence: {threshold_dbm: -70, lost_after_s: 3600, refresh_s: 0}\n"
                                 "orchestrator:\n"
                                 "  url: https://127.0.0.1:" + std::to_string(port) + "\n"
                                 "  ca_file: " + pki.ca() + "\n"
                                 "  cert_file: " + pki.cert("gw-1") + "\n"
                                 "  key_file: " + pki.key("gw-1") + "\n"
                                 "outbox: {path: " + dir.file("outbox.db") + "}\n"
                                 "delivery: {batch_max: 10, backoff_base_ms: 20, backoff_max_ms: 300, request_timeout_ms: 3000}\n"
                                 "heartbeat: {interval_s: " + std::to_string(heartbeat_s) + "}\n");
  return path;
}

// Checks the orchestrator's view: seq 1..n once each, in order, one boot_id,
// and every simulated device entered exactly once.
void expect_every_event_once_in_order(Receiver& rx, int n) {
  std::lock_guard lk(rx.mu);
  ASSERT_EQ(rx.applied.size(), static_cast<std::size_t>(n));
  std::set<std::string> addrs;
  for (int i = 0; i < n; ++i) {
    const auto& a = rx.applied[static_cast<std::size_t>(i)];
    EXPECT_EQ(a.seq, i + 1);
    EXPECT_EQ(a.boot_id, rx.applied[0].boot_id);
    EXPECT_EQ(a.event["type"], "device.seen");
    EXPECT_EQ(a.event["reason"], "enter");
    addrs.insert(a.event["addr"].get<std::string>());
  }
  EXPECT_EQ(addrs.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_TRUE(addrs.count(Simulator::device(i).str())) << i;
  EXPECT_EQ(rx.gaps, 0);
  EXPECT_EQ(rx.bad, 0);
  for (const auto& b : rx.boot_ids) EXPECT_EQ(b, rx.applied[0].boot_id);
}

TEST(Delivery, OrchestratorDownThenUpEveryEventArrivesOnceInOrder) {
  TempDir dir;
  constexpr int kDevices = 60;
  // Learn a free port, then take the orchestrator down.
  std::uint16_t port;
  {
    Receiver probe;
    port = probe.port();
  }
  Simulator sim(dir.file("sim.sock"), kDevices);
  Child daemon({discovery(), "--config", write_config(dir, port)}, {}, dir.path());
  // Every event is durable while nothing can be delivered.
  ASSERT_TRUE(wait_until([&] { return outbox_state(dir.file("outbox.db")).first == kDevices + 1; }, 20s))
      << daemon.err();
  ASSERT_TRUE(wait_until([&] { return daemon.err().find("not delivered") != std::string::npos; }, 10s)) << daemon.err();
  EXPECT_EQ(outbox_state(dir.file("outbox.db")).second, kDevices);
  ASSERT_EQ(sim.hellos().size(), 1u);
  EXPECT_EQ(sim.hellos()[0], "C4I-SIM 1 gw-1");

  // Up again, refusing the first requests for a while.
  Receiver rx(port);
  {
    std::lock_guard lk(rx.mu);
    rx.refuse_next = 3;
  }
  ASSERT_TRUE(wait_until([&] { return rx.applied_count() >= kDevices; }, 30s)) << daemon.err();
  ASSERT_TRUE(wait_until([&] { return outbox_state(dir.file("outbox.db")).second == 0; }, 10s));
  expect_every_event_once_in_order(rx, kDevices);
  {
    std::lock_guard lk(rx.mu);
    EXPECT_EQ(rx.refused, 3);
    EXPECT_EQ(rx.duplicates, 0);  // refused batches were never applied, so nothing came twice
  }
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(10s), 0) << daemon.err();
}

TEST(Delivery, KilledMidDeliveryAndRestartedLosesNothingAndDedupesTheRest) {
  TempDir dir;
  constexpr int kDevices = 200;
  Receiver rx;
  {
    // After 4 batches, apply but lose every answer: the gateway keeps
    // resending a batch the orchestrator already has.
    std::lock_guard lk(rx.mu);
    rx.fail_after_apply_from = 4;
  }
  Simulator sim(dir.file("sim.sock"), kDevices);
  const auto config = write_config(dir, rx.port());
  std::string first_boot;
  {
    Child daemon({discovery(), "--config", config}, {}, dir.path());
    ASSERT_TRUE(wait_until(
        [&] {
          std::lock_guard lk(rx.mu);
          return rx.duplicates >= 10;  // the lost-answer batch was sent again at least once
        },
        30s))
        << daemon.err();
    ASSERT_TRUE(wait_until([&] { return outbox_state(dir.file("outbox.db")).first == kDevices + 1; }, 20s));
    daemon.signal(SIGKILL);
    EXPECT_EQ(daemon.wait(10s), 128 + SIGKILL);
    std::lock_guard lk(rx.mu);
    ASSERT_LT(rx.applied.size(), static_cast<std::size_t>(kDevices));  // it really died mid-delivery
    first_boot = rx.applied.at(0).boot_id;
  }
  const auto [next_seq, pending] = outbox_state(dir.file("outbox.db"));
  EXPECT_EQ(next_seq, kDevices + 1);
  EXPECT_GT(pending, 0);
  {
    std::lock_guard lk(rx.mu);
    rx.fail_after_apply_from = -1;
  }
  Child again({discovery(), "--config", config}, {}, dir.path());
  ASSERT_TRUE(wait_until([&] { return rx.applied_count() >= kDevices; }, 30s)) << again.err();
  ASSERT_TRUE(wait_until([&] { return outbox_state(dir.file("outbox.db")).second == 0; }, 10s));
  expect_every_event_once_in_order(rx, kDevices);
  {
    std::lock_guard lk(rx.mu);
    EXPECT_EQ(rx.applied.back().boot_id, first_boot);  // a restart continues the same sequence
    EXPECT_GT(rx.duplicates, 0);
  }
  EXPECT_NE(again.err().find(first_boot), std::string::npos) << again.err();
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait(10s), 0) << again.err();
}

TEST(Delivery, HeartbeatCarriesCpuMemoryAndArch) {
  TempDir dir;
  Receiver rx;
  Simulator sim(dir.file("sim.sock"), 0);
  Child daemon({discovery(), "--config", write_config(dir, rx.port(), 1), "--log-format", "json"}, {}, dir.path());
  ASSERT_TRUE(wait_until([&] { return rx.applied_count() >= 2; }, 20s)) << daemon.err();
  std::lock_guard lk(rx.mu);
  for (const auto& a : rx.applied) {
    const auto& e = a.event;
    EXPECT_EQ(e["type"], "gateway.heartbeat");
    EXPECT_GE(e["cpu"].get<double>(), 0.0);
    EXPECT_LE(e["cpu"].get<double>(), 1.0);
    EXPECT_GT(e["mem"].get<double>(), 0.0);
    EXPECT_LT(e["mem"].get<double>(), 1.0);
    EXPECT_FALSE(e["arch"].get<std::string>().empty());
    EXPECT_GE(e["cpu_capacity_m"].get<int>(), 1000);
    EXPECT_GT(e["mem_capacity_mb"].get<int>(), 0);
    EXPECT_TRUE(e["t"].is_number_integer());
  }
  // --log-format json: every log line is a JSON object.
  const auto err = daemon.err();
  std::size_t pos = 0, lines = 0;
  while (pos < err.size()) {
    auto end = err.find('\n', pos);
    if (end == std::string::npos) break;
    auto j = nlohmann::json::parse(err.substr(pos, end - pos), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << err.substr(pos, end - pos);
    pos = end + 1;
    ++lines;
  }
  EXPECT_GT(lines, 0u);
}

TEST(Delivery, WrongClientCertificateIsNeverAccepted) {
  TempDir dir;
  Receiver rx;
  Simulator sim(dir.file("sim.sock"), 5);
  auto config = write_config(dir, rx.port());
  // gw-2's certificate speaking for gw-1: the receiver answers 403, nothing is applied, nothing is trimmed.
  Child daemon({discovery(), "--config", config, "--cert", test_pki().cert("gw-2"), "--key", test_pki().key("gw-2")},
               {}, dir.path());
  ASSERT_TRUE(wait_until(
      [&] {
        std::lock_guard lk(rx.mu);
        return rx.requests >= 2;
      },
      20s))
      << daemon.err();
  EXPECT_EQ(rx.applied_count(), 0u);
  EXPECT_EQ(outbox_state(dir.file("outbox.db")).second, 5);
  EXPECT_NE(daemon.err().find("HTTP 403"), std::string::npos) << daemon.err();
}

TEST(Sources, BtsnoopReplayFeedsTheSamePipelineAsTheRadio) {
  TempDir dir;
  Receiver rx;
  const std::string capture = c4i::testing::testdata_dir() + "/hci-horizon74-treadmill.btsnoop";
  // The devices the capture holds, from the replay contract.
  auto replay = c4i::testing::run({discovery(), "replay", capture, "--format", "jsonl"});
  ASSERT_EQ(replay.code, 0) << replay.err;
  std::set<std::string> expected;
  std::size_t pos = 0;
  while (pos < replay.out.size()) {
    const auto end = replay.out.find('\n', pos);
    const auto j = nlohmann::json::parse(replay.out.substr(pos, end - pos));
    if (j["rssi"] != 127) expected.insert(j["addr"].get<std::string>());
    pos = end + 1;
  }
  ASSERT_FALSE(expected.empty());
  Child daemon({discovery(), "--config", write_config(dir, rx.port()), "--source", "btsnoop:" + capture + "@0",
                "--threshold", "-127"},
               {}, dir.path());
  ASSERT_TRUE(wait_until(
      [&] {
        std::lock_guard lk(rx.mu);
        std::set<std::string> entered;
        for (const auto& a : rx.applied)
          if (a.event["type"] == "device.seen") entered.insert(a.event["addr"].get<std::string>());
        return entered == expected;
      },
      30s))
      << daemon.err();
  EXPECT_NE(daemon.err().find("replay finished"), std::string::npos);
  std::lock_guard lk(rx.mu);
  for (const auto& a : rx.applied) {
    if (a.event["type"] != "device.seen") continue;
    EXPECT_TRUE(a.event["rssi"].is_number_integer());
    EXPECT_TRUE(a.event["addr_type"] == "public" || a.event["addr_type"] == "random");
  }
}

TEST(Sources, SimulatorProtocolErrorMakesTheDaemonReconnect) {
  TempDir dir;
  const std::string path = dir.file("sim.sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  Receiver rx;
  Child daemon({discovery(), "--config", write_config(dir, rx.port())}, {}, dir.path());
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 20'000), 1) << daemon.err();
  int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(c, 0);
  const std::uint8_t acl[] = {0x02, 0x40, 0x00, 0x01, 0x00, 0x00};  // an ACL packet: not allowed
  ASSERT_EQ(::send(c, acl, sizeof acl, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof acl));
  // The daemon closes and comes back.
  ASSERT_EQ(::poll(&p, 1, 20'000), 1) << daemon.err();
  const int c2 = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(c2, 0);
  EXPECT_NE(daemon.err().find("protocol error"), std::string::npos) << daemon.err();
  EXPECT_TRUE(daemon.running());
  ::close(c);
  ::close(c2);
  ::close(fd);
}

}  // namespace
}  // namespace c4i::discovery
