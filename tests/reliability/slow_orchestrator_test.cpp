// A slow orchestrator (issue 13, Faults): a TCP proxy in front of the real
// orchestrator holds every answer back for 3 s, longer than the real
// c4i-discovery's request timeout (1 s). The orchestrator receives and
// applies each batch, but the daemon never hears the 200 in time: its
// timeout fires, it keeps the events and sends them again. When answers
// come on time again the outbox drains, and every event was applied exactly
// once, in order: the retries were recognised as replays (counted in
// c4i_events_duplicate_total) and skipped.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <thread>

#include "tests/reliability/support.hpp"

namespace c4i::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Forwards 127.0.0.1:port() to 127.0.0.1:target, passing requests at once
// and holding each piece of an answer back for delay() before passing it on.
// The TLS handshake passes undelayed (a slow server, not an unreachable
// one): the server's first flight goes through at once, and everything it
// sends after the client's next flight (the end of the handshake and the
// request) is held back.
class DelayingProxy {
 public:
  explicit DelayingProxy(std::uint16_t target) : target_(target) {
    fd_ = listen_loopback(&port_);
    if (fd_ < 0) return;
    acceptor_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        connections_++;
        pumps_.emplace_back([this, c] { pump(c); });
      }
    });
  }
  ~DelayingProxy() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : pumps_) t.join();
    if (fd_ >= 0) close(fd_);
  }
  std::uint16_t port() const { return port_; }
  void set_delay(std::chrono::milliseconds d) { delay_ms_ = static_cast<int>(d.count()); }
  int connections() const { return connections_; }

 private:
  void pump(int client) {
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(target_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::deque<std::pair<Clock::time_point, std::string>> held;  // answers waiting for their time
    bool open = connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    bool server_spoke = false, handshake_done = false;
    char buf[16384];
    while (open && !stop_) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      poll(p, 2, 20);
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(client, buf, sizeof buf, 0);
        if (n <= 0 || send(server, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) open = false;
        if (server_spoke) handshake_done = true;
      }
      if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(server, buf, sizeof buf, 0);
        if (n <= 0) open = false;
        else {
          const auto delay = handshake_done ? std::chrono::milliseconds(delay_ms_.load()) : 0ms;
          held.emplace_back(Clock::now() + delay, std::string(buf, static_cast<std::size_t>(n)));
          server_spoke = true;
        }
      }
      while (!held.empty() && held.front().first <= Clock::now()) {
        const auto& b = held.front().second;
        if (send(client, b.data(), b.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(b.size())) open = false;
        held.pop_front();
      }
    }
    close(server);
    close(client);
  }

  std::uint16_t target_, port_ = 0;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> delay_ms_{0}, connections_{0};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // touched by the acceptor thread only, joined after it
};

double metric(const std::string& text, const std::string& sample) {
  auto at = text.find("\n" + sample + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + sample.size() + 2));
}

TEST(SlowOrchestrator, AnswersLaterThanTheTimeoutAreRetriedAndAppliedOnceInOrder) {
  TempDir dir;
  Orchestrator orch;
  ASSERT_TRUE(orch.start()) << orch.log();
  DelayingProxy proxy(orch.port());
  ASSERT_NE(proxy.port(), 0);
  proxy.set_delay(3s);
  constexpr int kDevices = 40;
  write_enter_leave_capture(dir.file("flow.btsnoop"), kDevices, 0.25);
  DiscoveryOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(proxy.port());
  o.source = "btsnoop:" + dir.file("flow.btsnoop") + "@2";
  o.outbox = dir.file("outbox.db");
  o.request_timeout_ms = 1000;
  o.backoff_max_ms = 300;
  auto daemon = start_discovery(dir, o);
  const auto db = orch.db_path();

  // The orchestrator applies the oldest batch; the daemon never hears so in
  // time, keeps everything, and sends that batch again (oldest first: it
  // never skips ahead of what is not acknowledged).
  ASSERT_TRUE(wait_until(
      [&] {
        return stream_state(db, "gw-1").last_seq > 0 && count_occurrences(daemon->err(), "not delivered") >= 3 &&
               daemon->err().find("replay finished") != std::string::npos;
      },
      60s))
      << "applied " << stream_state(db, "gw-1").last_seq << "\n" << daemon->err();
  EXPECT_NE(daemon->err().find("no answer within 1000 ms"), std::string::npos) << daemon->err();
  EXPECT_EQ(outbox_state(o.outbox).second, 2 * kDevices) << "events trimmed without a 200";
  const auto applied_unacknowledged = stream_state(db, "gw-1").last_seq;
  EXPECT_TRUE(daemon->running());

  // Answers on time again: the outbox drains; the retries changed nothing.
  proxy.set_delay(0ms);
  ASSERT_TRUE(wait_until([&] { return outbox_state(o.outbox).second == 0; }, 30s)) << daemon->err();
  expect_capture_delivered_once_in_order(db, "gw-1", kDevices);
  auto m = orch.client(kViewerToken)->request("GET", "/metrics", "", {}, false);
  ASSERT_TRUE(m.ok());
  const double duplicates = metric(m->body, "c4i_events_duplicate_total");
  EXPECT_GT(duplicates, 0) << "no retry reached the orchestrator";
  std::printf("slow orchestrator: %d connections through the proxy; %lld events applied but not acknowledged in time; "
              "%.0f events received again and skipped; %d applied once\n",
              proxy.connections(), static_cast<long long>(applied_unacknowledged), duplicates, 2 * kDevices);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(10s), 0) << daemon->err();
}

}  // namespace
}  // namespace c4i::testing
