// A gateway loses its orchestrator while events flow: the veth link between
// two network namespaces (the orchestrator listening in one, c4i-discovery in
// the other) goes down for 10 s; 10 minutes of simulated events (a capture
// replayed at x60) are produced during a cut; the orchestrator is stopped
// instead of the link. Afterwards every event is applied once, in order, on
// the real orchestrator (its state.db says so).
#include <gtest/gtest.h>

#include <signal.h>

#include <thread>

#include "common/sqlite.hpp"
#include "tests/reliability/support.hpp"

namespace c4i::testing {
namespace {

using namespace std::chrono_literals;

struct Plane {
  NetnsPair net;
  TempDir dir;
  Orchestrator orch;
  std::string url;
};

// The orchestrator inside the "orch" namespace, on 10.x.y.1 with a
// certificate for that address.
bool start_in_namespace(Plane& p) {
  auto [cert, key] = server_cert_for_ip(p.dir, p.net.orch_ip());
  p.orch.launch_with(p.net.exec_in(p.net.orch_ns()), {"--listen", p.net.orch_ip() + ":0", "--tls-cert", cert, "--tls-key", key});
  if (!p.orch.start()) return false;
  p.url = "https://" + p.net.orch_ip() + ":" + std::to_string(p.orch.port());
  return true;
}

TEST(LinkCut, TenSecondCutWhileEventsFlowDeliversEveryEventOnceInOrder) {
  Plane p;
  if (!p.net.available()) GTEST_SKIP() << "no network namespaces here: " << p.net.why();
  ASSERT_TRUE(start_in_namespace(p)) << p.orch.log();
  constexpr int kDevices = 60;
  // 60 devices over ~31 s of capture time, replayed at x2: events for ~16 s.
  write_enter_leave_capture(p.dir.file("flow.btsnoop"), kDevices, 0.5);
  DiscoveryOptions o;
  o.url = p.url;
  o.source = "btsnoop:" + p.dir.file("flow.btsnoop") + "@2";
  o.outbox = p.dir.file("outbox.db");
  o.prefix = p.net.exec_in(p.net.gw_ns());
  auto daemon = start_discovery(p.dir, o);
  const auto db = p.orch.db_path();

  ASSERT_TRUE(wait_until([&] { return stream_state(db, "gw-1").last_seq >= 10; }, 20s)) << daemon->err() << p.orch.log();
  ASSERT_TRUE(p.net.set_link(false));
  const auto cut_at = std::chrono::steady_clock::now();
  // The daemon notices (a timeout or an unreachable network) and keeps the events.
  ASSERT_TRUE(wait_until([&] { return daemon->err().find("not delivered") != std::string::npos; }, 8s)) << daemon->err();
  const auto during = stream_state(db, "gw-1").last_seq;
  std::this_thread::sleep_until(cut_at + 10s);  // the fault lasts 10 s: nothing to wait for
  EXPECT_EQ(stream_state(db, "gw-1").last_seq, during) << "nothing can arrive over a link that is down";
  const auto [next_seq, pending] = outbox_state(o.outbox);
  EXPECT_GT(pending, 0) << "events produced during the cut wait in the outbox";
  EXPECT_GT(next_seq - 1, during);
  ASSERT_TRUE(p.net.set_link(true));

  ASSERT_TRUE(wait_until([&] { return stream_state(db, "gw-1").last_seq == 2 * kDevices; }, 40s))
      << "applied up to " << stream_state(db, "gw-1").last_seq << "\n" << daemon->err();
  ASSERT_TRUE(wait_until([&] { return outbox_state(o.outbox).second == 0; }, 10s));
  expect_capture_delivered_once_in_order(db, "gw-1", kDevices);
  EXPECT_NE(daemon->err().find("reachable again"), std::string::npos) << daemon->err();
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(10s), 0) << daemon->err();
}

TEST(LinkCut, TenMinutesOfSimulatedEventsDuringACutArriveOnceInOrder) {
  Plane p;
  if (!p.net.available()) GTEST_SKIP() << "no network namespaces here: " << p.net.why();
  ASSERT_TRUE(start_in_namespace(p)) << p.orch.log();
  constexpr int kDevices = 200;
  // 200 devices entering and leaving over 10 minutes of capture time,
  // replayed at x60: the daemon's presence clock lives 10 minutes in ~10 s.
  const double span_s = write_enter_leave_capture(p.dir.file("ten-minutes.btsnoop"), kDevices, 3.0);
  ASSERT_GE(span_s, 600.0);
  DiscoveryOptions o;
  o.url = p.url;
  o.source = "btsnoop:" + p.dir.file("ten-minutes.btsnoop") + "@60";
  o.outbox = p.dir.file("outbox.db");
  o.prefix = p.net.exec_in(p.net.gw_ns());
  ASSERT_TRUE(p.net.set_link(false));
  auto daemon = start_discovery(p.dir, o);
  // Every event of the 10 simulated minutes is produced while the link is down.
  ASSERT_TRUE(wait_until([&] { return outbox_state(o.outbox).first == 2 * kDevices + 1; }, 60s))
      << "outbox " << outbox_state(o.outbox).first << "\n" << daemon->err();
  EXPECT_EQ(outbox_state(o.outbox).second, 2 * kDevices);
  EXPECT_EQ(stream_state(p.orch.db_path(), "gw-1").last_seq, 0);
  {
    // The events' own timestamps span the 10 simulated minutes.
    auto ob = sqlite::Db::open(o.outbox);
    ASSERT_TRUE(ob);
    auto q = ob->prepare("SELECT min(json_extract(payload, '$.t')), max(json_extract(payload, '$.t')) FROM outbox");
    ASSERT_TRUE(q);
    auto row = q->step();
    ASSERT_TRUE(row && *row);
    EXPECT_GE(q->int64(1) - q->int64(0), 590'000);
  }
  ASSERT_TRUE(p.net.set_link(true));
  ASSERT_TRUE(wait_until([&] { return stream_state(p.orch.db_path(), "gw-1").last_seq == 2 * kDevices; }, 40s))
      << daemon->err();
  ASSERT_TRUE(wait_until([&] { return outbox_state(o.outbox).second == 0; }, 10s));
  expect_capture_delivered_once_in_order(p.orch.db_path(), "gw-1", kDevices);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(10s), 0) << daemon->err();
}

TEST(LinkCut, OrchestratorStoppedForTenSecondsWhileEventsFlowLosesNothing) {
  TempDir dir;
  Orchestrator orch;
  ASSERT_TRUE(orch.start()) << orch.log();
  const auto port = orch.port();
  constexpr int kDevices = 60;
  write_enter_leave_capture(dir.file("flow.btsnoop"), kDevices, 0.5);
  DiscoveryOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(port);
  o.source = "btsnoop:" + dir.file("flow.btsnoop") + "@2";
  o.outbox = dir.file("outbox.db");
  auto daemon = start_discovery(dir, o);
  const auto db = orch.db_path();
  ASSERT_TRUE(wait_until([&] { return stream_state(db, "gw-1").last_seq >= 10; }, 20s)) << daemon->err();
  ASSERT_EQ(orch.stop(), 0) << orch.log();
  const auto stopped_at = std::chrono::steady_clock::now();
  const auto before = stream_state(db, "gw-1").last_seq;
  ASSERT_TRUE(wait_until([&] { return daemon->err().find("not delivered") != std::string::npos; }, 8s)) << daemon->err();
  std::this_thread::sleep_until(stopped_at + 10s);  // the orchestrator stays down 10 s
  EXPECT_GT(outbox_state(o.outbox).first - 1, before) << "events were produced while it was down";
  // Back on the same address, as a restarted service would be.
  orch.launch_with({}, {"--listen", "127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(orch.start()) << orch.log();
  ASSERT_TRUE(wait_until([&] { return stream_state(db, "gw-1").last_seq == 2 * kDevices; }, 40s)) << daemon->err();
  ASSERT_TRUE(wait_until([&] { return outbox_state(o.outbox).second == 0; }, 10s));
  expect_capture_delivered_once_in_order(db, "gw-1", kDevices);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(10s), 0) << daemon->err();
}

}  // namespace
}  // namespace c4i::testing
