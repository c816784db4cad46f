// Decoders for the standard characteristics the reader understands (GATT
// Specification Supplement v8: 3.113 Heart Rate Measurement, 3.27 Battery
// Level, 3.214 Temperature Measurement, 3.19 Body Sensor Location), the
// IEEE 11073-20601 FLOAT they use, and the Open mHealth heart-rate body.
// Pure: bytes and time in, values and JSON out; every length checked.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ble-reader/uuid.hpp"
#include "common/result.hpp"

namespace c4i::reader {

inline constexpr std::uint16_t kHeartRateService = 0x180D;
inline constexpr std::uint16_t kBatteryService = 0x180F;
inline constexpr std::uint16_t kHealthThermometerService = 0x1809;
inline constexpr std::uint16_t kHeartRateMeasurement = 0x2A37;
inline constexpr std::uint16_t kBodySensorLocation = 0x2A38;
inline constexpr std::uint16_t kBatteryLevel = 0x2A19;
inline constexpr std::uint16_t kTemperatureMeasurement = 0x2A1C;

enum class SensorContact { not_supported, not_detected, detected };

struct HeartRateMeasurement {
  std::uint16_t bpm = 0;
  bool rate_16bit = false;
  SensorContact contact = SensorContact::not_supported;
  std::optional<std::uint16_t> energy_expended_kj;
  std::vector<std::uint16_t> rr_intervals_1024;  // units of 1/1024 s
};
Result<HeartRateMeasurement> decode_heart_rate(std::span<const std::uint8_t> v);

// 0..100 %; larger values are an error.
Result<std::uint8_t> decode_battery_level(std::span<const std::uint8_t> v);

// "Chest", "Wrist", ... (GSS 3.19); "Reserved (n)" beyond.
Result<std::string> decode_body_sensor_location(std::span<const std::uint8_t> v);

// IEEE 11073-20601 FLOAT-Type (32 bits): 8-bit signed exponent, 24-bit signed
// mantissa, value = mantissa * 10^exponent; with exponent 0 the mantissas
// 0x7FFFFF (NaN), 0x800000 (NRes), 0x7FFFFE (+INF), 0x800002 (-INF) and
// 0x800001 (reserved) are special values.
struct Float11073 {
  enum class Kind { number, nan, nres, positive_infinity, negative_infinity, reserved };
  Kind kind = Kind::number;
  std::int32_t mantissa = 0;
  std::int8_t exponent = 0;
  double value() const;                  // NaN for the special values
  std::string special_name() const;      // "NaN", "NRes", "+INF", "-INF", "reserved"
};
Float11073 decode_float32(std::uint32_t raw);

struct DateTime {  // GSS 3.70 Date Time
  std::uint16_t year = 0;  // 0: not known
  std::uint8_t month = 0, day = 0, hours = 0, minutes = 0, seconds = 0;
  std::string iso8601() const;  // "2026-11-23T12:00:00" (local time of the device, no zone)
};

struct TemperatureMeasurement {
  Float11073 temperature;
  bool fahrenheit = false;
  std::optional<DateTime> timestamp;
  std::optional<std::uint8_t> temperature_type;  // GSS 3.216
};
Result<TemperatureMeasurement> decode_temperature(std::span<const std::uint8_t> v);
std::string temperature_type_name(std::uint8_t t);

// {"heart_rate_bpm":..} etc.; for a UUID without a decoder {"hex":...}; when a
// known characteristic fails to decode {"error":"...","hex":...}.
nlohmann::json decode(const Uuid& uuid, std::span<const std::uint8_t> v);
nlohmann::json to_json(const HeartRateMeasurement& m);
nlohmann::json to_json(const TemperatureMeasurement& m);

// Open mHealth heart-rate 2.0 body (schema omh:heart-rate:2.0):
// {"heart_rate":{"value":72,"unit":"beats/min"},"effective_time_frame":{"date_time":"...Z"}}
nlohmann::json omh_heart_rate_body(const HeartRateMeasurement& m, std::int64_t unix_us);

// Lowercase hex without separators.
std::string to_hex(std::span<const std::uint8_t> v);
void append_hex(std::string& out, std::span<const std::uint8_t> v);
// "2026-11-23T12:00:00.123Z" (milliseconds, UTC).
std::string iso8601_utc(std::int64_t unix_us);

}  // namespace c4i::reader
