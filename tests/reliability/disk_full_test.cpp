// A full disk (issue 13, Faults), on a small tmpfs mounted in the test's own
// directory: under the orchestrator's state directory, and under the
// discovery daemon's outbox. Writes are refused with 507 and one clear log
// line (the orchestrator), or kept in memory with one clear log line (the
// daemon); nothing already stored is damaged (SQLite's integrity check, and
// everything accepted still there after a kill -9 and restart); and work
// resumes by itself when space returns. Mounting needs root: the tests skip,
// saying so, without it.
#include <gtest/gtest.h>

#include <signal.h>

#include <set>

#include "tests/reliability/support.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string dev(int i) {
  char b[18];
  std::snprintf(b, sizeof b, "dd:00:00:00:%02x:%02x", (i >> 8) & 0xff, i & 0xff);
  return b;
}

TEST(DiskFull, OrchestratorStateOnAFullDiskAnswers507KeepsWhatItHasAndResumes) {
  Orchestrator orch;
  SmallTmpfs disk(orch.state_dir(), 8 * 1024);
  if (!disk.mounted()) GTEST_SKIP() << disk.why();
  ASSERT_TRUE(orch.start()) << orch.log();
  auto admin = orch.client(kAdminToken);
  auto op = orch.client(kOperatorToken);
  auto gw = orch.gateway("gw-1");
  // Functions that write nothing (their logs live on the same disk).
  ASSERT_EQ(call(*admin, "POST", "/v1/templates", {{"name", "fn"}, {"command", {"/bin/sleep", "600"}}}).status, 201);
  std::set<std::string> accepted;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", dev(i)}, {"id", "f" + std::to_string(i)}}).status, 201);
    accepted.insert("f" + std::to_string(i));
  }
  std::int64_t seq = 0;
  std::vector<json> evs;
  for (int i = 0; i < 5; ++i) evs.push_back(seen(++seq, dev(i), -50, unix_ms()));
  ASSERT_EQ(call(*gw, "POST", "/v1/gateways/gw-1/events", batch("gw-1", "disk", evs)).status, 200);

  const auto filled = disk.fill();
  ASSERT_GT(filled, 0);
  // Writes go on until the database needs a page it cannot have (WAL space
  // already allocated is reused first); from then on they are refused.
  Reply refused;
  int n = 5;
  for (int attempt = 0; attempt < 400 && refused.status == 0; ++attempt, ++n) {
    std::string id = "f" + std::to_string(n);
    auto r = call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", dev(n)}, {"id", id}});
    if (r.status == 201) accepted.insert(id);
    else refused = r;
  }
  ASSERT_NE(refused.status, 0) << "every write succeeded on a full disk";
  EXPECT_TRUE(refused.status == 507 || refused.status == 503) << refused.raw;
  EXPECT_EQ(refused.body["error"]["code"], "storage_full") << refused.raw;
  // A gateway's batch too: refused as a whole, so the daemon keeps it and sends it again.
  json late = batch("gw-1", "disk", {seen(++seq, dev(100), -50, unix_ms()), lost(++seq, dev(0), unix_ms())});
  auto r = call(*gw, "POST", "/v1/gateways/gw-1/events", late);
  EXPECT_TRUE(r.status == 507 || r.status == 503) << r.raw;
  EXPECT_EQ(count_occurrences(orch.log(), "is full: writes are refused"), 1) << orch.log();

  // What is stored is intact and still served.
  EXPECT_TRUE(orch.running());
  EXPECT_EQ(integrity(orch.db_path()), "ok");
  auto viewer = orch.client(kViewerToken);
  for (const auto& id : accepted) EXPECT_EQ(call(*viewer, "GET", "/v1/functions/" + id).status, 200) << id;
  EXPECT_EQ(call(*viewer, "GET", "/v1/devices/" + dev(0)).body["state"], "present");
  EXPECT_EQ(call(*viewer, "GET", "/healthz").status, 200);

  // Space returns: the same requests now succeed, with nothing restarted.
  disk.release();
  ASSERT_TRUE(wait_until([&] { return call(*gw, "POST", "/v1/gateways/gw-1/events", late).status == 200; }, 20s)) << orch.log();
  EXPECT_EQ(call(*viewer, "GET", "/v1/devices/" + dev(0)).body["state"], "lost");
  auto again = call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", dev(n)}, {"id", "f" + std::to_string(n)}});
  EXPECT_EQ(again.status, 201) << again.raw;
  if (again.status == 201) accepted.insert("f" + std::to_string(n));
  EXPECT_NE(orch.log().find("writing again"), std::string::npos) << orch.log();

  // And a crash right after loses nothing that was accepted.
  const auto port = orch.port();
  orch.kill9();
  EXPECT_EQ(integrity(orch.db_path()), "ok");
  orch.launch_with({}, {"--listen", "127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(orch.start()) << orch.log();
  auto v2 = orch.client(kViewerToken);
  for (const auto& id : accepted) EXPECT_EQ(call(*v2, "GET", "/v1/functions/" + id).status, 200) << id;
  EXPECT_EQ(stream_state(orch.db_path(), "gw-1").last_seq, seq);
  EXPECT_EQ(stream_state(orch.db_path(), "gw-1").events, seq);
  std::printf("disk full (orchestrator): %lld bytes filled, %zu functions accepted, first refused write (%d) was write %d after the fill\n",
              static_cast<long long>(filled), accepted.size(), refused.status, n - 5);
}

TEST(DiskFull, DiscoveryOutboxOnAFullDiskKeepsEventsAndDeliversThemOnceInOrderWhenSpaceReturns) {
  TempDir dir;
  SmallTmpfs disk(dir.file("outbox"), 2 * 1024);
  if (!disk.mounted()) GTEST_SKIP() << disk.why();
  Orchestrator orch;
  ASSERT_TRUE(orch.start()) << orch.log();
  constexpr int kDevices = 60;
  // 60 devices over ~31 s of capture time, replayed at x2: events for ~16 s.
  write_enter_leave_capture(dir.file("flow.btsnoop"), kDevices, 0.5);
  DiscoveryOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(orch.port());
  o.source = "btsnoop:" + dir.file("flow.btsnoop") + "@2";
  o.outbox = dir.file("outbox/outbox.db");
  auto daemon = start_discovery(dir, o);
  const auto db = orch.db_path();
  ASSERT_TRUE(wait_until([&] { return stream_state(db, "gw-1").last_seq >= 10; }, 20s)) << daemon->err();

  const auto filled = disk.fill();
  ASSERT_GT(filled, 0);
  // The daemon says so once, and keeps what it cannot store in memory.
  ASSERT_TRUE(wait_until([&] { return daemon->err().find("outbox: cannot store events") != std::string::npos; }, 20s))
      << daemon->err();
  const auto applied_when_full = stream_state(db, "gw-1").last_seq;
  // The capture goes on while the disk is full: wait until it has been played to its end.
  ASSERT_TRUE(wait_until([&] { return daemon->err().find("replay finished") != std::string::npos; }, 40s)) << daemon->err();
  EXPECT_TRUE(daemon->running()) << daemon->err();
  EXPECT_LT(stream_state(db, "gw-1").last_seq, 2 * kDevices) << "events that were never stored were delivered";
  EXPECT_EQ(count_occurrences(daemon->err(), "outbox: cannot store events"), 1) << daemon->err();
  EXPECT_EQ(integrity(o.outbox), "ok");

  disk.release();
  ASSERT_TRUE(wait_until([&] { return stream_state(db, "gw-1").last_seq == 2 * kDevices; }, 40s))
      << "applied " << stream_state(db, "gw-1").last_seq << "\n" << daemon->err();
  ASSERT_TRUE(wait_until([&] { return outbox_state(o.outbox).second == 0; }, 10s)) << daemon->err();
  EXPECT_NE(daemon->err().find("outbox: writing again"), std::string::npos) << daemon->err();
  expect_capture_delivered_once_in_order(db, "gw-1", kDevices);
  EXPECT_EQ(integrity(o.outbox), "ok");
  std::printf("disk full (outbox): %lld bytes filled; %lld events applied when it filled, all %d after space returned\n",
              static_cast<long long>(filled), static_cast<long long>(applied_when_full), 2 * kDevices);
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(10s), 0) << daemon->err();
}

}  // namespace
}  // namespace c4i::testing
