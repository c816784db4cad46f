#include "ble-reader/decoders.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

namespace c4i::reader {
namespace {

Error bad(const std::string& what) { return Error{"malformed_value", what}; }
std::uint16_t le16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>(b[at] | (b[at + 1] << 8));
}

// Howard Hinnant's civil_from_days: days since 1970-01-01 to y/m/d.
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += (m <= 2);
}

}  // namespace

// GSS 3.113: Flags (1), Heart Rate Measurement Value (uint8 or uint16),
// Energy Expended (uint16, kJ, if flags bit 3), RR-Intervals (uint16 each,
// 1/1024 s, if flags bit 4, as many as fit).
Result<HeartRateMeasurement> decode_heart_rate(std::span<const std::uint8_t> v) {
  if (v.empty()) return bad("Heart Rate Measurement is empty");
  const std::uint8_t flags = v[0];
  HeartRateMeasurement m;
  std::size_t at = 1;
  m.rate_16bit = (flags & 0x01) != 0;
  if (m.rate_16bit) {
    if (v.size() < at + 2) return bad("Heart Rate Measurement: 16-bit rate flagged but only " + std::to_string(v.size()) + " bytes");
    m.bpm = le16(v, at);
    at += 2;
  } else {
    if (v.size() < at + 1) return bad("Heart Rate Measurement: 8-bit rate missing");
    m.bpm = v[at];
    at += 1;
  }
  // Bits 1-2: Sensor Contact Status; bit 2 says the feature is supported, bit 1 that contact is detected.
  if ((flags & 0x04) == 0) m.contact = SensorContact::not_supported;
  else m.contact = (flags & 0x02) ? SensorContact::detected : SensorContact::not_detected;
  if (flags & 0x08) {
    if (v.size() < at + 2) return bad("Heart Rate Measurement: Energy Expended flagged but missing");
    m.energy_expended_kj = le16(v, at);
    at += 2;
  }
  if (flags & 0x10) {
    const std::size_t rest = v.size() - at;
    if (rest == 0 || rest % 2 != 0)
      return bad("Heart Rate Measurement: RR-Interval field of " + std::to_string(rest) + " bytes is not a non-zero even count");
    for (; at + 2 <= v.size(); at += 2) m.rr_intervals_1024.push_back(le16(v, at));
  } else if (at != v.size()) {
    return bad("Heart Rate Measurement: " + std::to_string(v.size() - at) + " trailing bytes the flags do not announce");
  }
  return m;
}

// GSS 3.27: uint8, percent, 0..100.
Result<std::uint8_t> decode_battery_level(std::span<const std::uint8_t> v) {
  if (v.size() != 1) return bad("Battery Level of " + std::to_string(v.size()) + " bytes, expected 1");
  if (v[0] > 100) return bad("Battery Level " + std::to_string(v[0]) + " is above 100 %");
  return v[0];
}

Result<std::string> decode_body_sensor_location(std::span<const std::uint8_t> v) {
  if (v.size() != 1) return bad("Body Sensor Location of " + std::to_string(v.size()) + " bytes, expected 1");
  static const char* const kNames[] = {"Other", "Chest", "Wrist", "Finger", "Hand", "Ear Lobe", "Foot"};
  if (v[0] < 7) return std::string(kNames[v[0]]);
  return "Reserved (" + std::to_string(v[0]) + ")";
}

Float11073 decode_float32(std::uint32_t raw) {
  Float11073 f;
  const std::uint32_t m = raw & 0x00FFFFFFu;
  f.exponent = static_cast<std::int8_t>(static_cast<std::uint8_t>(raw >> 24));
  f.mantissa = (m & 0x00800000u) ? static_cast<std::int32_t>(m) - 0x01000000 : static_cast<std::int32_t>(m);
  if (f.exponent == 0) {
    switch (m) {
      case 0x7FFFFF: f.kind = Float11073::Kind::nan; break;
      case 0x800000: f.kind = Float11073::Kind::nres; break;
      case 0x7FFFFE: f.kind = Float11073::Kind::positive_infinity; break;
      case 0x800002: f.kind = Float11073::Kind::negative_infinity; break;
      case 0x800001: f.kind = Float11073::Kind::reserved; break;
      default: break;
    }
  }
  return f;
}

double Float11073::value() const {
  switch (kind) {
    case Kind::number: {
      // Exact for the usual small negative exponents: divide by a power of ten.
      if (exponent < 0) return static_cast<double>(mantissa) / std::pow(10.0, -exponent);
      return static_cast<double>(mantissa) * std::pow(10.0, exponent);
    }
    case Kind::positive_infinity: return std::numeric_limits<double>::infinity();
    case Kind::negative_infinity: return -std::numeric_limits<double>::infinity();
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

std::string Float11073::special_name() const {
  switch (kind) {
    case Kind::nan: return "NaN";
    case Kind::nres: return "NRes";
    case Kind::positive_infinity: return "+INF";
    case Kind::negative_infinity: return "-INF";
    case Kind::reserved: return "reserved";
    case Kind::number: break;
  }
  return "";
}

std::string DateTime::iso8601() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04u-%02u-%02uT%02u:%02u:%02u", unsigned{year}, unsigned{month}, unsigned{day},
                unsigned{hours}, unsigned{minutes}, unsigned{seconds});
  return buf;
}

std::string temperature_type_name(std::uint8_t t) {
  static const char* const kNames[] = {"Reserved", "Armpit", "Body (general)", "Ear (usually earlobe)", "Finger",
                                       "Gastro-intestinal Tract", "Mouth", "Rectum", "Toe (usually big toe)",
                                       "Tympanum (ear drum)"};
  if (t >= 1 && t <= 9) return kNames[t];
  return "Reserved (" + std::to_string(t) + ")";
}

// GSS 3.214: Flags (1), Temperature (FLOAT, 4), Time Stamp (Date Time, 7,
// if bit 1), Temperature Type (uint8, if bit 2). Bit 0: 0 Celsius, 1 Fahrenheit.
Result<TemperatureMeasurement> decode_temperature(std::span<const std::uint8_t> v) {
  if (v.size() < 5) return bad("Temperature Measurement of " + std::to_string(v.size()) + " bytes, needs at least 5");
  const std::uint8_t flags = v[0];
  TemperatureMeasurement t;
  t.fahrenheit = (flags & 0x01) != 0;
  const std::uint32_t raw = static_cast<std::uint32_t>(v[1]) | (static_cast<std::uint32_t>(v[2]) << 8) |
                            (static_cast<std::uint32_t>(v[3]) << 16) | (static_cast<std::uint32_t>(v[4]) << 24);
  t.temperature = decode_float32(raw);
  std::size_t at = 5;
  if (flags & 0x02) {
    if (v.size() < at + 7) return bad("Temperature Measurement: Time Stamp flagged but missing");
    DateTime d;
    d.year = le16(v, at);
    d.month = v[at + 2];
    d.day = v[at + 3];
    d.hours = v[at + 4];
    d.minutes = v[at + 5];
    d.seconds = v[at + 6];
    if (d.month > 12 || d.day > 31 || d.hours > 23 || d.minutes > 59 || d.seconds > 59)
      return bad("Temperature Measurement: Time Stamp " + d.iso8601() + " is out of range");
    t.timestamp = d;
    at += 7;
  }
  if (flags & 0x04) {
    if (v.size() < at + 1) return bad("Temperature Measurement: Temperature Type flagged but missing");
    t.temperature_type = v[at];
    at += 1;
  }
  if (at != v.size())
    return bad("Temperature Measurement: " + std::to_string(v.size() - at) + " trailing bytes the flags do not announce");
  return t;
}

nlohmann::json to_json(const HeartRateMeasurement& m) {
  nlohmann::json j;
  j["type"] = "heart_rate_measurement";
  j["heart_rate_bpm"] = m.bpm;
  j["sensor_contact"] = m.contact == SensorContact::detected       ? "detected"
                        : m.contact == SensorContact::not_detected ? "not_detected"
                                                                   : "not_supported";
  if (m.energy_expended_kj) j["energy_expended_kj"] = *m.energy_expended_kj;
  if (!m.rr_intervals_1024.empty()) {
    nlohmann::json raw = nlohmann::json::array(), ms = nlohmann::json::array();
    for (auto rr : m.rr_intervals_1024) {
      raw.push_back(rr);
      ms.push_back(std::round(rr * 1000.0 / 1024.0 * 1000.0) / 1000.0);
    }
    j["rr_intervals_1024"] = raw;
    j["rr_intervals_ms"] = ms;
  }
  return j;
}

nlohmann::json to_json(const TemperatureMeasurement& m) {
  nlohmann::json j;
  j["type"] = "temperature_measurement";
  if (m.temperature.kind == Float11073::Kind::number) j["temperature"] = m.temperature.value();
  else {
    j["temperature"] = nullptr;
    j["special"] = m.temperature.special_name();
  }
  j["unit"] = m.fahrenheit ? "Fahrenheit" : "Celsius";
  if (m.timestamp) j["time_stamp"] = m.timestamp->iso8601();
  if (m.temperature_type) j["temperature_type"] = temperature_type_name(*m.temperature_type);
  return j;
}

nlohmann::json decode(const Uuid& uuid, std::span<const std::uint8_t> v) {
  const auto u16 = uuid.as16();
  auto failed = [&](const Error& e) { return nlohmann::json{{"error", e.message}, {"hex", to_hex(v)}}; };
  if (u16 == kHeartRateMeasurement) {
    auto m = decode_heart_rate(v);
    return m ? to_json(*m) : failed(m.error());
  }
  if (u16 == kBatteryLevel) {
    auto b = decode_battery_level(v);
    if (!b) return failed(b.error());
    return nlohmann::json{{"type", "battery_level"}, {"battery_level_percent", *b}};
  }
  if (u16 == kTemperatureMeasurement) {
    auto t = decode_temperature(v);
    return t ? to_json(*t) : failed(t.error());
  }
  if (u16 == kBodySensorLocation) {
    auto l = decode_body_sensor_location(v);
    if (!l) return failed(l.error());
    return nlohmann::json{{"type", "body_sensor_location"}, {"location", *l}};
  }
  return nlohmann::json{{"hex", to_hex(v)}};
}

nlohmann::json omh_heart_rate_body(const HeartRateMeasurement& m, std::int64_t unix_us) {
  return nlohmann::json{{"heart_rate", {{"value", m.bpm}, {"unit", "beats/min"}}},
                        {"effective_time_frame", {{"date_time", iso8601_utc(unix_us)}}}};
}

void append_hex(std::string& out, std::span<const std::uint8_t> v) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + 2 * v.size());
  for (auto b : v) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
}

std::string to_hex(std::span<const std::uint8_t> v) {
  std::string s;
  append_hex(s, v);
  return s;
}

std::string iso8601_utc(std::int64_t unix_us) {
  std::int64_t ms = unix_us >= 0 ? unix_us / 1000 : (unix_us - 999) / 1000;
  std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const int msec = static_cast<int>(ms - secs * 1000);
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const std::int64_t sod = secs - days * 86400;
  std::int64_t y;
  unsigned mo, d;
  civil_from_days(days, y, mo, d);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<long long>(y), mo, d,
                static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60), msec);
  return buf;
}

}  // namespace c4i::reader
