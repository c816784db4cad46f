// Replay decode throughput on a large capture made by repeating the real
// ones in ../shared/testdata (built in memory at start, never committed).
// Counters: reports/s and MB/s of capture.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common/btsnoop.hpp"
#include "gateway-discovery/advertising_data.hpp"
#include "gateway-discovery/hci_events.hpp"
#include "gateway-discovery/replay.hpp"

namespace {

using namespace c4i;

std::string testdata() {
  const char* s = std::getenv("C4I_TESTDATA_DIR");
  return s ? s : C4I_TESTDATA_DEFAULT;
}

// All records of both captures, repeated `times`, as one datalink-1002 capture.
const std::vector<std::uint8_t>& big_capture(int times = 50) {
  static std::vector<std::uint8_t> out = [&] {
    std::vector<std::uint8_t> file;
    btsnoop::append_header(file, btsnoop::kDatalinkH4);
    std::vector<std::vector<std::uint8_t>> bodies;
    for (const char* name : {"hci-horizon74-treadmill.btsnoop", "hci-dsd6-tracker.btsnoop"}) {
      auto bytes = btsnoop::read_file(testdata() + "/" + name);
      if (!bytes) {
        std::fprintf(stderr, "%s\n", bytes.error().message.c_str());
        std::exit(1);
      }
      bodies.emplace_back(bytes->begin() + 16, bytes->end());
    }
    for (int i = 0; i < times; ++i)
      for (const auto& b : bodies) file.insert(file.end(), b.begin(), b.end());
    return file;
  }();
  return out;
}

void BM_ReplayJsonl(benchmark::State& state) {
  const auto& cap = big_capture();
  std::uint64_t reports = 0, bytes_out = 0;
  for (auto _ : state) {
    auto sum = discovery::replay_jsonl(cap, [&](std::string_view chunk) { bytes_out += chunk.size(); });
    reports += sum->reports;
    benchmark::DoNotOptimize(bytes_out);
  }
  state.counters["reports/s"] = benchmark::Counter(static_cast<double>(reports), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(cap.size() * state.iterations()));
}
BENCHMARK(BM_ReplayJsonl)->Unit(benchmark::kMillisecond);

// The decoders alone, without the JSON text.
void BM_DecodeOnly(benchmark::State& state) {
  const auto& cap = big_capture();
  std::vector<discovery::AdvReport> reports;
  discovery::AdvertisingData ad;
  std::uint64_t n = 0;
  for (auto _ : state) {
    auto reader = btsnoop::Reader::open(cap);
    btsnoop::Packet p;
    while (reader->next(p)) {
      if (p.type != btsnoop::PacketType::event) continue;
      reports.clear();
      discovery::decode_advertising_event(p.data, reports);
      for (const auto& r : reports) {
        discovery::decode_advertising_data(r.data, ad);
        benchmark::DoNotOptimize(ad.services.size());
        ++n;
      }
    }
  }
  state.counters["reports/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(cap.size() * state.iterations()));
}
BENCHMARK(BM_DecodeOnly)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
