// Throughput of the IoT functions' pure parts: how many reader lines per
// second each parser takes, and how long one window's analysis takes in the
// engine's intensive (1 s at the sensor rate) and relaxed (10 s, 100 Hz) modes.
#include <benchmark/benchmark.h>

#include <cmath>
#include <numbers>
#include <string>

#include "images/heart_rate.hpp"
#include "images/samples.hpp"
#include "images/vibration.hpp"

using namespace c4i::functions;

static void BM_ParseHeartRateOmhBody(benchmark::State& state) {
  const std::string line =
      R"({"heart_rate":{"value":72,"unit":"beats/min"},"effective_time_frame":{"date_time":"2026-11-23T12:00:00.250Z"},"rr_intervals_ms":[833.0,851.5]})";
  for (auto _ : state) benchmark::DoNotOptimize(parse_heart_rate_line(line));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(line.size()));
}
BENCHMARK(BM_ParseHeartRateOmhBody);

static void BM_ParseAccelLine(benchmark::State& state) {
  const std::string line = R"({"t":12.345678,"x":0.123456789,"y":-1.23456789,"z":9.80665})";
  for (auto _ : state) benchmark::DoNotOptimize(parse_accel_line(line));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseAccelLine);

static void BM_ConsolidateHeartRateWindow(benchmark::State& state) {
  ClosedWindow<HeartRateSample> w{0, 60, false, {}};
  for (int i = 0; i < 60; ++i) w.samples.push_back({static_cast<double>(i), 60.0 + i % 10, {1000.0 - i % 3 * 10}});
  for (auto _ : state) {
    auto dp = make_heart_rate_data_point(consolidate(w), {"gw-1", "omh", "hr1", ""}, "id", 0);
    benchmark::DoNotOptimize(dp.dump());
  }
}
BENCHMARK(BM_ConsolidateHeartRateWindow);

static ClosedWindow<AccelSample> accel_window(double fs, double seconds) {
  ClosedWindow<AccelSample> w{0, seconds, false, {}};
  for (int i = 0; i < static_cast<int>(fs * seconds); ++i) {
    const double t = i / fs;
    w.samples.push_back({t, 3, 2 * std::sin(2 * std::numbers::pi * 50 * t), 0.1 * std::sin(2 * std::numbers::pi * 120 * t), 9.81});
  }
  return w;
}

// Argument: the sensor's sample rate in Hz; the window is the mode's.
static void BM_VibrationWindowIntensive(benchmark::State& state) {
  auto w = accel_window(static_cast<double>(state.range(0)), 1.0);
  for (auto _ : state) benchmark::DoNotOptimize(analyse(w, VibrationMode::intensive, FaultBand{90, 110, 0.5}));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(w.samples.size()));
}
BENCHMARK(BM_VibrationWindowIntensive)->Arg(1000)->Arg(3200)->Arg(10000)->Unit(benchmark::kMicrosecond);

static void BM_VibrationWindowRelaxed(benchmark::State& state) {
  auto w = accel_window(static_cast<double>(state.range(0)), 10.0);
  for (auto _ : state) benchmark::DoNotOptimize(analyse(w, VibrationMode::relaxed, FaultBand{20, 40, 0.5}));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(w.samples.size()));
}
BENCHMARK(BM_VibrationWindowRelaxed)->Arg(1000)->Arg(3200)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
