// Heart-rate consolidation (the eHealth use case): one window of Open mHealth
// heart-rate samples becomes one Open mHealth data point with the window's
// minimum, mean and maximum and, when the device sent RR intervals, the
// RR-derived heart-rate variability (RMSSD, SDNN). Pure: ids and clocks are
// arguments.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "images/samples.hpp"
#include "images/window.hpp"

namespace c4i::functions {

// RR intervals outside this range are artefacts (missed or extra beats) and
// are left out of the HRV (physiological 24..240 beats/min).
inline constexpr double kMinRrMs = 250.0;
inline constexpr double kMaxRrMs = 2500.0;

struct HeartRateVariability {
  std::size_t rr_count = 0;      // intervals used
  std::size_t rr_rejected = 0;   // intervals outside [kMinRrMs, kMaxRrMs]
  std::optional<double> rmssd_ms;  // root mean square of successive differences (>= 2 intervals)
  std::optional<double> sdnn_ms;   // sample standard deviation of the intervals (>= 2 intervals)
};
HeartRateVariability heart_rate_variability(std::span<const double> rr_ms);

struct HeartRateSummary {
  double start_s = 0, end_s = 0;  // the window, Unix seconds
  bool by_wall_clock = false;
  std::size_t sample_count = 0;
  double min_bpm = 0, mean_bpm = 0, max_bpm = 0;
  std::optional<HeartRateVariability> hrv;  // present when the window had RR intervals
};
// A window with at least one sample.
HeartRateSummary consolidate(const ClosedWindow<HeartRateSample>& window);

// Who made the data point: the function's identity from its environment.
struct FunctionIdentity {
  std::string node;      // C4I_NODE
  std::string function;  // C4I_FUNCTION
  std::string device;    // C4I_DEVICE
  std::string device_addr;  // C4I_DEVICE_ADDR
};

// An RFC 4122 version 4 UUID from 16 random bytes (RFC 4122, 4.4).
std::string uuid_v4(std::array<std::uint8_t, 16> random);

// The consolidated data point (data-point-1.0 with header-1.x; body
// omh:heart-rate:2.0). Body: "heart_rate" is the window's mean with
// "descriptive_statistic": "average" over "effective_time_frame.time_interval";
// the rest sits in the body's "consolidation" object (allowed by the schema,
// which does not close its properties):
//   {"sample_count", "minimum": {value, unit}, "maximum": {value, unit},
//    "closed_by": "sample_time"|"wall_clock",
//    "heart_rate_variability": {"rr_interval_count", "rr_intervals_rejected",
//      "rmssd": {value, "unit": "ms"}, "sdnn": {value, "unit": "ms"}}}
nlohmann::json make_heart_rate_data_point(const HeartRateSummary& summary, const FunctionIdentity& who,
                                          const std::string& id, double creation_s);

}  // namespace c4i::functions
