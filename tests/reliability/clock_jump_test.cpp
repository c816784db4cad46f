// A gateway whose clock jumps (issue 13, Faults): the real c4i-discovery
// replays a capture whose clock goes back an hour, back eight days, then
// forward an hour, with the same ten devices coming and going in each
// stretch. The real orchestrator orders what it applies by the gateway's
// sequence numbers, never by the event times: every visit counts, in the
// order it happened. And it bounds the times it accepts: those more than
// limits.event_past_ms (7 days) behind or limits.event_future_ms (5 minutes)
// ahead of its own clock are set to the receive time, counted in
// c4i_event_time_clamped_total and logged once; an hour behind is kept.
#include <gtest/gtest.h>

#include <signal.h>

#include "common/sqlite.hpp"
#include "tests/reliability/support.hpp"

namespace c4i::testing {
namespace {

using namespace std::chrono_literals;

// The value of one sample line of the Prometheus text, -1 when absent.
double metric(const std::string& text, const std::string& sample) {
  auto at = text.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + sample.size() + 2));
}

TEST(ClockJump, OrderFollowsSequenceNumbersAndTimesOutOfBoundsAreClamped) {
  TempDir dir;
  Orchestrator orch;
  ASSERT_TRUE(orch.start()) << orch.log();
  constexpr int kDevices = 10;
  constexpr double kHour = 3600, kDay = 86400;
  // Four stretches of the gateway's clock, in the order they happen.
  const std::vector<double> stretches = {0, -kHour, -8 * kDay, +kHour};
  std::vector<Visit> visits;
  for (double base : stretches)
    for (int i = 0; i < kDevices; ++i) visits.push_back({i, base + 1 + 4.0 * i});
  write_visits_capture(dir.file("jumps.btsnoop"), visits);
  const std::int64_t before_ms = unix_ms();

  DiscoveryOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(orch.port());
  o.source = "btsnoop:" + dir.file("jumps.btsnoop") + "@0";  // as fast as it reads: the capture's clock is the gateway's
  o.outbox = dir.file("outbox.db");
  auto daemon = start_discovery(dir, o);
  const int events = 2 * kDevices * static_cast<int>(stretches.size());
  ASSERT_TRUE(wait_until([&] { return stream_state(orch.db_path(), "gw-1").last_seq == events; }, 30s))
      << "applied " << stream_state(orch.db_path(), "gw-1").last_seq << " of " << events << "\n" << daemon->err();
  const std::int64_t after_ms = unix_ms();

  // Every event once, by seq; every visit counted, the last one deciding.
  const auto s = stream_state(orch.db_path(), "gw-1");
  EXPECT_EQ(s.boot_ids, 1);
  EXPECT_EQ(s.events, s.last_seq);
  auto db = sqlite::Db::open(orch.db_path());
  ASSERT_TRUE(db);
  for (int i = 0; i < kDevices; ++i) {
    SCOPED_TRACE(capture_device(i));
    auto q = db->prepare("SELECT seen_events, state, first_seen_ms, last_seen_ms, coalesce(lost_ms, -1) FROM devices WHERE id = ?");
    ASSERT_TRUE(q);
    q->bind(1, capture_device(i));
    auto row = q->step();
    ASSERT_TRUE(row && *row) << "device missing";
    // An orchestrator ordering by time would have dropped the stretches that
    // went back (older than what it had) and kept the device present.
    EXPECT_EQ(q->int64(0), static_cast<std::int64_t>(stretches.size())) << "seen_events";
    EXPECT_EQ(q->text(1), "lost");
    // The last stretch ran an hour ahead: its times were clamped to the
    // receive time, so nothing stored lies beyond limits.event_future_ms (the
    // first stretch, replayed faster than real time, is up to 40 s ahead:
    // within bounds, kept).
    const std::int64_t future_bound_ms = 5 * 60'000;
    EXPECT_GE(q->int64(3), before_ms);
    EXPECT_LE(q->int64(3), after_ms + future_bound_ms) << "last_seen_ms an hour ahead was kept";
    EXPECT_GE(q->int64(4), before_ms);
    EXPECT_LE(q->int64(4), after_ms + future_bound_ms) << "lost_ms an hour ahead was kept";
  }

  // Exactly the 8-days-behind and the hour-ahead stretches were clamped; the
  // hour behind is within bounds. The counter counts times: per device a
  // device.seen's t, and a device.lost's t and last_seen_t.
  auto viewer = orch.client(kViewerToken);
  auto m = viewer->request("GET", "/metrics", "", {}, false);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(metric(m->body, "c4i_event_time_clamped_total{bound=\"past\"}"), 3 * kDevices) << m->body.substr(0, 2000);
  EXPECT_EQ(metric(m->body, "c4i_event_time_clamped_total{bound=\"future\"}"), 3 * kDevices);
  const std::string log = orch.log();
  EXPECT_NE(log.find("check the gateway's clock"), std::string::npos) << log;
  EXPECT_LE(count_occurrences(log, "check the gateway's clock"), 2) << "one line per gateway per minute, not one per batch";

  ASSERT_TRUE(wait_until([&] { return outbox_state(o.outbox).second == 0; }, 10s));
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(10s), 0) << daemon->err();
}

}  // namespace
}  // namespace c4i::testing
