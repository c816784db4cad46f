// The sample lines the IoT functions read from the BLE reader (one JSON object
// per line) and the RFC 3339 timestamps they carry. Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace c4i::functions {

// Longest line a function accepts; a longer one is a malformed sample.
inline constexpr std::size_t kMaxSampleLineBytes = 64 * 1024;

// RFC 3339 date-time ("2026-11-23T12:00:00Z", "...T12:00:00.250+01:00") to
// seconds since the Unix epoch. Leap seconds (":60") are refused.
Result<double> parse_rfc3339(std::string_view text);
// Seconds since the epoch to "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds).
std::string format_rfc3339(double unix_s);

// One heart-rate measurement.
struct HeartRateSample {
  double t_s = 0;                  // effective time, Unix seconds
  double bpm = 0;                  // beats/min
  std::vector<double> rr_ms;       // RR intervals, milliseconds, in order
};

// What a line is: a heart-rate sample, a line of another kind that the
// function does not consume (a battery level from the same reader), or an error.
struct HeartRateLine {
  std::optional<HeartRateSample> sample;  // empty: a valid line without heart rate
};

// Accepts, in order of preference:
//  - an Open mHealth heart-rate body: {"heart_rate":{"value":72,"unit":"beats/min"},
//    "effective_time_frame":{"date_time":"..."} | {"time_interval":{"start_date_time":...}}}
//  - an Open mHealth data point {"header":{...},"body":<that body>}
//  - the reader's jsonl line {"t":"...","decoded":{"type":"heart_rate_measurement",
//    "heart_rate_bpm":72,"rr_intervals_ms":[...]}, "omh":<body>} (other decoded
//    types are valid lines without a sample)
// RR intervals are read from "rr_intervals_ms" (ms) or "rr_intervals_1024"
// (1/1024 s units, Heart Rate Service v1.0, 3.1.1.5) at the top, in the body or
// in "decoded". Error code "malformed_sample" with one line saying why.
Result<HeartRateLine> parse_heart_rate_line(std::string_view line);

// One accelerometer sample. Three-axis {"t":0.001,"x":..,"y":..,"z":..} or
// single-axis {"t":0.001,"a":..}; t in seconds (any epoch, increasing), the
// accelerations in any one unit (the features keep it: m/s^2 in, m/s^2 out).
struct AccelSample {
  double t_s = 0;
  int axes = 3;        // 3: x, y, z; 1: a (stored in x)
  double x = 0, y = 0, z = 0;
};
Result<AccelSample> parse_accel_line(std::string_view line);

}  // namespace c4i::functions
