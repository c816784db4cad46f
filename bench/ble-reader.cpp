// In-process costs of the reader's pure code: replay of a real capture
// (notifications per second, including JSON lines), and each decoder.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "ble-reader/decoders.hpp"
#include "ble-reader/replay.hpp"
#include "common/btsnoop.hpp"

namespace {

std::string testdata() {
  const char* d = std::getenv("C4I_TESTDATA");
  return d ? d : "/work/shared/testdata";
}

void BM_ReplayTreadmillCapture(benchmark::State& state) {
  auto bytes = c4i::btsnoop::read_file(testdata() + "/hci-horizon74-treadmill.btsnoop");
  if (!bytes) {
    state.SkipWithError(bytes.error().message.c_str());
    return;
  }
  std::uint64_t notifications = 0;
  std::size_t out_bytes = 0;
  for (auto _ : state) {
    auto st = c4i::reader::replay(*bytes, [&](const c4i::reader::ReplayRecord& r) {
      out_bytes += c4i::reader::replay_json_line(r).size();
    });
    notifications += st->notifications + st->indications;
  }
  benchmark::DoNotOptimize(out_bytes);
  state.counters["notifications/s"] = benchmark::Counter(static_cast<double>(notifications), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes->size()));
}
BENCHMARK(BM_ReplayTreadmillCapture)->Unit(benchmark::kMillisecond);

void BM_DecodeHeartRate(benchmark::State& state) {
  const std::uint8_t v[] = {0x19, 0x2C, 0x01, 0xE8, 0x03, 0x00, 0x02, 0x00, 0x04};
  for (auto _ : state) benchmark::DoNotOptimize(c4i::reader::decode_heart_rate(v));
}
BENCHMARK(BM_DecodeHeartRate);

void BM_DecodeHeartRateToJson(benchmark::State& state) {
  const std::uint8_t v[] = {0x16, 0x48, 0x40, 0x03};
  const auto uuid = c4i::reader::Uuid::from16(0x2A37);
  for (auto _ : state) benchmark::DoNotOptimize(c4i::reader::decode(uuid, v).dump());
}
BENCHMARK(BM_DecodeHeartRateToJson);

void BM_DecodeTemperature(benchmark::State& state) {
  const std::uint8_t v[] = {0x06, 0x6C, 0x01, 0x00, 0xFF, 0xE2, 0x07, 0x03, 0x0F, 0x0B, 0x1E, 0x2D, 0x02};
  for (auto _ : state) benchmark::DoNotOptimize(c4i::reader::decode_temperature(v));
}
BENCHMARK(BM_DecodeTemperature);

}  // namespace

BENCHMARK_MAIN();
