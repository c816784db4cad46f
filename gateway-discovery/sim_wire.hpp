// The device simulator's wire format (README.md, section 4): after a
// greeting line from the daemon, the simulator sends H4-framed HCI event
// packets (Core v5.3, Vol 4, Part A, 2: one packet-type byte, 0x04 for an
// event, then the event as in Part E, 5.4.4). The simulator builds frames
// with the encode_* helpers; the daemon cuts the byte stream with H4Framer
// and decodes the events with decode_advertising_event(), the same path as
// a radio. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "gateway-discovery/advertising_data.hpp"
#include "gateway-discovery/hci_events.hpp"

namespace c4i::discovery::sim {

inline constexpr std::uint8_t kH4Event = 0x04;
inline constexpr int kProtocolVersion = 1;

// "C4I-SIM 1 <gateway>\n", sent by the daemon when it connects.
std::string hello_line(std::string_view gateway);
// Parses a greeting line (with or without the '\n'): the gateway name.
Result<std::string> parse_hello(std::string_view line);

// What a simulated device advertises.
struct Advert {
  std::optional<std::uint8_t> flags = 0x06;  // LE General Discoverable, BR/EDR not supported
  std::string name;                          // complete local name; empty: none
  std::vector<Uuid> services;                // complete list(s), grouped by size
  std::optional<std::uint16_t> manufacturer_id;
  std::vector<std::uint8_t> manufacturer_data;
  std::optional<std::int8_t> tx_power;
  std::optional<std::uint16_t> appearance;
};

// Encodes AD structures (Core v5.3, Vol 3, Part C, 11). Fails when the
// result would exceed the 31 bytes of a legacy advertisement.
Result<std::vector<std::uint8_t>> encode_ad(const Advert& advert);

// One H4 frame: 0x04, LE Meta, length, subevent 0x02, one report
// (Core v5.3, Vol 4, Part E, 7.7.65.2). `ad` must be at most 31 bytes.
Result<std::vector<std::uint8_t>> encode_adv_report_event(const BdAddr& addr, std::uint8_t addr_type,
                                                          std::int8_t rssi_dbm, std::span<const std::uint8_t> ad,
                                                          std::uint8_t event_type = 0);

// Cuts a byte stream into HCI event packets.
class H4Framer {
 public:
  // Appends received bytes.
  void feed(std::span<const std::uint8_t> bytes);
  // The next whole event packet (Event_Code, length, parameters) or an empty
  // span when more bytes are needed. Valid until the next feed()/next().
  // Sets `error()` and returns empty when the stream is not H4 events.
  std::span<const std::uint8_t> next();
  bool error() const { return error_; }
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::vector<std::uint8_t> buf_;
  std::size_t pos_ = 0;
  bool error_ = false;
};

}  // namespace c4i::discovery::sim
