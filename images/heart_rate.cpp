#include "images/heart_rate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace c4i::functions {

HeartRateVariability heart_rate_variability(std::span<const double> rr_ms) {
  HeartRateVariability h;
  std::vector<double> rr;
  rr.reserve(rr_ms.size());
  for (double v : rr_ms) {
    if (v >= kMinRrMs && v <= kMaxRrMs) rr.push_back(v);
    else ++h.rr_rejected;
  }
  h.rr_count = rr.size();
  if (rr.size() < 2) return h;
  double sum_sq_diff = 0;
  for (std::size_t i = 1; i < rr.size(); ++i) sum_sq_diff += (rr[i] - rr[i - 1]) * (rr[i] - rr[i - 1]);
  h.rmssd_ms = std::sqrt(sum_sq_diff / static_cast<double>(rr.size() - 1));
  double mean = 0;
  for (double v : rr) mean += v;
  mean /= static_cast<double>(rr.size());
  double ss = 0;
  for (double v : rr) ss += (v - mean) * (v - mean);
  h.sdnn_ms = std::sqrt(ss / static_cast<double>(rr.size() - 1));
  return h;
}

HeartRateSummary consolidate(const ClosedWindow<HeartRateSample>& w) {
  HeartRateSummary s;
  s.start_s = w.start_s;
  s.end_s = w.end_s;
  s.by_wall_clock = w.by_wall_clock;
  s.sample_count = w.samples.size();
  if (w.samples.empty()) return s;
  s.min_bpm = s.max_bpm = w.samples.front().bpm;
  double sum = 0;
  std::vector<double> rr;
  for (const auto& x : w.samples) {
    s.min_bpm = std::min(s.min_bpm, x.bpm);
    s.max_bpm = std::max(s.max_bpm, x.bpm);
    sum += x.bpm;
    rr.insert(rr.end(), x.rr_ms.begin(), x.rr_ms.end());
  }
  s.mean_bpm = sum / static_cast<double>(w.samples.size());
  if (!rr.empty()) s.hrv = heart_rate_variability(rr);
  return s;
}

std::string uuid_v4(std::array<std::uint8_t, 16> b) {
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);  // variant 10x
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

namespace {
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }
nlohmann::json unit_value(double v, const char* unit) { return {{"value", round3(v)}, {"unit", unit}}; }
}  // namespace

nlohmann::json make_heart_rate_data_point(const HeartRateSummary& s, const FunctionIdentity& who, const std::string& id,
                                          double creation_s) {
  nlohmann::json consolidation{{"sample_count", s.sample_count},
                               {"minimum", unit_value(s.min_bpm, "beats/min")},
                               {"maximum", unit_value(s.max_bpm, "beats/min")},
                               {"closed_by", s.by_wall_clock ? "wall_clock" : "sample_time"}};
  if (s.hrv) {
    nlohmann::json h{{"rr_interval_count", s.hrv->rr_count}, {"rr_intervals_rejected", s.hrv->rr_rejected}};
    if (s.hrv->rmssd_ms) h["rmssd"] = unit_value(*s.hrv->rmssd_ms, "ms");
    if (s.hrv->sdnn_ms) h["sdnn"] = unit_value(*s.hrv->sdnn_ms, "ms");
    consolidation["heart_rate_variability"] = std::move(h);
  }
  std::string source = "cloud4iot c4i-fn-omh";
  if (!who.device.empty()) source += " device " + who.device;
  if (!who.node.empty()) source += " on " + who.node;
  nlohmann::json header{
      {"id", id},
      {"creation_date_time", format_rfc3339(creation_s)},
      {"schema_id", {{"namespace", "omh"}, {"name", "heart-rate"}, {"version", "2.0"}}},
      {"acquisition_provenance",
       {{"source_name", source}, {"source_creation_date_time", format_rfc3339(s.end_s)}, {"modality", "sensed"}}},
      {"cloud4iot", {{"node", who.node}, {"function", who.function}, {"device", who.device}}}};
  if (!who.device_addr.empty()) header["cloud4iot"]["device_addr"] = who.device_addr;
  nlohmann::json body{
      {"heart_rate", unit_value(s.mean_bpm, "beats/min")},
      {"descriptive_statistic", "average"},
      {"effective_time_frame",
       {{"time_interval", {{"start_date_time", format_rfc3339(s.start_s)}, {"end_date_time", format_rfc3339(s.end_s)}}}}},
      {"consolidation", std::move(consolidation)}};
  return {{"header", std::move(header)}, {"body", std::move(body)}};
}

}  // namespace c4i::functions
