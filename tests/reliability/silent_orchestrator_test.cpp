// A silent orchestrator (issue 13, Faults): something listens on the
// orchestrator's address and accepts TCP connections but never answers (a
// hung process, a black-holing middlebox). The real c4i-discovery's request
// timeout fires on every attempt, it retries with backoff on fresh
// connections, and it keeps every event in its outbox meanwhile; when the
// real orchestrator takes the address over, everything is delivered once,
// in order.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "tests/reliability/support.hpp"

namespace c4i::testing {
namespace {

using namespace std::chrono_literals;

// Accepts every connection on 127.0.0.1 and holds it open, reading nothing
// and writing nothing, until destroyed.
class SilentListener {
 public:
  SilentListener() {
    fd_ = listen_loopback(&port_);
    if (fd_ < 0) return;
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        std::lock_guard lk(mu_);
        held_.push_back(c);
      }
    });
  }
  ~SilentListener() { close_all(); }
  std::uint16_t port() const { return port_; }
  int accepted() {
    std::lock_guard lk(mu_);
    return static_cast<int>(held_.size());
  }
  // Stops listening and drops every held connection: the address is free.
  void close_all() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    std::lock_guard lk(mu_);
    for (int c : held_) close(c);
    held_.clear();
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> held_;
};

TEST(SilentOrchestrator, DaemonTimesOutKeepsBufferingAndDeliversEverythingOnceLater) {
  TempDir dir;
  SilentListener silent;
  ASSERT_NE(silent.port(), 0);
  constexpr int kDevices = 40;
  write_enter_leave_capture(dir.file("flow.btsnoop"), kDevices, 0.25);
  DiscoveryOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(silent.port());
  o.source = "btsnoop:" + dir.file("flow.btsnoop") + "@2";
  o.outbox = dir.file("outbox.db");
  o.request_timeout_ms = 1000;
  o.backoff_max_ms = 500;
  auto daemon = start_discovery(dir, o);

  // The whole capture is produced while nobody answers: all of it waits in the outbox.
  ASSERT_TRUE(wait_until([&] { return outbox_state(o.outbox).second == 2 * kDevices; }, 60s))
      << "outbox " << outbox_state(o.outbox).second << "\n" << daemon->err();
  // Its timeouts fired (each attempt is given up, not left hanging) and it tried again on new connections.
  ASSERT_TRUE(wait_until([&] { return count_occurrences(daemon->err(), "not delivered") >= 3 && silent.accepted() >= 3; }, 30s))
      << "accepted " << silent.accepted() << "\n" << daemon->err();
  EXPECT_TRUE(daemon->running()) << daemon->err();
  const std::string log = daemon->err();
  const auto at = log.find("not delivered");
  const auto line = log.rfind('\n', at) == std::string::npos ? 0 : log.rfind('\n', at) + 1;
  std::printf("silent orchestrator: %d connections accepted and never answered; the daemon logged: %s\n", silent.accepted(),
              log.substr(line, log.find('\n', at) - line).c_str());

  // The real orchestrator takes the address over.
  silent.close_all();
  Orchestrator orch;
  orch.launch_with({}, {"--listen", "127.0.0.1:" + std::to_string(silent.port())});
  ASSERT_TRUE(orch.start()) << orch.log();
  ASSERT_TRUE(wait_until([&] { return stream_state(orch.db_path(), "gw-1").last_seq == 2 * kDevices; }, 60s))
      << "applied " << stream_state(orch.db_path(), "gw-1").last_seq << "\n" << daemon->err();
  ASSERT_TRUE(wait_until([&] { return outbox_state(o.outbox).second == 0; }, 10s));
  expect_capture_delivered_once_in_order(orch.db_path(), "gw-1", kDevices);
  EXPECT_NE(daemon->err().find("reachable again"), std::string::npos) << daemon->err();
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(10s), 0) << daemon->err();
}

}  // namespace
}  // namespace c4i::testing
