#include "ble-reader/decoders.hpp"

#include <cmath>

#include <gtest/gtest.h>

namespace c4i::reader {
namespace {

using B = std::vector<std::uint8_t>;

// Heart Rate Service / GSS 3.113 Flags table: the four Sensor Contact values
// (0 and 1: not supported, 2: supported, not detected, 3: detected).
TEST(HeartRateDecoder, SensorContactStatusFollowsTheSpecTable) {
  EXPECT_EQ(decode_heart_rate(B{0x00, 60})->contact, SensorContact::not_supported);
  EXPECT_EQ(decode_heart_rate(B{0x02, 60})->contact, SensorContact::not_supported);
  EXPECT_EQ(decode_heart_rate(B{0x04, 60})->contact, SensorContact::not_detected);
  EXPECT_EQ(decode_heart_rate(B{0x06, 60})->contact, SensorContact::detected);
}

// Flags 0x16 (UINT8, contact detected, RR present): 0x16 0x4D 0x16 0x03 is
// 77 bpm and one RR interval of 0x0316 = 790/1024 s (LSO first).
TEST(HeartRateDecoder, EightBitRateWithRrInterval) {
  auto m = decode_heart_rate(B{0x16, 0x4D, 0x16, 0x03});
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->bpm, 77);
  EXPECT_FALSE(m->rate_16bit);
  EXPECT_EQ(m->contact, SensorContact::detected);
  ASSERT_EQ(m->rr_intervals_1024, (std::vector<std::uint16_t>{790}));
  auto j = to_json(*m);
  EXPECT_DOUBLE_EQ(j["rr_intervals_ms"][0].get<double>(), 771.484);
}

// Bit 0 set: UINT16 rate; bit 3: Energy Expended (kJ); bit 4: several RR values, oldest first.
TEST(HeartRateDecoder, SixteenBitRateEnergyAndSeveralRrIntervals) {
  auto m = decode_heart_rate(B{0x19, 0x2C, 0x01, 0xE8, 0x03, 0x00, 0x02, 0x00, 0x04});
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->bpm, 300);
  EXPECT_TRUE(m->rate_16bit);
  EXPECT_EQ(m->energy_expended_kj, 1000);
  EXPECT_EQ(m->rr_intervals_1024, (std::vector<std::uint16_t>{512, 1024}));
}

TEST(HeartRateDecoder, RejectsTruncatedOrInconsistentValues) {
  EXPECT_FALSE(decode_heart_rate(B{}));
  EXPECT_FALSE(decode_heart_rate(B{0x00}));
  EXPECT_FALSE(decode_heart_rate(B{0x01, 0x48}));            // 16-bit rate cut short
  EXPECT_FALSE(decode_heart_rate(B{0x08, 0x48, 0x01}));      // energy cut short
  EXPECT_FALSE(decode_heart_rate(B{0x10, 0x48}));            // RR flagged, none present
  EXPECT_FALSE(decode_heart_rate(B{0x10, 0x48, 0x01}));      // odd RR bytes
  EXPECT_FALSE(decode_heart_rate(B{0x00, 0x48, 0x01}));      // trailing byte
}

TEST(HeartRateDecoder, OpenMHealthBodyHasValueUnitAndTimeFrame) {
  auto m = decode_heart_rate(B{0x06, 72});
  ASSERT_TRUE(m);
  auto body = omh_heart_rate_body(*m, 1'763'899'200'123'456);  // 2025-11-23T12:00:00.123456Z
  EXPECT_EQ(body.dump(),
            R"({"effective_time_frame":{"date_time":"2025-11-23T12:00:00.123Z"},"heart_rate":{"unit":"beats/min","value":72}})");
}

// GSS 3.27: uint8 percentage, 0..100.
TEST(BatteryLevelDecoder, PercentInRange) {
  EXPECT_EQ(*decode_battery_level(B{0x64}), 100);
  EXPECT_EQ(*decode_battery_level(B{0x00}), 0);
  EXPECT_FALSE(decode_battery_level(B{0x65}));
  EXPECT_FALSE(decode_battery_level(B{}));
  EXPECT_FALSE(decode_battery_level(B{1, 2}));
  EXPECT_EQ(decode(Uuid::from16(0x2A19), B{0x5F})["battery_level_percent"], 95);
}

// IEEE 11073-20601 FLOAT: exponent in the top byte, 24-bit two's complement mantissa.
TEST(Ieee11073Float, NumbersFromTheStandardsExamples) {
  // 36.4: mantissa 364 (0x00016C), exponent -1 (0xFF).
  auto f = decode_float32(0xFF00016C);
  EXPECT_EQ(f.kind, Float11073::Kind::number);
  EXPECT_EQ(f.mantissa, 364);
  EXPECT_EQ(f.exponent, -1);
  EXPECT_DOUBLE_EQ(f.value(), 36.4);
  // 98.6 F: 986 * 10^-1.
  EXPECT_DOUBLE_EQ(decode_float32(0xFF0003DA).value(), 98.6);
  // Negative mantissa: -12.5 = -125 * 10^-1 (0xFFFF83).
  EXPECT_DOUBLE_EQ(decode_float32(0xFFFFFF83).value(), -12.5);
  // Positive exponent: 5 * 10^2.
  EXPECT_DOUBLE_EQ(decode_float32(0x02000005).value(), 500.0);
  EXPECT_DOUBLE_EQ(decode_float32(0x00000000).value(), 0.0);
}

// The FLOAT encoding table of the HL7 Personal Health Device IG ("Mder FLOATs
// and SFLOATs", the Bluetooth GHS/PHD transcoding of IEEE 11073-20601): the
// exponent carries the precision, so 2, 2.0 and 2.00 differ only in it.
TEST(Ieee11073Float, PhdTranscodingTable) {
  struct Row {
    std::uint32_t raw;
    int exponent;
    int mantissa;
    double value;
  };
  const Row rows[] = {{0x00000002, 0, 2, 2},      {0xFF000014, -1, 20, 2.0},    {0xFE0000C8, -2, 200, 2.00},
                      {0x01000002, 1, 2, 20},     {0x02000002, 2, 2, 200},      {0x000000C8, 0, 200, 200},
                      {0x000004D2, 0, 1234, 1234}, {0x00FFFB2E, 0, -1234, -1234}};
  for (const auto& r : rows) {
    auto f = decode_float32(r.raw);
    EXPECT_EQ(f.kind, Float11073::Kind::number) << std::hex << r.raw;
    EXPECT_EQ(f.exponent, r.exponent) << std::hex << r.raw;
    EXPECT_EQ(f.mantissa, r.mantissa) << std::hex << r.raw;
    EXPECT_DOUBLE_EQ(f.value(), r.value) << std::hex << r.raw;
  }
}

TEST(Ieee11073Float, SpecialValues) {
  EXPECT_EQ(decode_float32(0x007FFFFF).kind, Float11073::Kind::nan);
  EXPECT_EQ(decode_float32(0x00800000).kind, Float11073::Kind::nres);
  EXPECT_EQ(decode_float32(0x007FFFFE).kind, Float11073::Kind::positive_infinity);
  EXPECT_EQ(decode_float32(0x00800002).kind, Float11073::Kind::negative_infinity);
  EXPECT_EQ(decode_float32(0x00800001).kind, Float11073::Kind::reserved);
  EXPECT_TRUE(std::isnan(decode_float32(0x007FFFFF).value()));
  EXPECT_TRUE(std::isinf(decode_float32(0x007FFFFE).value()));
  EXPECT_LT(decode_float32(0x00800002).value(), 0);
  // The same mantissa with a non-zero exponent is an ordinary number.
  EXPECT_EQ(decode_float32(0x017FFFFF).kind, Float11073::Kind::number);
}

// GSS 3.214: flags 0x06 = Celsius, Time Stamp present, Temperature Type present.
TEST(TemperatureDecoder, CelsiusWithTimestampAndType) {
  B v{0x06, 0x6C, 0x01, 0x00, 0xFF, 0xE2, 0x07, 0x03, 0x0F, 0x0B, 0x1E, 0x2D, 0x02};
  auto t = decode_temperature(v);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_FALSE(t->fahrenheit);
  EXPECT_DOUBLE_EQ(t->temperature.value(), 36.4);
  ASSERT_TRUE(t->timestamp);
  EXPECT_EQ(t->timestamp->iso8601(), "2018-03-15T11:30:45");
  EXPECT_EQ(t->temperature_type, 2);
  auto j = decode(Uuid::from16(0x2A1C), v);
  EXPECT_EQ(j["unit"], "Celsius");
  EXPECT_EQ(j["temperature_type"], "Body (general)");
}

TEST(TemperatureDecoder, FahrenheitAndSpecialValue) {
  auto t = decode_temperature(B{0x01, 0xDA, 0x03, 0x00, 0xFF});
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->fahrenheit);
  EXPECT_DOUBLE_EQ(t->temperature.value(), 98.6);
  auto j = decode(Uuid::from16(0x2A1C), B{0x00, 0xFF, 0xFF, 0x7F, 0x00});
  EXPECT_TRUE(j["temperature"].is_null());
  EXPECT_EQ(j["special"], "NaN");
}

TEST(TemperatureDecoder, RejectsMissingFields) {
  EXPECT_FALSE(decode_temperature(B{0x00, 0x6C, 0x01, 0x00}));
  EXPECT_FALSE(decode_temperature(B{0x02, 0x6C, 0x01, 0x00, 0xFF, 0xE2, 0x07}));
  EXPECT_FALSE(decode_temperature(B{0x04, 0x6C, 0x01, 0x00, 0xFF}));
  EXPECT_FALSE(decode_temperature(B{0x00, 0x6C, 0x01, 0x00, 0xFF, 0x00}));
  EXPECT_FALSE(decode_temperature(B{0x02, 0x6C, 0x01, 0x00, 0xFF, 0xE2, 0x07, 13, 1, 0, 0, 0}));
}

TEST(Decode, UnknownCharacteristicsPassThroughAsHexAndBadKnownOnesSayWhy) {
  auto j = decode(Uuid::from16(0xFFF4), B{0xAB, 0x01});
  EXPECT_EQ(j.dump(), R"({"hex":"ab01"})");
  auto bad = decode(Uuid::from16(0x2A37), B{0x01, 0x48});
  EXPECT_EQ(bad["hex"], "0148");
  EXPECT_NE(bad["error"].get<std::string>().find("16-bit"), std::string::npos);
  EXPECT_EQ(decode(Uuid::from16(0x2A38), B{0x01})["location"], "Chest");
}

TEST(Time, Iso8601UtcIsMillisecondExact) {
  EXPECT_EQ(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601_utc(951'782'400'999'999), "2000-02-29T00:00:00.999Z");
  EXPECT_EQ(iso8601_utc(-1'000), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace c4i::reader
