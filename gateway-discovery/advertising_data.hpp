// Advertising data decoder (Core Specification Supplement v11, Part A, 1;
// the AD structure format is Core v5.3, Vol 3, Part C, 11): a sequence of
// Length | AD_Type | data structures. Pure. A structure whose length runs
// past the buffer, or whose data does not fit its type, is skipped and
// counted in `malformed`; the decoder never reads outside the buffer.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace c4i::discovery {

// A service UUID as advertised: 2, 4 or 16 bytes, kept little-endian as on air.
struct Uuid {
  std::uint8_t size = 0;  // 2, 4 or 16
  std::array<std::uint8_t, 16> le{};

  static Uuid from_le(std::span<const std::uint8_t> bytes);  // size 2, 4 or 16
  // "180d" (16-bit), "0000180d" style 8 hex digits (32-bit), or the canonical
  // 128-bit form "0000180d-0000-1000-8000-00805f9b34fb"; lowercase.
  std::string str() const;
  void append_to(std::string& out) const;
  // The 128-bit form (16- and 32-bit UUIDs expanded over the Bluetooth Base
  // UUID, Core v5.3, Vol 3, Part B, 2.5.1), little-endian.
  std::array<std::uint8_t, 16> full() const;
  // Equal as UUIDs ("180d" equals its 128-bit expansion).
  bool same(const Uuid& other) const { return full() == other.full(); }
  bool operator==(const Uuid& o) const { return size == o.size && le == o.le; }
  // Parses the three text forms above (either case); nullopt when malformed.
  static std::optional<Uuid> parse(std::string_view text);
};

struct ServiceData {
  Uuid uuid;
  std::span<const std::uint8_t> data;
};

// AD types (Assigned Numbers, 2.3 "Common Data Types").
enum AdType : std::uint8_t {
  kAdFlags = 0x01,
  kAdIncomplete16 = 0x02,
  kAdComplete16 = 0x03,
  kAdIncomplete32 = 0x04,
  kAdComplete32 = 0x05,
  kAdIncomplete128 = 0x06,
  kAdComplete128 = 0x07,
  kAdShortName = 0x08,
  kAdCompleteName = 0x09,
  kAdTxPower = 0x0A,
  kAdServiceData16 = 0x16,
  kAdAppearance = 0x19,
  kAdServiceData32 = 0x20,
  kAdServiceData128 = 0x21,
  kAdManufacturer = 0xFF,
};

// The decoded fields; views point into the decoded buffer. Reused between
// reports (clear() keeps the vectors' capacity) to stay off the allocator.
struct AdvertisingData {
  std::optional<std::uint8_t> flags;            // Supplement Part A, 1.3
  std::string_view name;                        // 1.2; complete name wins over short
  bool has_name = false;
  bool name_complete = false;
  std::vector<Uuid> services;                   // 1.1, complete and incomplete lists
  bool services_complete = false;               // a "complete list" structure was present
  std::vector<ServiceData> service_data;        // 1.11
  std::optional<std::uint16_t> manufacturer_id; // 1.4, the first structure's company id
  std::span<const std::uint8_t> manufacturer_data;
  std::optional<std::int8_t> tx_power;          // 1.5
  std::optional<std::uint16_t> appearance;      // 1.12
  std::uint32_t structures = 0;                 // AD structures seen
  std::uint32_t malformed = 0;                  // AD structures skipped as malformed

  void clear();
};

// Decodes `data` into `out` (cleared first).
void decode_advertising_data(std::span<const std::uint8_t> data, AdvertisingData& out);

}  // namespace c4i::discovery
