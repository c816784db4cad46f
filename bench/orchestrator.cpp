// c4i-orchestrator benchmarks against the real binary over TLS on 127.0.0.1:
//  - EventIngestion/conns: batches of 100 device.seen posted over keep-alive
//    connections (each its own gateway stream); every 200 means the batch is
//    durable (SQLite WAL, synchronous=FULL, group commit). Reports events/s
//    and the p50/p99 batch latency.
//  - RoamDecision: a device alternates between gw-1 and gw-2; from the event
//    accepted (notified) to the old instance stopped (applied), read from the
//    migration timeline, and to the new instance started.
// Run from a Release tree: bench/orchestrator.sh prints the table.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "tests/orchestrator/harness.hpp"

namespace {

using nlohmann::json;
using namespace c4i::testing;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void EventIngestion(benchmark::State& state) {
  const int conns = static_cast<int>(state.range(0));
  const auto duration = std::chrono::seconds(8);
  Orchestrator orch("threads: " + std::to_string(conns + 2) + "\n");
  if (!orch.start()) {
    state.SkipWithError("orchestrator did not start");
    return;
  }
  for (auto _ : state) {
    std::atomic<std::int64_t> events{0};
    std::vector<std::vector<double>> lat(static_cast<std::size_t>(conns));
    std::atomic<int> failures{0};
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < conns; ++c) {
      threads.emplace_back([&, c] {
        std::string gw = "gw-" + std::to_string(c % 3 + 1);
        std::string boot = "bench-" + std::to_string(c);
        auto client = orch.gateway(gw);
        std::int64_t seq = 1;
        while (std::chrono::steady_clock::now() - start < duration) {
          std::vector<json> evs;
          std::int64_t t = unix_ms();
          for (int i = 0; i < 100; ++i) {
            int dev = static_cast<int>((seq + i) % 5000);
            char addr[18];
            std::snprintf(addr, sizeof addr, "be:%02x:%02x:%02x:%02x:%02x", c, (dev >> 8) & 0xff, dev & 0xff, i, 0);
            evs.push_back(seen(seq + i, addr, -50 - i % 30, t, "refresh"));
          }
          std::string body = batch(gw, boot, evs).dump();
          auto t0 = std::chrono::steady_clock::now();
          auto r = client->request("POST", "/v1/gateways/" + gw + "/events", body, {{"Content-Type", "application/json"}}, false);
          auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          if (!r || r->status != 200) {
            failures++;
            client = orch.gateway(gw);
            continue;
          }
          lat[static_cast<std::size_t>(c)].push_back(ms);
          events += 100;
          seq += 100;
        }
      });
    }
    for (auto& t : threads) t.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> all;
    for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
    state.counters["events_per_s"] = static_cast<double>(events.load()) / secs;
    state.counters["batches"] = static_cast<double>(all.size());
    state.counters["p50_ms"] = percentile(all, 0.50);
    state.counters["p99_ms"] = percentile(all, 0.99);
    state.counters["failures"] = failures.load();
  }
}
BENCHMARK(EventIngestion)->Arg(1)->Arg(4)->Arg(8)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

void RoamDecision(benchmark::State& state) {
  Orchestrator orch;
  if (!orch.start()) {
    state.SkipWithError("orchestrator did not start");
    return;
  }
  auto op = orch.client(kOperatorToken);
  auto pol = call(*op, "GET", "/v1/policy");
  json p = pol.body["policy"];
  p["max_moves_per_minute"] = 10000;
  p["cooldown_s"] = 1;
  call(*op, "PUT", "/v1/policy", p, {{"If-Match", pol.headers["etag"]}});
  orch.create_test_template("fn", {{"C4I_TEST_NO_MARK", "1"}});
  const std::string dev = "c4:7c:8d:6a:3e:01", fn = "fn-c4-7c-8d-6a-3e-01";
  call(*op, "POST", "/v1/functions", {{"template", "fn"}, {"device", dev}});
  std::map<std::string, std::unique_ptr<c4i::http::Client>> gws;
  std::map<std::string, std::int64_t> seqs;
  for (const char* g : {"gw-1", "gw-2"}) {
    gws[g] = orch.gateway(g);
    seqs[g] = 1;
  }
  auto post = [&](const std::string& g, int rssi) {
    call(*gws[g], "POST", "/v1/gateways/" + g + "/events", batch(g, "roam-" + g, {seen(seqs[g]++, dev, rssi, unix_ms(), "enter")}));
  };
  post("gw-1", -50);
  wait_for(*op, "/v1/functions/" + fn, [](const json& b) { return b["state"] == "running"; });
  std::vector<double> to_applied, to_started, client_ms;
  std::string at = "gw-1";
  for (auto _ : state) {
    for (int round = 0; round < 30; ++round) {
      std::string to = at == "gw-1" ? "gw-2" : "gw-1";
      auto t0 = std::chrono::steady_clock::now();
      post(at, -95);  // leaves the old gateway's range (below threshold - hysteresis)...
      post(to, -45);  // ...and is heard strongly by the new one
      json m = wait_for(*op, "/v1/migrations?function=" + fn + "&kind=roam", [&](const json& b) {
        return !b["items"].empty() && b["items"].back()["to"]["node"] == to && b["items"].back()["state"] == "done";
      }, std::chrono::seconds(10));
      client_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (m["items"].empty()) {
        state.SkipWithError("no roam");
        return;
      }
      const auto& tl = m["items"].back()["timeline"];
      to_applied.push_back(static_cast<double>(tl["applied"].get<std::int64_t>() - tl["notified"].get<std::int64_t>()));
      to_started.push_back(static_cast<double>(tl["started"].get<std::int64_t>() - tl["notified"].get<std::int64_t>()));
      at = to;
    }
  }
  state.counters["roams"] = static_cast<double>(to_applied.size());
  state.counters["accepted_to_applied_p50_ms"] = percentile(to_applied, 0.5);
  state.counters["accepted_to_applied_p99_ms"] = percentile(to_applied, 0.99);
  state.counters["accepted_to_started_p50_ms"] = percentile(to_started, 0.5);
  state.counters["client_roundtrip_p50_ms"] = percentile(client_ms, 0.5);
}
BENCHMARK(RoamDecision)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
