// kill -9 at random instants (issue 13, Faults): the real orchestrator, the
// real discovery daemon, the function processes and the BLE readers are
// killed, one at a time, at random instants for C4I_KILL_LOOP_SECONDS
// (default 40), while the daemon replays a capture (each restart replays it
// again: new events, on the same durable sequence), an operator creates
// functions, and eight functions run: six test functions and two heart-rate
// functions, each `c4i-reader | c4i-fn-omh` reading an emulated GATT
// peripheral (c4i-gatt-peripheral) as it would a real one. A killed reader
// ends its function's input; the instance is restarted, and the kill counts
// as repaired when a new reader runs and data flows again past it.
// Then everything must converge:
// - nothing accepted is lost: every event the daemon stored durably (its
//   outbox's next seq, read at each kill) is applied by the orchestrator,
//   each seq exactly once and none skipped; every function the orchestrator
//   answered 201 for exists;
// - no function runs twice: no function is ever seen with two live
//   instances (process groups) in two samples apart;
// - everything converges: the outbox is empty, every device ended lost, the
//   eight functions run one instance each, the heart-rate ones with data
//   flowing, and both databases pass SQLite's integrity check.
// Prints the kills per process, the seed, the time each kill took to be
// repaired (everything stored before it applied, every function running
// once) and the time to converge after the last one.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/reliability/support.hpp"

namespace c4i::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

long env_or(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

std::string fixed_device(int i) {
  char b[18];
  std::snprintf(b, sizeof b, "fe:00:00:00:00:%02x", i);
  return b;
}

// The c4i-reader processes of the functions of `owner`: function id -> pids.
std::map<std::string, std::vector<pid_t>> reader_processes(const std::string& owner) {
  std::map<std::string, std::vector<pid_t>> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream comm(e.path() / "comm");
    std::string c;
    if (!std::getline(comm, c) || c != "c4i-reader") continue;
    auto pid = static_cast<pid_t>(std::stol(name));
    auto vars = process_environment(pid);
    if (vars["C4I_OWNER"] != owner) continue;
    out[vars["C4I_FUNCTION"]].push_back(pid);
  }
  return out;
}

std::uintmax_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : n;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

TEST(KillLoop, OrchestratorDiscoveryAndFunctionsKilledAtRandomLoseNothingAndConverge) {
  const auto loop_for = std::chrono::seconds(env_or("C4I_KILL_LOOP_SECONDS", 40));
  const unsigned seed = static_cast<unsigned>(env_or("C4I_KILL_LOOP_SEED", static_cast<long>(std::random_device{}() % 100000)));
  std::mt19937 rng(seed);
  TempDir dir;
  Orchestrator orch;
  ASSERT_TRUE(orch.start()) << orch.log();
  const auto port = orch.port();
  const std::string owner = orch.state_dir();
  orch.launch_with({}, {"--listen", "127.0.0.1:" + std::to_string(port)});  // every restart: the same address

  // Six functions near devices that gw-2 sees and never loses, and two
  // heart-rate functions fed by a reader each, from an emulated peripheral.
  constexpr int kFixed = 6, kReaders = 2;
  orch.create_test_template("fn");
  std::vector<std::unique_ptr<Child>> peripherals;
  auto hr_device = [](int i) { return fixed_device(kFixed + i); };
  auto hr_id = [](int i) { return "hr-" + std::to_string(i); };
  auto hr_log = [&](int i) { return owner + "/logs/" + hr_id(i) + ".log"; };
  for (int i = 0; i < kReaders; ++i)
    peripherals.push_back(std::make_unique<Child>(std::vector<std::string>{
        binary_dir() + "/ble-reader/c4i-gatt-peripheral", "--listen", dir.file("hr-" + std::to_string(i) + ".sock"),
        "--interval-ms", "100"}));
  {
    auto admin = orch.client(kAdminToken);
    auto r = call(*admin, "POST", "/v1/templates",
                  {{"name", "hr"},
                   {"command",
                    {"/bin/sh", "-c",
                     "\"$C4I_READER\" --connect \"unix:$C4I_SOCKETS/hr-${C4I_FUNCTION#hr-}.sock\" --reconnect-max-ms 500 "
                     "| exec \"$C4I_OMH\" --window 0.5 --grace 0.5"}},
                   {"env",
                    {{"C4I_READER", binary_dir() + "/ble-reader/c4i-reader"},
                     {"C4I_OMH", binary_dir() + "/images/c4i-fn-omh"},
                     {"C4I_SOCKETS", dir.path()}}},
                   {"cpu_m", 100},
                   {"mem_mb", 64}});
    ASSERT_EQ(r.status, 201) << r.raw;
  }
  {
    auto op = orch.client(kOperatorToken);
    auto pol = call(*op, "GET", "/v1/policy");
    json p = pol.body["policy"];
    p["lost_after_s"] = 3600;
    ASSERT_EQ(call(*op, "PUT", "/v1/policy", p, {{"If-Match", pol.headers["etag"]}}).status, 200);
    std::vector<json> evs;
    for (int i = 0; i < kFixed + kReaders; ++i) evs.push_back(seen(i + 1, fixed_device(i), -50, unix_ms()));
    ASSERT_EQ(call(*orch.gateway("gw-2"), "POST", "/v1/gateways/gw-2/events", batch("gw-2", "fixed", evs)).status, 200);
    for (int i = 0; i < kFixed; ++i)
      ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", fixed_device(i)}, {"id", "fixed-" + std::to_string(i)}}).status, 201);
    for (int i = 0; i < kReaders; ++i)
      ASSERT_EQ(call(*op, "POST", "/v1/functions", {{"template", "hr"}, {"device", hr_device(i)}, {"id", hr_id(i)}}).status, 201);
  }
  auto all_running_once = [&] {
    auto procs = function_processes(owner);
    for (int i = 0; i < kFixed; ++i)
      if (procs["fixed-" + std::to_string(i)].size() != 1) return false;
    for (int i = 0; i < kReaders; ++i)
      if (procs[hr_id(i)].size() != 1) return false;
    return true;
  };
  // Data flows through a heart-rate function: its output grows within 3 s.
  auto data_flows = [&](int i) {
    auto before = file_size_or_zero(hr_log(i));
    return wait_until([&] { return file_size_or_zero(hr_log(i)) > before; }, 3s);
  };
  ASSERT_TRUE(wait_until(all_running_once, 30s)) << orch.log();
  for (int i = 0; i < kReaders; ++i)
    ASSERT_TRUE(wait_until([&] { return data_flows(i); }, 20s)) << hr_id(i) << ": no data from its reader\n" << orch.log();

  // The daemon: 150 devices entering and leaving over ~33 s of capture time at x3.
  constexpr int kDevices = 150;
  write_enter_leave_capture(dir.file("flow.btsnoop"), kDevices, 0.2);
  DiscoveryOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(port);
  o.source = "btsnoop:" + dir.file("flow.btsnoop") + "@3";
  o.outbox = dir.file("outbox.db");
  o.request_timeout_ms = 2000;
  o.backoff_max_ms = 300;
  auto daemon = start_discovery(dir, o);
  const auto db = orch.db_path();
  ASSERT_TRUE(wait_until([&] { return stream_state(db, "gw-1").last_seq >= 5; }, 20s)) << daemon->err();

  // An operator creating functions the whole time: a 201 is a promise.
  std::atomic<bool> stop{false};
  std::mutex accepted_mu;
  std::set<std::string> accepted;
  std::atomic<int> creates_failed{0};
  std::thread operator_thread([&] {
    http::ClientOptions co;
    co.host = "127.0.0.1";
    co.port = port;
    co.server_name = "localhost";
    co.tls.ca_file = test_pki().ca();
    co.bearer_token = kOperatorToken;
    co.request_timeout = 3s;
    http::Client c(co);
    for (int n = 0; !stop; ++n) {
      char d[18];
      std::snprintf(d, sizeof d, "ee:00:00:00:%02x:%02x", (n >> 8) & 0xff, n & 0xff);
      std::string id = "op-" + std::to_string(n);
      auto r = c.request("POST", "/v1/functions", json{{"template", "fn"}, {"device", d}, {"id", id}}.dump(),
                         {{"Content-Type", "application/json"}}, false);
      if (r && r->status == 201) {
        std::lock_guard lk(accepted_mu);
        accepted.insert(id);
      } else {
        creates_failed++;  // the orchestrator was down or died under it: no promise made
      }
      std::this_thread::sleep_for(400ms);  // the operator's pace
    }
  });

  // No function runs twice: two live instances of one function, the same
  // process groups in two samples 300 ms apart (a killed instance that is
  // still exiting is not a second copy).
  std::vector<std::string> doubles;
  Clock::time_point last_double_check{};
  std::map<std::string, std::set<pid_t>> suspect;
  auto check_doubles = [&] {
    if (Clock::now() - last_double_check < 300ms) return;
    last_double_check = Clock::now();
    std::map<std::string, std::set<pid_t>> now;
    for (const auto& [fn, inst] : function_processes(owner))
      if (inst.size() > 1)
        for (const auto& i : inst) now[fn].insert(i.first);
    for (const auto& [fn, groups] : now) {
      auto it = suspect.find(fn);
      if (it == suspect.end()) continue;
      std::vector<pid_t> both;
      std::set_intersection(groups.begin(), groups.end(), it->second.begin(), it->second.end(), std::back_inserter(both));
      if (both.size() > 1 && doubles.size() < 10) doubles.push_back(fn + " has " + std::to_string(both.size()) + " instances");
    }
    suspect = std::move(now);
  };

  // The loop: a random victim at a random instant.
  std::map<std::string, int> kills;
  std::string last_victim;
  std::vector<double> repaired_ms;
  std::map<std::string, std::vector<double>> repaired_by_victim;
  int interrupted = 0;
  std::int64_t max_durable = 0;
  const auto loop_start = Clock::now();
  Clock::time_point last_kill = loop_start;
  while (Clock::now() - loop_start < loop_for) {
    const auto gap = std::chrono::milliseconds(200 + rng() % 2800);
    const auto kill_at = Clock::now() + gap;
    // Until the kill: watch for doubles.
    while (Clock::now() < kill_at) {
      check_doubles();
      std::this_thread::sleep_for(20ms);  // the polling period
    }
    const int victim = static_cast<int>(rng() % 4);
    std::int64_t durable = 0;
    pid_t killed_reader = 0;
    int reader_of = -1;
    last_kill = Clock::now();
    if (victim == 0) {
      durable = outbox_state(o.outbox).first - 1;
      orch.kill9();
      kills["orchestrator"]++;
      last_victim = "orchestrator";
      // Down for a random while (a restart by systemd or the kubelet), then back on the same state.
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1500));  // the outage itself
      ASSERT_TRUE(orch.start()) << orch.log();
    } else if (victim == 1) {
      daemon->signal(SIGKILL);
      daemon->wait(10s);
      durable = outbox_state(o.outbox).first - 1;  // what it had stored when it died
      kills["discovery"]++;
      last_victim = "discovery (its restart replays the whole capture, ~11 s)";
      daemon = start_discovery(dir, o);
    } else if (victim == 2) {
      auto procs = function_processes(owner);
      std::vector<pid_t> groups;
      for (int i = 0; i < kFixed; ++i)
        for (const auto& inst : procs["fixed-" + std::to_string(i)]) groups.push_back(inst.first);
      for (int i = 0; i < kReaders; ++i)
        for (const auto& inst : procs[hr_id(i)]) groups.push_back(inst.first);
      if (groups.empty()) continue;  // all down already (the orchestrator was just restarted)
      durable = outbox_state(o.outbox).first - 1;
      kill(-groups[rng() % groups.size()], SIGKILL);
      kills["function"]++;
      last_victim = "function";
    } else {
      // The reader alone, not its function: the function sees its input end.
      auto readers = reader_processes(owner);
      reader_of = static_cast<int>(rng() % kReaders);
      auto& pids = readers[hr_id(reader_of)];
      if (pids.empty()) continue;  // restarting already
      durable = outbox_state(o.outbox).first - 1;
      killed_reader = pids.front();
      kill(killed_reader, SIGKILL);
      kills["reader"]++;
      last_victim = "reader";
    }
    max_durable = std::max(max_durable, durable);
    // Repaired: everything stored before the kill applied, every function running once.
    const auto next_kill_budget = std::chrono::milliseconds(3000);
    // A killed reader: a new one runs (another pid) and data flows past it.
    std::uintmax_t log_at_new_reader = 0;
    bool new_reader = killed_reader == 0;
    bool ok = wait_until(
        [&] {
          check_doubles();
          if (!new_reader) {
            auto pids = reader_processes(owner)[hr_id(reader_of)];
            if (pids.size() == 1 && pids.front() != killed_reader) {
              new_reader = true;
              log_at_new_reader = file_size_or_zero(hr_log(reader_of));
            }
            return false;
          }
          if (killed_reader && file_size_or_zero(hr_log(reader_of)) <= log_at_new_reader) return false;
          return stream_state(db, "gw-1").last_seq >= durable && all_running_once();
        },
        next_kill_budget);
    if (ok) {
      repaired_ms.push_back(ms_since(last_kill));
      repaired_by_victim[last_victim.substr(0, last_victim.find(' '))].push_back(repaired_ms.back());
    } else {
      interrupted++;
    }
  }
  stop = true;
  operator_thread.join();

  // Converge: the last replay played out, the outbox drained, every function once.
  const bool converged = wait_until(
      [&] {
        check_doubles();
        auto [next, pending] = outbox_state(o.outbox);
        return daemon->err().find("replay finished") != std::string::npos && pending == 0 &&
               stream_state(db, "gw-1").last_seq == next - 1 && all_running_once();
      },
      90s);
  const double converge_ms = ms_since(last_kill);
  const auto [next_seq, pending] = outbox_state(o.outbox);
  const auto s = stream_state(db, "gw-1");
  std::printf(
      "kill loop: seed %u, %.0f s, kills: orchestrator %d, discovery %d, function %d, reader %d; %zu kills repaired "
      "(time from the kill, restarts included: p50 %.0f ms, max %.0f ms), %d not yet 3 s after the restart, when the next kill came\n"
      "kill loop: converged %.0f ms after the last kill (of the %s); %lld events applied (each once), %zu functions created by the "
      "operator (%d attempts refused or cut by a kill)\n",
      seed, std::chrono::duration<double>(loop_for).count(), kills["orchestrator"], kills["discovery"], kills["function"],
      kills["reader"], repaired_ms.size(), percentile(repaired_ms, 0.5), repaired_ms.empty() ? -1.0 : *std::max_element(repaired_ms.begin(), repaired_ms.end()),
      interrupted, converge_ms, last_victim.c_str(), static_cast<long long>(s.last_seq), accepted.size(), creates_failed.load());
  for (const auto& [victim, ms] : repaired_by_victim)
    std::printf("kill loop: %s kills repaired: n %zu, p50 %.0f ms, max %.0f ms\n", victim.c_str(), ms.size(), percentile(ms, 0.5),
                *std::max_element(ms.begin(), ms.end()));
  std::fflush(stdout);

  ASSERT_TRUE(converged) << "outbox next " << next_seq << " pending " << pending << ", applied " << s.last_seq << "\n"
                         << daemon->err().substr(0, 4000) << "\n" << orch.log().substr(0, 4000);
  EXPECT_GT(kills["orchestrator"] + kills["discovery"] + kills["function"] + kills["reader"], 5);
  for (int i = 0; i < kReaders; ++i) EXPECT_TRUE(data_flows(i)) << hr_id(i) << ": no data after the loop";
  // Nothing accepted lost; each seq once; one durable sequence across restarts.
  EXPECT_GE(s.last_seq, max_durable);
  EXPECT_EQ(s.last_seq, next_seq - 1);
  EXPECT_EQ(s.events, s.last_seq) << "a seq applied twice or skipped";
  EXPECT_EQ(s.boot_ids, 1);
  int not_lost = 0;
  for (int i = 0; i < kDevices; ++i) {
    auto d = device_row(db, capture_device(i));
    if ((!d || d->state != "lost") && ++not_lost <= 5) ADD_FAILURE() << capture_device(i) << (d ? " " + d->state : " missing");
  }
  auto viewer = orch.client(kViewerToken);
  for (const auto& id : accepted) EXPECT_EQ(call(*viewer, "GET", "/v1/functions/" + id).status, 200) << id << " was accepted, then lost";
  for (const auto& d : doubles) ADD_FAILURE() << "ran twice: " << d;
  EXPECT_EQ(integrity(db), "ok");
  EXPECT_EQ(integrity(o.outbox), "ok");
  daemon->signal(SIGTERM);
  EXPECT_EQ(daemon->wait(10s), 0) << daemon->err();
  EXPECT_EQ(orch.stop(), 0) << orch.log().substr(0, 3000);
}

}  // namespace
}  // namespace c4i::testing
