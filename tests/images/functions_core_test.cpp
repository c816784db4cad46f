// The IoT functions' pure logic: sample parsers, windows, heart-rate
// consolidation and HRV, vibration features on signals of known frequency
// and amplitude, the mode choice, the upstream URL and buffer.
#include "images/heart_rate.hpp"
#include "images/samples.hpp"
#include "images/upstream.hpp"
#include "images/vibration.hpp"
#include "images/window.hpp"

#include <cmath>
#include <numbers>
#include <random>
#include <regex>

#include <gtest/gtest.h>

namespace c4i::functions {
namespace {

// --- RFC 3339 ---

TEST(Rfc3339, ParsesUtcOffsetsAndFractions) {
  EXPECT_DOUBLE_EQ(*parse_rfc3339("1970-01-01T00:00:00Z"), 0.0);
  EXPECT_DOUBLE_EQ(*parse_rfc3339("2026-11-23T12:00:00Z"), 1795435200.0);
  EXPECT_DOUBLE_EQ(*parse_rfc3339("2026-11-23T13:00:00.250+01:00"), 1795435200.25);
  EXPECT_DOUBLE_EQ(*parse_rfc3339("2026-11-23T11:30:00-00:30"), 1795435200.0);
  EXPECT_DOUBLE_EQ(*parse_rfc3339("2024-02-29T00:00:00Z"), 1709164800.0);
}

TEST(Rfc3339, RefusesMalformedDates) {
  for (const char* bad : {"", "2026-11-23", "2026-11-23T12:00:00", "2026-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2026-11-23T24:00:00Z", "2026-11-23T12:00:60Z", "2026-11-23T12:00:00.Z", "2026-11-23T12:00:00+1:00",
                          "2026-11-23T12:00:00Zjunk", "2026-11-2xT12:00:00Z"}) {
    auto r = parse_rfc3339(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, "malformed_sample");
    }
  }
}

TEST(Rfc3339, FormatsRoundTripInMilliseconds) {
  EXPECT_EQ(format_rfc3339(1795435200.25), "2026-11-23T12:00:00.250Z");
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(951782400.0), "2000-02-29T00:00:00.000Z");
  EXPECT_DOUBLE_EQ(*parse_rfc3339(format_rfc3339(1700000000.123)), 1700000000.123);
}

// --- heart-rate lines ---

TEST(HeartRateLine, ParsesOpenMHealthBody) {
  auto r = parse_heart_rate_line(
      R"({"heart_rate":{"value":72,"unit":"beats/min"},"effective_time_frame":{"date_time":"2026-11-23T12:00:00Z"}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->sample);
  EXPECT_EQ(r->sample->bpm, 72);
  EXPECT_DOUBLE_EQ(r->sample->t_s, 1795435200.0);
  EXPECT_TRUE(r->sample->rr_ms.empty());
}

TEST(HeartRateLine, ReadsRrIntervalsInMillisecondsOr1024ths) {
  auto ms = parse_heart_rate_line(R"({"heart_rate":{"value":60,"unit":"beats/min"},)"
                                  R"("effective_time_frame":{"date_time":"2026-11-23T12:00:00Z"},"rr_intervals_ms":[1000,990.5]})");
  ASSERT_TRUE(ms.ok());
  EXPECT_EQ(ms->sample->rr_ms, (std::vector<double>{1000, 990.5}));
  auto raw = parse_heart_rate_line(R"({"heart_rate":{"value":60,"unit":"beats/min"},)"
                                   R"("effective_time_frame":{"date_time":"2026-11-23T12:00:00Z"},"rr_intervals_1024":[1024,512]})");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->sample->rr_ms, (std::vector<double>{1000, 500}));
}

TEST(HeartRateLine, ParsesDataPointAndTimeInterval) {
  auto r = parse_heart_rate_line(
      R"({"header":{"schema_id":{"namespace":"omh","name":"heart-rate","version":"2.0"}},)"
      R"("body":{"heart_rate":{"value":80,"unit":"beats/min"},"effective_time_frame":{"time_interval":)"
      R"({"start_date_time":"2026-11-23T12:00:01Z","end_date_time":"2026-11-23T12:00:02Z"}}},"rr_intervals_ms":[750]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sample->bpm, 80);
  EXPECT_DOUBLE_EQ(r->sample->t_s, 1795435201.0);
  EXPECT_EQ(r->sample->rr_ms, std::vector<double>{750});
}

TEST(HeartRateLine, DataPointOfAnotherSchemaIsNotASample) {
  auto r = parse_heart_rate_line(R"({"header":{"schema_id":{"namespace":"omh","name":"step-count","version":"2.0"}},"body":{}})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->sample);
}

TEST(HeartRateLine, ParsesReaderJsonlLine) {
  auto r = parse_heart_rate_line(
      R"({"t":"2026-11-23T12:00:00.500Z","device":"AA:BB","source":"notification","handle":14,"uuid":"2a37","value":"1048ff03",)"
      R"("decoded":{"type":"heart_rate_measurement","heart_rate_bpm":72,"rr_intervals_1024":[1023],"rr_intervals_ms":[999.023]},)"
      R"("omh":{"heart_rate":{"value":72,"unit":"beats/min"},"effective_time_frame":{"date_time":"2026-11-23T12:00:00.500Z"}}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sample->bpm, 72);
  EXPECT_DOUBLE_EQ(r->sample->t_s, 1795435200.5);
  EXPECT_EQ(r->sample->rr_ms, std::vector<double>{999.023});
  // Without the "omh" body, the decoded value and "t" are used.
  auto bare = parse_heart_rate_line(
      R"({"t":"2026-11-23T12:00:00Z","decoded":{"type":"heart_rate_measurement","heart_rate_bpm":65}})");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->sample->bpm, 65);
}

TEST(HeartRateLine, ReaderLineOfAnotherCharacteristicIsNotASample) {
  auto r = parse_heart_rate_line(R"({"t":"2026-11-23T12:00:00Z","decoded":{"type":"battery_level","percent":90}})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->sample);
}

TEST(HeartRateLine, MalformedLinesSayWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"not json", "not JSON"},
      {"[1,2]", "not a JSON object"},
      {R"({"heart_rate":{"value":72,"unit":"bpm"},"effective_time_frame":{"date_time":"2026-11-23T12:00:00Z"}})", "unit"},
      {R"({"heart_rate":{"value":"72","unit":"beats/min"},"effective_time_frame":{"date_time":"2026-11-23T12:00:00Z"}})", "value"},
      {R"({"heart_rate":{"value":-1,"unit":"beats/min"},"effective_time_frame":{"date_time":"2026-11-23T12:00:00Z"}})", "value"},
      {R"({"heart_rate":{"value":72,"unit":"beats/min"}})", "effective_time_frame"},
      {R"({"heart_rate":{"value":72,"unit":"beats/min"},"effective_time_frame":{"date_time":"yesterday"}})", "RFC 3339"},
      {R"({"heart_rate":{"value":72,"unit":"beats/min"},"effective_time_frame":{"date_time":"2026-11-23T12:00:00Z"},"rr_intervals_ms":[0]})", "RR"},
      {R"({"heart_rate":{"value":72,"unit":"beats/min"},"effective_time_frame":{"date_time":"2026-11-23T12:00:00Z"},"rr_intervals_ms":5})", "array"},
      {R"({"foo":1})", "neither"},
  };
  for (const auto& [line, why] : cases) {
    auto r = parse_heart_rate_line(line);
    ASSERT_FALSE(r.ok()) << line;
    EXPECT_EQ(r.error().code, "malformed_sample");
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(parse_heart_rate_line(std::string(kMaxSampleLineBytes + 1, ' ')).ok());
}

// --- accelerometer lines ---

TEST(AccelLine, ParsesThreeAxisAndSingleAxisForms) {
  auto r = parse_accel_line(R"({"t":0.001,"x":1.5,"y":-2,"z":9.81})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->axes, 3);
  EXPECT_DOUBLE_EQ(r->t_s, 0.001);
  EXPECT_DOUBLE_EQ(r->y, -2);
  EXPECT_DOUBLE_EQ(r->z, 9.81);
  auto a = parse_accel_line(R"({"t":12.5,"a":0.25})");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->axes, 1);
  EXPECT_DOUBLE_EQ(a->x, 0.25);
}

TEST(AccelLine, MalformedLinesSayWhy) {
  for (const char* bad : {"", "{", "3", R"({"x":1,"y":2,"z":3})", R"({"t":"0","x":1,"y":2,"z":3})", R"({"t":0,"x":1,"y":2})",
                          R"({"t":0,"x":1,"y":null,"z":3})", R"({"t":0,"a":"1"})", R"({"t":1e300,"a":1})"}) {
    auto r = parse_accel_line(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, "malformed_sample");
    }
  }
}

// --- windows ---

TEST(Windower, ClosesAWindowWhenASampleReachesItsEnd) {
  Windower<int> w(10.0, 2.0, 100);
  EXPECT_FALSE(w.add(100.0, 1, 0.0));
  EXPECT_FALSE(w.add(105.0, 2, 0.1));
  EXPECT_FALSE(w.add(109.999, 3, 0.2));
  auto closed = w.add(110.0, 4, 0.3);
  ASSERT_TRUE(closed);
  EXPECT_DOUBLE_EQ(closed->start_s, 100.0);
  EXPECT_DOUBLE_EQ(closed->end_s, 110.0);
  EXPECT_FALSE(closed->by_wall_clock);
  EXPECT_EQ(closed->samples, (std::vector<int>{1, 2, 3}));
  auto last = w.flush();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->samples, std::vector<int>{4});
}

TEST(Windower, WallClockClosesTheWindowOfASilentDevice) {
  Windower<int> w(10.0, 2.0, 100);
  w.add(103.0, 1, 50.0);  // the window ends 7 s of sample time later: wall 57, plus grace 2
  ASSERT_TRUE(w.deadline());
  EXPECT_DOUBLE_EQ(*w.deadline(), 59.0);
  EXPECT_FALSE(w.poll(58.9));
  auto closed = w.poll(59.0);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->by_wall_clock);
  EXPECT_EQ(closed->samples, std::vector<int>{1});
  EXPECT_FALSE(w.deadline());
  // A straggler for the window already closed is late, counted and dropped.
  EXPECT_FALSE(w.add(108.0, 2, 60.0));
  EXPECT_EQ(w.counters().late, 1u);
  EXPECT_FALSE(w.flush());
}

TEST(Windower, CountsLateAndOverflowingSamples) {
  Windower<int> w(10.0, 0.0, 2);
  w.add(25.0, 1, 0);
  w.add(19.0, 2, 0);  // before the open window [20, 30)
  w.add(26.0, 3, 0);
  w.add(27.0, 4, 0);  // third sample: over the bound of 2
  EXPECT_EQ(w.counters().late, 1u);
  EXPECT_EQ(w.counters().overflow, 1u);
  EXPECT_EQ(w.flush()->samples, (std::vector<int>{1, 3}));
}

// --- heart-rate consolidation ---

TEST(HeartRateVariability, RmssdAndSdnnOfKnownIntervals) {
  const std::vector<double> rr{800, 810, 790, 800};
  auto h = heart_rate_variability(rr);
  EXPECT_EQ(h.rr_count, 4u);
  // Successive differences 10, -20, 10: RMSSD = sqrt(600/3).
  EXPECT_NEAR(*h.rmssd_ms, std::sqrt(200.0), 1e-9);
  // Mean 800, deviations 0, 10, -10, 0: SDNN = sqrt(200/3).
  EXPECT_NEAR(*h.sdnn_ms, std::sqrt(200.0 / 3.0), 1e-9);
}

TEST(HeartRateVariability, LeavesOutArtefactsAndNeedsTwoIntervals) {
  const std::vector<double> rr{100, 800, 5000};
  auto h = heart_rate_variability(rr);
  EXPECT_EQ(h.rr_count, 1u);
  EXPECT_EQ(h.rr_rejected, 2u);
  EXPECT_FALSE(h.rmssd_ms);
  EXPECT_FALSE(h.sdnn_ms);
}

ClosedWindow<HeartRateSample> hr_window(bool with_rr) {
  ClosedWindow<HeartRateSample> w{1795435200.0, 1795435260.0, false, {}};
  const double bpm[] = {70, 80, 75, 65};
  const double rr[] = {857, 750, 800, 923};
  for (int i = 0; i < 4; ++i) {
    HeartRateSample s{1795435200.0 + i * 10, bpm[i], {}};
    if (with_rr) s.rr_ms = {rr[i]};
    w.samples.push_back(s);
  }
  return w;
}

TEST(Consolidate, MinMeanMaxAndHrvOfAWindow) {
  auto s = consolidate(hr_window(true));
  EXPECT_EQ(s.sample_count, 4u);
  EXPECT_DOUBLE_EQ(s.min_bpm, 65);
  EXPECT_DOUBLE_EQ(s.max_bpm, 80);
  EXPECT_DOUBLE_EQ(s.mean_bpm, 72.5);
  ASSERT_TRUE(s.hrv);
  EXPECT_EQ(s.hrv->rr_count, 4u);
  EXPECT_NEAR(*s.hrv->rmssd_ms, std::sqrt((107.0 * 107 + 50.0 * 50 + 123.0 * 123) / 3), 1e-9);
  EXPECT_FALSE(consolidate(hr_window(false)).hrv);
}

TEST(DataPoint, HeaderAndBodyFollowOpenMHealth) {
  FunctionIdentity who{"gw-1", "omh-hr1", "hr1", "AA:BB:CC:DD:EE:FF"};
  auto dp = make_heart_rate_data_point(consolidate(hr_window(true)), who, "id-1", 1795435261.5);
  const auto& h = dp["header"];
  EXPECT_EQ(h["id"], "id-1");
  EXPECT_EQ(h["creation_date_time"], "2026-11-23T12:01:01.500Z");
  EXPECT_EQ(h["schema_id"], (nlohmann::json{{"namespace", "omh"}, {"name", "heart-rate"}, {"version", "2.0"}}));
  EXPECT_EQ(h["acquisition_provenance"]["modality"], "sensed");
  EXPECT_NE(h["acquisition_provenance"]["source_name"].get<std::string>().find("hr1"), std::string::npos);
  EXPECT_EQ(h["cloud4iot"]["node"], "gw-1");
  const auto& b = dp["body"];
  EXPECT_EQ(b["heart_rate"], (nlohmann::json{{"value", 72.5}, {"unit", "beats/min"}}));
  EXPECT_EQ(b["descriptive_statistic"], "average");
  EXPECT_EQ(b["effective_time_frame"]["time_interval"]["start_date_time"], "2026-11-23T12:00:00.000Z");
  EXPECT_EQ(b["effective_time_frame"]["time_interval"]["end_date_time"], "2026-11-23T12:01:00.000Z");
  EXPECT_EQ(b["consolidation"]["minimum"]["value"], 65.0);
  EXPECT_EQ(b["consolidation"]["maximum"]["value"], 80.0);
  EXPECT_EQ(b["consolidation"]["heart_rate_variability"]["rmssd"]["unit"], "ms");
  EXPECT_TRUE(b["consolidation"]["heart_rate_variability"].contains("sdnn"));
  auto no_rr = make_heart_rate_data_point(consolidate(hr_window(false)), who, "id-2", 0);
  EXPECT_FALSE(no_rr["body"]["consolidation"].contains("heart_rate_variability"));
}

TEST(Uuid, Version4WithRfc4122Variant) {
  std::array<std::uint8_t, 16> b;
  b.fill(0xFF);
  const std::string u = uuid_v4(b);
  EXPECT_TRUE(std::regex_match(u, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"))) << u;
  b.fill(0);
  EXPECT_EQ(uuid_v4(b), "00000000-0000-4000-8000-000000000000");
}

// --- vibration ---

std::vector<double> sine(double hz, double amplitude, double fs, std::size_t n, double offset = 0) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = offset + amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / fs);
  return x;
}

TEST(Vibration, SineOf50HzAmplitude2) {
  const double fs = 1000;
  auto x = sine(50, 2, fs, 1000, 9.81);
  AxisFeatures f = time_features(x);
  EXPECT_NEAR(f.mean, 9.81, 1e-9);
  EXPECT_NEAR(f.rms, std::sqrt(2.0), 1e-3);
  EXPECT_NEAR(f.peak, 2.0, 1e-3);
  EXPECT_NEAR(f.crest_factor, std::sqrt(2.0), 1e-3);
  EXPECT_NEAR(f.kurtosis, 1.5, 1e-3);
  spectral_features(x, fs, 5, std::nullopt, f);
  ASSERT_FALSE(f.dominant.empty());
  EXPECT_NEAR(f.dominant[0].hz, 50.0, fs / 1000);  // within a bin
  EXPECT_NEAR(f.dominant[0].amplitude, 2.0, 0.02);
  EXPECT_EQ(f.dominant.size(), 1u);  // no side lobe passes for a line
}

TEST(Vibration, OffBinFrequencyIsFoundWithinABin) {
  const double fs = 2048;
  auto x = sine(123.4, 1, fs, 1024);
  AxisFeatures f = time_features(x);
  spectral_features(x, fs, 3, std::nullopt, f);
  ASSERT_FALSE(f.dominant.empty());
  EXPECT_NEAR(f.dominant[0].hz, 123.4, fs / 1024);
  EXPECT_NEAR(f.dominant[0].amplitude, 1.0, 0.2);  // Hann scalloping stays under 16%
}

TEST(Vibration, TwoTonesComeOutStrongestFirst) {
  const double fs = 1000;
  auto x = sine(50, 2, fs, 1000);
  auto y = sine(120, 0.5, fs, 1000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += y[i];
  AxisFeatures f = time_features(x);
  EXPECT_NEAR(f.rms, std::sqrt(2.0 + 0.125), 1e-3);
  spectral_features(x, fs, 5, std::nullopt, f);
  ASSERT_GE(f.dominant.size(), 2u);
  EXPECT_NEAR(f.dominant[0].hz, 50, 1);
  EXPECT_NEAR(f.dominant[1].hz, 120, 1);
  EXPECT_NEAR(f.dominant[1].amplitude, 0.5, 0.01);
}

TEST(Vibration, GaussianNoiseHasKurtosisNearThreeAndImpulsesMore) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> n(0, 1);
  std::vector<double> x(20000);
  for (auto& v : x) v = n(rng);
  EXPECT_NEAR(time_features(x).kurtosis, 3.0, 0.15);
  std::vector<double> impulses(1000, 0.0);
  impulses[100] = impulses[600] = 10;
  auto f = time_features(impulses);
  EXPECT_GT(f.kurtosis, 100);
  EXPECT_GT(f.crest_factor, 10);
}

TEST(Vibration, FaultBandFlagsPowerInTheBand) {
  const double fs = 1000;
  auto x = sine(100, 1, fs, 1000);
  auto y = sine(30, 0.2, fs, 1000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += y[i];
  FaultBand band{90, 110, 0.5};
  AxisFeatures f = time_features(x);
  spectral_features(x, fs, 0, band, f);
  ASSERT_TRUE(f.band_energy_ratio);
  EXPECT_NEAR(*f.band_energy_ratio, 1.0 / 1.04, 0.01);
  EXPECT_TRUE(f.fault);
  EXPECT_TRUE(f.dominant.empty());  // 0 peaks asked
  AxisFeatures g = time_features(y);
  spectral_features(y, fs, 0, band, g);
  EXPECT_LT(*g.band_energy_ratio, 0.01);
  EXPECT_FALSE(g.fault);
  // A band above Nyquist cannot be judged.
  AxisFeatures h = time_features(x);
  spectral_features(x, fs, 0, FaultBand{600, 700, 0.5}, h);
  EXPECT_FALSE(h.band_energy_ratio);
  EXPECT_FALSE(h.fault);
}

TEST(Vibration, FlatSignalHasNoShapeAndNoPeaks) {
  std::vector<double> x(256, 9.81);
  AxisFeatures f = time_features(x);
  spectral_features(x, 1000, 5, FaultBand{10, 20, 0.5}, f);
  EXPECT_EQ(f.rms, 0);
  EXPECT_EQ(f.crest_factor, 0);
  EXPECT_EQ(f.kurtosis, 0);
  EXPECT_TRUE(f.dominant.empty());
  EXPECT_EQ(*f.band_energy_ratio, 0);
  EXPECT_FALSE(f.fault);
}

ClosedWindow<AccelSample> accel_window(double fs, double seconds, double hz, double amplitude) {
  ClosedWindow<AccelSample> w{0, seconds, false, {}};
  const auto n = static_cast<std::size_t>(fs * seconds);
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / fs;
    w.samples.push_back({t, 3, amplitude * std::sin(2 * std::numbers::pi * hz * t), 0.0, 9.81});
  }
  return w;
}

TEST(Vibration, IntensiveModeKeepsFullRateAndPeaks) {
  auto r = analyse(accel_window(1000, 1, 50, 2), VibrationMode::intensive, std::nullopt);
  EXPECT_NEAR(r.sample_rate_hz, 1000, 1e-6);
  EXPECT_NEAR(r.analysed_rate_hz, 1000, 1e-6);
  ASSERT_EQ(r.axes.size(), 3u);
  EXPECT_EQ(r.axes[0].first, "x");
  EXPECT_NEAR(r.axes[0].second.rms, 1.414, 1e-3);
  EXPECT_NEAR(r.axes[0].second.dominant.at(0).hz, 50, 1);
  auto j = report_json(r, {}, std::nullopt);
  EXPECT_TRUE(j["axes"]["x"].contains("dominant"));
  EXPECT_EQ(j["mode"], "intensive");
}

TEST(Vibration, RelaxedModeDecimatesAndReportsSummaryOnly) {
  auto r = analyse(accel_window(1000, 10, 2, 1), VibrationMode::relaxed, FaultBand{1, 3, 0.5});
  EXPECT_NEAR(r.sample_rate_hz, 1000, 1e-6);
  EXPECT_NEAR(r.analysed_rate_hz, 100, 1e-6);  // at most 100 Hz
  EXPECT_NEAR(r.axes[0].second.rms, std::sqrt(0.5), 2e-3);  // 2 Hz survives the block average
  EXPECT_TRUE(r.axes[0].second.dominant.empty());
  EXPECT_TRUE(r.fault);
  auto j = report_json(r, {"cloud-1", "engine-1", "eng1", ""}, FaultBand{1, 3, 0.5});
  EXPECT_FALSE(j["axes"]["x"].contains("dominant"));
  EXPECT_EQ(j["mode"], "relaxed");
  EXPECT_EQ(j["node"], "cloud-1");
  EXPECT_EQ(j["axes"]["x"]["fault_band"]["fault"], true);
}

TEST(Vibration, DecimateAveragesBlocks) {
  const std::vector<double> x{1, 3, 5, 7, 9};
  EXPECT_EQ(decimate(x, 2), (std::vector<double>{2, 6}));
  EXPECT_EQ(decimate(x, 1), x);
}

TEST(VibrationMode, FlagThenEnvironmentThenTier) {
  EXPECT_EQ(resolve_mode("relaxed", "intensive", "gateway")->mode, VibrationMode::relaxed);
  EXPECT_EQ(resolve_mode("", "relaxed", "gateway")->mode, VibrationMode::relaxed);
  EXPECT_EQ(resolve_mode("auto", "", "gateway")->mode, VibrationMode::intensive);
  EXPECT_EQ(resolve_mode("auto", "", "edge")->mode, VibrationMode::intensive);
  EXPECT_EQ(resolve_mode("auto", "", "cloud")->mode, VibrationMode::relaxed);
  EXPECT_EQ(resolve_mode("", "", "cloud")->mode, VibrationMode::relaxed);
  EXPECT_EQ(resolve_mode("", "", "")->mode, VibrationMode::intensive);
  EXPECT_EQ(resolve_mode("", "auto", "cloud")->why, "C4I_MODE auto, tier cloud");
  auto bad = resolve_mode("fast", "", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "--mode 'fast' is not intensive, relaxed or auto");
  EXPECT_FALSE(resolve_mode("auto", "", "moon").ok());
  EXPECT_FALSE(resolve_mode("", "slow", "").ok());
}

TEST(FaultBandText, ParsesLowHigh) {
  auto b = parse_fault_band("90-110.5");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->low_hz, 90);
  EXPECT_EQ(b->high_hz, 110.5);
  for (const char* bad : {"", "90", "110-90", "a-b", "90-", "-5-10", "90-110x"}) EXPECT_FALSE(parse_fault_band(bad).ok()) << bad;
}

// --- upstream ---

TEST(HttpsUrl, ParsesHostPortAndTarget) {
  auto u = parse_https_url("https://collector.example:8443/v1/points?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "collector.example");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/v1/points?x=1");
  auto d = parse_https_url("https://127.0.0.1");
  EXPECT_EQ(d->port, 443);
  EXPECT_EQ(d->target, "/");
  auto v6 = parse_https_url("https://[::1]:9443/p");
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9443);
  for (const char* bad : {"http://h/", "https://", "https://h:0/", "https://h:70000/", "https://h:/", "https://u@h/", "https://[::1/"})
    EXPECT_FALSE(parse_https_url(bad).ok()) << bad;
}

TEST(DropOldestBuffer, DropsAndCountsTheOldestWhenFull) {
  DropOldestBuffer<int> b(2);
  EXPECT_FALSE(b.push(1));
  EXPECT_FALSE(b.push(2));
  EXPECT_TRUE(b.push(3));
  EXPECT_EQ(b.dropped(), 1u);
  EXPECT_EQ(b.front(), 2);
  b.pop();
  EXPECT_EQ(b.front(), 3);
  EXPECT_EQ(b.size(), 1u);
}

}  // namespace
}  // namespace c4i::functions
