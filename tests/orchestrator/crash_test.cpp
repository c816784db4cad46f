// Crash safety: kill -9 the orchestrator at random moments while gateways
// stream event batches and an operator moves functions, at least 50 times.
// After each kill: every batch answered 200 is applied, exactly once; every
// move answered 202 is recorded; no function ever ran twice; the database
// passes PRAGMA integrity_check. Bounded to about two minutes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <atomic>
#include <random>
#include <thread>

#include "common/sqlite.hpp"
#include "tests/orchestrator/harness.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;

// One gateway's durable event sequence, kept by the "daemon" (this test) the
// way c4i-discovery's outbox keeps it: unacknowledged events are sent again.
struct Stream {
  std::string gateway, boot_id;
  std::vector<json> events;  // events[i] has seq i + 1
  std::int64_t acked = 0;    // highest seq answered 200
};

constexpr int kDevices = 4;
std::string device(int i) { return "aa:bb:cc:00:00:0" + std::to_string(i); }
std::string function_id(int i) { return "fn-aa-bb-cc-00-00-0" + std::to_string(i); }

TEST(CrashSafety, KillNineAtRandomMomentsLosesNothingAndNeverRunsAFunctionTwice) {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("C4I_CRASH_SEED")) seed = std::stoull(s);
  std::cout << "seed " << seed << " (C4I_CRASH_SEED)" << std::endl;
  std::mt19937_64 rng(seed);

  Orchestrator orch;
  ASSERT_TRUE(orch.start()) << orch.log();
  orch.create_test_template("fn", {{"C4I_TEST_NO_MARK", "1"}});
  {
    auto op = orch.client(kOperatorToken);
    for (int i = 0; i < kDevices; ++i)
      ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", device(i)}}).status, 201);
  }
  std::vector<Stream> streams = {{"gw-1", "boot-gw-1", {}, 0}, {"gw-2", "boot-gw-2", {}, 0}};
  std::vector<std::int64_t> acked_moves;
  std::atomic<int> twice{0};
  std::string twice_detail;
  const char* nodes[] = {"gw-1", "gw-2", "edge-1", "cloud-1"};
  auto started = std::chrono::steady_clock::now();
  int kills = 0, batches_ok = 0, moves_ok = 0;

  for (kills = 0; kills < 50; ++kills) {
    std::atomic<bool> stop{false};
    std::uint64_t thread_seed = rng();
    std::thread traffic([&] {
      std::mt19937_64 r(thread_seed);
      std::vector<std::unique_ptr<http::Client>> gws;
      for (auto& s : streams) gws.push_back(orch.gateway(s.gateway));
      auto op = orch.client(kOperatorToken);
      int round = 0;
      while (!stop.load()) {
        std::size_t k = r() % streams.size();
        Stream& s = streams[k];
        // New events when everything sent is acknowledged; else resend (re-batched).
        if (s.acked == static_cast<std::int64_t>(s.events.size())) {
          int n = 1 + static_cast<int>(r() % 40);
          for (int i = 0; i < n; ++i) {
            std::int64_t seq = static_cast<std::int64_t>(s.events.size()) + 1;
            if (r() % 10 == 0) s.events.push_back(heartbeat(seq, 0.1 + 0.01 * static_cast<double>(r() % 50), 0.3, unix_ms()));
            else s.events.push_back(seen(seq, device(static_cast<int>(r() % kDevices)), -40 - static_cast<int>(r() % 50), unix_ms(), "refresh"));
          }
        }
        std::size_t from = static_cast<std::size_t>(s.acked);
        std::size_t count = std::min<std::size_t>(s.events.size() - from, 1 + r() % 100);
        std::vector<json> evs(s.events.begin() + static_cast<long>(from), s.events.begin() + static_cast<long>(from + count));
        auto reply = call(*gws[k], "POST", "/v1/gateways/" + s.gateway + "/events", batch(s.gateway, s.boot_id, evs));
        if (reply.status == 200) {
          s.acked = std::max<std::int64_t>(s.acked, static_cast<std::int64_t>(from + count));
          ++batches_ok;
        } else if (reply.status > 0) {
          ADD_FAILURE() << "batch answered " << reply.status << " " << reply.raw;
        } else {
          gws[k] = orch.gateway(s.gateway);  // connection gone (killed): a new one for the next try
          if (!orch.running()) break;
        }
        if (++round % 2 == 0) {
          auto m = call(*op, "POST", "/v1/functions/" + function_id(static_cast<int>(r() % kDevices)) + ":move",
                        {{"node", nodes[r() % 4]}});
          if (m.status == 202) {
            acked_moves.push_back(m.body["id"].get<std::int64_t>());
            ++moves_ok;
          } else if (m.status < 0) {
            op = orch.client(kOperatorToken);
          } else if (m.status != 409) {
            ADD_FAILURE() << "move answered " << m.status << " " << m.raw;
          }
        }
        for (const auto& [fn, procs] : function_processes(orch.state_dir()))
          if (procs.size() > 1) {
            twice++;
            twice_detail = fn + " runs " + std::to_string(procs.size()) + " times:";
            for (const auto& [pid, node] : procs) {
              std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
              std::string stat;
              std::getline(st, stat);
              twice_detail += " [pid " + std::to_string(pid) + " on " + node + ": " + stat.substr(0, 80) + "]";
            }
          }
      }
    });
    // The moment of the crash: random, while requests and moves are in flight.
    std::this_thread::sleep_for(std::chrono::milliseconds(80 + rng() % 700));
    orch.kill9();
    stop = true;
    traffic.join();

    // The functions die with their orchestrator: nothing is left to run twice.
    ASSERT_TRUE(wait_until([&] { return function_processes(orch.state_dir()).empty(); }, std::chrono::seconds(5)))
        << "function processes survived kill " << kills;
    {
      auto db = sqlite::Db::open(orch.db_path());
      ASSERT_TRUE(db) << db.error().message;
      auto ic = db->integrity_check();
      ASSERT_TRUE(ic);
      ASSERT_EQ(*ic, "ok") << "after kill " << kills;
      std::map<std::string, std::int64_t> expected_seen;
      for (const auto& s : streams) {
        auto q = db->prepare("SELECT last_seq, events FROM gateway_streams WHERE gateway = ? AND boot_id = ?");
        ASSERT_TRUE(q);
        q->bind(1, s.gateway).bind(2, s.boot_id);
        auto row = q->step();
        ASSERT_TRUE(row);
        std::int64_t last_seq = *row ? q->int64(0) : 0, applied = *row ? q->int64(1) : 0;
        // Everything answered 200 is there, and each event was applied once.
        ASSERT_GE(last_seq, s.acked) << s.gateway << " lost acknowledged events after kill " << kills;
        ASSERT_EQ(applied, last_seq) << s.gateway << " applied some events twice after kill " << kills;
        ASSERT_LE(last_seq, static_cast<std::int64_t>(s.events.size()));
        for (std::int64_t i = 0; i < last_seq; ++i)
          if (s.events[static_cast<std::size_t>(i)]["type"] == "device.seen")
            expected_seen[s.events[static_cast<std::size_t>(i)]["addr"].get<std::string>()]++;
      }
      for (int i = 0; i < kDevices; ++i) {
        auto q = db->prepare("SELECT seen_events FROM devices WHERE id = ?");
        q->bind(1, device(i));
        auto row = q->step();
        ASSERT_TRUE(row);
        std::int64_t got = *row ? q->int64(0) : 0;
        ASSERT_EQ(got, expected_seen[device(i)]) << device(i) << " after kill " << kills;
      }
      for (auto id : acked_moves) {
        auto q = db->prepare("SELECT kind FROM migrations WHERE id = ?");
        q->bind(1, id);
        auto row = q->step();
        ASSERT_TRUE(row && *row) << "move " << id << " answered 202 but not stored (kill " << kills << ")";
        ASSERT_EQ(q->text(0), "manual");
      }
    }
    ASSERT_EQ(twice.load(), 0) << twice_detail;
    ASSERT_TRUE(orch.start()) << "restart after kill " << kills << ": " << orch.log();
  }

  // After the last restart the control loop converges: each placed function
  // runs exactly once, where it was decided.
  auto op = orch.client(kOperatorToken);
  bool converged = wait_until(
      [&] {
        auto procs = function_processes(orch.state_dir());
        for (int i = 0; i < kDevices; ++i) {
          auto f = call(*op, "GET", "/v1/functions/" + function_id(i));
          if (f.status != 200) return false;
          if (f.body["desired"].is_null()) continue;
          auto want = f.body["desired"]["node"];
          auto& p = procs[function_id(i)];
          if (p.size() > 1) {
            twice++;
            return false;
          }
          if (want.is_string() && (p.size() != 1 || p[0].second != want.get<std::string>())) return false;
        }
        return true;
      },
      std::chrono::seconds(20));
  EXPECT_TRUE(converged);
  EXPECT_EQ(twice.load(), 0);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << kills << " kills, " << batches_ok << " batches and " << moves_ok << " moves acknowledged in " << secs << " s"
            << std::endl;
  EXPECT_GE(kills, 50);
  EXPECT_GT(batches_ok, 50);
  EXPECT_GE(moves_ok, 10);
}

}  // namespace
}  // namespace c4i::testing

namespace c4i::testing {
namespace {

// A function gets stdin, stdout and stderr from us and nothing else: not the
// listening socket, not the database. Otherwise a child the function left
// behind (it outlives a kill -9 of the orchestrator: only the function
// itself dies with us) would hold our port, and the restart could not listen.
TEST(CrashSafety, FunctionsInheritNoDescriptorSoTheirChildrenCannotHoldOurPort) {
  Orchestrator orch;
  ASSERT_TRUE(orch.start()) << orch.log();
  const auto port = orch.port();
  orch.launch_with({}, {"--listen", "127.0.0.1:" + std::to_string(port)});
  auto admin = orch.client(kAdminToken);
  ASSERT_EQ(call(*admin, "POST", "/v1/templates",
                 {{"name", "fds"},
                  {"command", {"/bin/sh", "-c", "sleep 1000 & exec sleep 1001"}},
                  {"cpu_m", 10},
                  {"mem_mb", 8}})
                .status,
            201);
  ASSERT_EQ(call(*orch.gateway("gw-1"), "POST", "/v1/gateways/gw-1/events", batch("gw-1", "b", {seen(1, device(0), -50, unix_ms())})).status, 200);
  ASSERT_EQ(call(*orch.client(kOperatorToken), "POST", "/v1/functions", {{"template", "fds"}, {"device", device(0)}, {"id", "fds"}}).status, 201);
  ASSERT_TRUE(wait_until([&] { return function_processes(orch.state_dir())["fds"].size() == 1; }, std::chrono::seconds(20)))
      << orch.log();
  // What the function holds, seen from outside (a listing from inside the
  // function raced the shell's own pipe descriptors): 0, 1, 2 and nothing
  // else, even where our own parent left descriptors open to us.
  const pid_t fn = function_processes(orch.state_dir())["fds"].front().first;
  std::set<int> fds;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(fn) + "/fd")) fds.insert(std::stoi(e.path().filename()));
  EXPECT_EQ(fds, (std::set<int>{0, 1, 2}));

  // kill -9: `sleep 1001` dies with us, `sleep 1000` lives on. The restart
  // listens on the same port and sweeps it away.
  orch.kill9();
  ASSERT_TRUE(orch.start()) << orch.log();
  EXPECT_EQ(orch.port(), port);
  ASSERT_TRUE(wait_until(
      [&] {
        auto p = function_processes(orch.state_dir())["fds"];
        return p.size() == 1;
      },
      std::chrono::seconds(20)))
      << orch.log();
  EXPECT_EQ(orch.stop(), 0);
}

}  // namespace
}  // namespace c4i::testing
