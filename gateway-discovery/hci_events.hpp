// Decoding of HCI LE Meta events that carry advertising reports (Core v5.3,
// Vol 4, Part E, 7.7.65): legacy reports (subevent 0x02, 7.7.65.2) and
// extended reports (subevent 0x0D, 7.7.65.13). Pure: bytes in, reports out;
// every field is checked against the lengths before it is read.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace c4i::discovery {

// HCI event codes and LE subevent codes (Core v5.3, Vol 4, Part E, 7.7.65).
inline constexpr std::uint8_t kEventLeMeta = 0x3E;
inline constexpr std::uint8_t kSubeventAdvertisingReport = 0x02;
inline constexpr std::uint8_t kSubeventExtendedAdvertisingReport = 0x0D;
// RSSI value meaning "not available" (7.7.65.2).
inline constexpr std::int8_t kRssiNotAvailable = 127;

// A BD_ADDR, most significant byte first (the order people write it in);
// on the wire it is little-endian (Core v5.3, Vol 2, Part B, 1.2).
struct BdAddr {
  std::array<std::uint8_t, 6> b{};
  // Writes "aa:bb:cc:dd:ee:ff" (17 chars, lowercase) into `out`.
  void format(char* out) const;
  std::string str() const;
  std::uint64_t key() const;  // 48-bit integer value
  bool operator==(const BdAddr&) const = default;
  // Parses "aa:bb:cc:dd:ee:ff" (either case); false when malformed.
  static bool parse(std::string_view text, BdAddr& out);
};

// One advertising report; `data` points into the event buffer.
struct AdvReport {
  std::uint8_t subevent = kSubeventAdvertisingReport;
  std::uint16_t event_type = 0;  // legacy: 0..4; extended: the Event_Type bit field
  std::uint8_t addr_type = 0;    // Address_Type as sent
  BdAddr addr;
  std::int8_t rssi = kRssiNotAvailable;
  std::span<const std::uint8_t> data;
  // Extended reports only (7.7.65.13).
  std::uint8_t primary_phy = 0;
  std::uint8_t secondary_phy = 0;
  std::uint8_t sid = 0xFF;
  std::int8_t tx_power = 127;  // 127: not available
};

enum class EventDecode {
  not_advertising,  // a well-formed event that is not an advertising report
  ok,
  malformed,  // truncated or inconsistent; reports decoded before the fault are in `out`
};

// Decodes one HCI event packet (Event_Code, Parameter_Total_Length,
// Parameters; Core v5.3, Vol 4, Part E, 5.4.4), without the H4 type byte.
// Appends the reports it holds to `out` (which is not cleared).
EventDecode decode_advertising_event(std::span<const std::uint8_t> event, std::vector<AdvReport>& out);

// "adv_ind", "adv_direct_ind", "adv_scan_ind", "adv_nonconn_ind", "scan_rsp", or nullptr.
const char* legacy_event_type_name(std::uint16_t event_type);
// "public", "random", "public_identity", "random_identity", "anonymous", "unknown".
const char* addr_type_name(std::uint8_t addr_type);
// The base type for presence: "public" or "random".
const char* addr_type_base_name(std::uint8_t addr_type);

}  // namespace c4i::discovery
