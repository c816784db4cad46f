// Fuzzes the characteristic decoders: the first byte picks the characteristic.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ble-reader/decoders.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace c4i::reader;
  if (size == 0) return 0;
  static const std::uint16_t kUuids[] = {kHeartRateMeasurement, kBatteryLevel, kTemperatureMeasurement,
                                         kBodySensorLocation, 0xFFF4};
  std::span<const std::uint8_t> v(data + 1, size - 1);
  const auto uuid = Uuid::from16(kUuids[data[0] % 5]);
  (void)decode(uuid, v).dump();
  if (auto hr = decode_heart_rate(v)) (void)omh_heart_rate_body(*hr, static_cast<std::int64_t>(size) * 1'000'003).dump();
  (void)decode_temperature(v);
  (void)decode_battery_level(v);
  if (v.size() >= 4) {
    const std::uint32_t raw = v[0] | (v[1] << 8) | (v[2] << 16) | (static_cast<std::uint32_t>(v[3]) << 24);
    auto f = decode_float32(raw);
    (void)f.value();
    (void)f.special_name();
  }
  if (v.size() >= 8) {
    std::int64_t us = 0;
    for (int i = 0; i < 8; ++i) us = (us << 8) | v[i];
    // Any 64-bit time formats without overflow in the date arithmetic: bound to +-10^4 years.
    us %= 315'569'520'000'000'000;
    (void)iso8601_utc(us);
  }
  return 0;
}
