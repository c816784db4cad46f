#include "gateway-discovery/hci_events.hpp"

#include <charconv>

namespace c4i::discovery {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Reads a little-endian BD_ADDR at p (6 bytes, checked by the caller).
BdAddr read_addr(const std::uint8_t* p) {
  BdAddr a;
  for (int i = 0; i < 6; ++i) a.b[static_cast<std::size_t>(i)] = p[5 - i];
  return a;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Legacy report fixed part: Event_Type, Address_Type, Address(6), Data_Length;
// then Data and one RSSI byte. The spec lists the parameters as arrays, but
// controllers (and BlueZ, and Wireshark) lay them out report by report, each
// report's fields together; so do we (Core v5.3, Vol 4, Part E, 7.7.65.2).
constexpr std::size_t kLegacyFixed = 1 + 1 + 6 + 1;
// Extended report fixed part (7.7.65.13): Event_Type(2), Address_Type,
// Address(6), Primary_PHY, Secondary_PHY, Advertising_SID, TX_Power, RSSI,
// Periodic_Advertising_Interval(2), Direct_Address_Type, Direct_Address(6),
// Data_Length; then Data.
constexpr std::size_t kExtendedFixed = 2 + 1 + 6 + 1 + 1 + 1 + 1 + 1 + 2 + 1 + 6 + 1;

EventDecode decode_legacy(std::span<const std::uint8_t> p, std::vector<AdvReport>& out) {
  // p starts after the subevent code.
  if (p.empty()) return EventDecode::malformed;
  const std::size_t n = p[0];
  std::size_t pos = 1;
  for (std::size_t i = 0; i < n; ++i) {
    if (p.size() - pos < kLegacyFixed) return EventDecode::malformed;
    AdvReport r;
    r.subevent = kSubeventAdvertisingReport;
    r.event_type = p[pos];
    r.addr_type = p[pos + 1];
    r.addr = read_addr(&p[pos + 2]);
    const std::size_t len = p[pos + 8];
    pos += kLegacyFixed;
    if (p.size() - pos < len + 1) return EventDecode::malformed;
    r.data = p.subspan(pos, len);
    pos += len;
    r.rssi = static_cast<std::int8_t>(p[pos]);
    pos += 1;
    out.push_back(r);
  }
  return EventDecode::ok;
}

EventDecode decode_extended(std::span<const std::uint8_t> p, std::vector<AdvReport>& out) {
  if (p.empty()) return EventDecode::malformed;
  const std::size_t n = p[0];
  std::size_t pos = 1;
  for (std::size_t i = 0; i < n; ++i) {
    if (p.size() - pos < kExtendedFixed) return EventDecode::malformed;
    const std::uint8_t* f = &p[pos];
    AdvReport r;
    r.subevent = kSubeventExtendedAdvertisingReport;
    r.event_type = static_cast<std::uint16_t>(f[0] | (f[1] << 8));
    r.addr_type = f[2];
    r.addr = read_addr(f + 3);
    r.primary_phy = f[9];
    r.secondary_phy = f[10];
    r.sid = f[11];
    r.tx_power = static_cast<std::int8_t>(f[12]);
    r.rssi = static_cast<std::int8_t>(f[13]);
    const std::size_t len = f[23];
    pos += kExtendedFixed;
    if (p.size() - pos < len) return EventDecode::malformed;
    r.data = p.subspan(pos, len);
    pos += len;
    out.push_back(r);
  }
  return EventDecode::ok;
}

}  // namespace

void BdAddr::format(char* out) const {
  for (std::size_t i = 0; i < 6; ++i) {
    out[i * 3] = kHex[b[i] >> 4];
    out[i * 3 + 1] = kHex[b[i] & 0x0F];
    if (i < 5) out[i * 3 + 2] = ':';
  }
}

std::string BdAddr::str() const {
  std::string s(17, '\0');
  format(s.data());
  return s;
}

std::uint64_t BdAddr::key() const {
  std::uint64_t k = 0;
  for (auto x : b) k = (k << 8) | x;
  return k;
}

bool BdAddr::parse(std::string_view text, BdAddr& out) {
  if (text.size() != 17) return false;
  for (std::size_t i = 0; i < 6; ++i) {
    const int hi = hex_value(text[i * 3]);
    const int lo = hex_value(text[i * 3 + 1]);
    if (hi < 0 || lo < 0) return false;
    if (i < 5 && text[i * 3 + 2] != ':') return false;
    out.b[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

EventDecode decode_advertising_event(std::span<const std::uint8_t> event, std::vector<AdvReport>& out) {
  // Event header: Event_Code, Parameter_Total_Length (Core v5.3, Vol 4, Part E, 5.4.4).
  if (event.size() < 2) return EventDecode::malformed;
  const std::size_t declared = event[1];
  if (event.size() - 2 < declared) return EventDecode::malformed;
  if (event[0] != kEventLeMeta) return EventDecode::not_advertising;
  // Bytes past the declared length are not part of the event.
  const auto params = event.subspan(2, declared);
  if (params.empty()) return EventDecode::malformed;
  switch (params[0]) {
    case kSubeventAdvertisingReport:
      return decode_legacy(params.subspan(1), out);
    case kSubeventExtendedAdvertisingReport:
      return decode_extended(params.subspan(1), out);
    default:
      return EventDecode::not_advertising;
  }
}

const char* legacy_event_type_name(std::uint16_t event_type) {
  // Core v5.3, Vol 4, Part E, 7.7.65.2, Event_Type.
  switch (event_type) {
    case 0: return "adv_ind";
    case 1: return "adv_direct_ind";
    case 2: return "adv_scan_ind";
    case 3: return "adv_nonconn_ind";
    case 4: return "scan_rsp";
    default: return nullptr;
  }
}

const char* addr_type_name(std::uint8_t addr_type) {
  switch (addr_type) {
    case 0: return "public";
    case 1: return "random";
    case 2: return "public_identity";
    case 3: return "random_identity";
    case 0xFF: return "anonymous";
    default: return "unknown";
  }
}

const char* addr_type_base_name(std::uint8_t addr_type) {
  // 0x00 and 0x02 are public (identity) addresses; the rest are random.
  return (addr_type == 0 || addr_type == 2) ? "public" : "random";
}

}  // namespace c4i::discovery
