#include "images/samples.hpp"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace c4i::functions {
namespace {

using nlohmann::json;

// A bound on sample times so that window arithmetic stays exact in a double.
constexpr double kMaxAccelTimeS = 1e10;

Error malformed(std::string what) { return Error{"malformed_sample", std::move(what)}; }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Reads exactly n digits at `at`; false when they are not all there.
bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// A finite JSON number, or nullopt.
std::optional<double> number(const json& j) {
  if (!j.is_number()) return std::nullopt;
  const double v = j.get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// RR intervals of `obj` (ms or 1/1024 s), appended; an error when present but malformed.
Status read_rr(const json& obj, std::vector<double>& rr_ms, bool& found) {
  const json* ms = member(obj, "rr_intervals_ms");
  const json* raw = member(obj, "rr_intervals_1024");
  const json* list = ms ? ms : raw;
  if (!list) return ok_status();
  if (!list->is_array()) return malformed(std::string(ms ? "rr_intervals_ms" : "rr_intervals_1024") + " is not an array");
  if (list->size() > 64) return malformed("more than 64 RR intervals in one sample");
  std::vector<double> out;
  for (const auto& v : *list) {
    auto n = number(v);
    if (!n || *n <= 0) return malformed("an RR interval is not a positive number");
    // Heart Rate Service v1.0, 3.1.1.5: RR-Interval in 1/1024 s.
    out.push_back(ms ? *n : *n * 1000.0 / 1024.0);
  }
  rr_ms.insert(rr_ms.end(), out.begin(), out.end());
  found = true;
  return ok_status();
}

Result<double> time_frame_start(const json& tf) {
  if (const json* dt = member(tf, "date_time")) {
    if (!dt->is_string()) return malformed("effective_time_frame.date_time is not a string");
    return parse_rfc3339(dt->get_ref<const std::string&>());
  }
  if (const json* ti = member(tf, "time_interval")) {
    const json* start = member(*ti, "start_date_time");
    const json* end = member(*ti, "end_date_time");
    const json* use = start ? start : end;
    if (!use || !use->is_string()) return malformed("effective_time_frame.time_interval has no start_date_time or end_date_time");
    return parse_rfc3339(use->get_ref<const std::string&>());
  }
  return malformed("effective_time_frame has neither date_time nor time_interval");
}

// An Open mHealth heart-rate body (schema omh:heart-rate:2.0).
Result<HeartRateSample> from_omh_body(const json& body) {
  const json* hr = member(body, "heart_rate");
  if (!hr || !hr->is_object()) return malformed("heart_rate is missing or not an object");
  const json* unit = member(*hr, "unit");
  if (!unit || !unit->is_string() || unit->get_ref<const std::string&>() != "beats/min")
    return malformed("heart_rate.unit is not \"beats/min\"");
  const json* value = member(*hr, "value");
  auto bpm = value ? number(*value) : std::nullopt;
  if (!bpm || *bpm < 0 || *bpm > 1000) return malformed("heart_rate.value is not a number in [0, 1000]");
  const json* tf = member(body, "effective_time_frame");
  if (!tf || !tf->is_object()) return malformed("effective_time_frame is missing or not an object");
  auto t = time_frame_start(*tf);
  if (!t) return t.error();
  HeartRateSample s;
  s.t_s = *t;
  s.bpm = *bpm;
  bool found = false;
  if (auto st = read_rr(body, s.rr_ms, found); !st) return st.error();
  return s;
}

}  // namespace

Result<double> parse_rfc3339(std::string_view s) {
  auto bad = [&] {
    std::string what = "'";  // built with append: GCC 12 -O3 warns falsely (-Wrestrict) on "lit" + string
    what.append(s.substr(0, 64)).append("' is not an RFC 3339 date-time");
    return malformed(std::move(what));
  };
  int y, mo, d, h, mi, se;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' || !digits(s, 8, 2, d) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) ||
      s[16] != ':' || !digits(s, 17, 2, se))
    return bad();
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] + (mo == 2 && leap(y) ? 1 : 0) || h > 23 || mi > 59 || se > 59)
    return bad();
  std::size_t at = 19;
  double frac = 0;
  if (at < s.size() && s[at] == '.') {
    ++at;
    double scale = 0.1;
    const std::size_t from = at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
      frac += (s[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == from) return bad();
  }
  int offset_s = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    int oh, om;
    if (!digits(s, at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' || !digits(s, at + 4, 2, om) || oh > 23 || om > 59)
      return bad();
    offset_s = (oh * 3600 + om * 60) * (s[at] == '-' ? -1 : 1);
    at += 6;
  } else {
    return bad();
  }
  if (at != s.size()) return bad();
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return static_cast<double>(days * 86400 + h * 3600 + mi * 60 + se - offset_s) + frac;
}

std::string format_rfc3339(double unix_s) {
  auto ms_total = static_cast<std::int64_t>(std::floor(unix_s * 1000.0 + 0.5));
  std::int64_t secs = ms_total >= 0 ? ms_total / 1000 : (ms_total - 999) / 1000;
  const int ms = static_cast<int>(ms_total - secs * 1000);
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const std::int64_t rem = secs - days * 86400;
  // civil_from_days (H. Hinnant).
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<long long>(y), m, d,
                static_cast<int>(rem / 3600), static_cast<int>(rem % 3600 / 60), static_cast<int>(rem % 60), ms);
  return buf;
}

Result<HeartRateLine> parse_heart_rate_line(std::string_view line) {
  if (line.size() > kMaxSampleLineBytes) return malformed("line longer than 65536 bytes");
  json j = json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) return malformed("not JSON");
  if (!j.is_object()) return malformed("not a JSON object");

  // An Open mHealth data point: the body carries the measurement.
  if (const json* body = member(j, "body")) {
    if (const json* header = member(j, "header"); header && header->is_object()) {
      const json* sid = member(*header, "schema_id");
      const json* name = sid ? member(*sid, "name") : nullptr;
      if (name && (!name->is_string() || name->get_ref<const std::string&>() != "heart-rate")) return HeartRateLine{};
    }
    auto s = from_omh_body(*body);
    if (!s) return s.error();
    bool found = false;
    if (auto st = read_rr(j, s->rr_ms, found); !st) return st.error();
    return HeartRateLine{std::move(*s)};
  }
  // A bare Open mHealth body.
  if (member(j, "heart_rate")) {
    auto s = from_omh_body(j);
    if (!s) return s.error();
    return HeartRateLine{std::move(*s)};
  }
  // The reader's jsonl line.
  if (const json* decoded = member(j, "decoded")) {
    const json* type = member(*decoded, "type");
    if (!type || !type->is_string() || type->get_ref<const std::string&>() != "heart_rate_measurement")
      return HeartRateLine{};
    HeartRateSample s;
    if (const json* omh = member(j, "omh")) {
      auto b = from_omh_body(*omh);
      if (!b) return b.error();
      s = std::move(*b);
    } else {
      const json* bpm = member(*decoded, "heart_rate_bpm");
      auto v = bpm ? number(*bpm) : std::nullopt;
      if (!v || *v < 0 || *v > 1000) return malformed("decoded.heart_rate_bpm is not a number in [0, 1000]");
      const json* t = member(j, "t");
      if (!t || !t->is_string()) return malformed("t is missing or not a string");
      auto ts = parse_rfc3339(t->get_ref<const std::string&>());
      if (!ts) return ts.error();
      s.t_s = *ts;
      s.bpm = *v;
    }
    if (s.rr_ms.empty()) {
      bool found = false;
      if (auto st = read_rr(*decoded, s.rr_ms, found); !st) return st.error();
    }
    return HeartRateLine{std::move(s)};
  }
  return malformed("neither an Open mHealth heart-rate body or data point nor a reader line");
}

Result<AccelSample> parse_accel_line(std::string_view line) {
  if (line.size() > kMaxSampleLineBytes) return malformed("line longer than 65536 bytes");
  json j = json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) return malformed("not JSON");
  if (!j.is_object()) return malformed("not a JSON object");
  const json* t = member(j, "t");
  auto ts = t ? number(*t) : std::nullopt;
  if (!ts) return malformed("t is missing or not a finite number (seconds)");
  if (std::fabs(*ts) > kMaxAccelTimeS) return malformed("t is beyond 1e10 s");
  AccelSample s;
  s.t_s = *ts;
  if (const json* a = member(j, "a")) {
    auto v = number(*a);
    if (!v) return malformed("a is not a finite number");
    s.axes = 1;
    s.x = *v;
    return s;
  }
  const char* names[] = {"x", "y", "z"};
  double* slots[] = {&s.x, &s.y, &s.z};
  for (int i = 0; i < 3; ++i) {
    const json* v = member(j, names[i]);
    auto n = v ? number(*v) : std::nullopt;
    if (!n) return malformed(std::string(names[i]) + " is missing or not a finite number (or give a single axis as \"a\")");
    *slots[i] = *n;
  }
  return s;
}

}  // namespace c4i::functions
