#include "gateway-discovery/advertising_data.hpp"

#include <algorithm>

namespace c4i::discovery {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Bluetooth Base UUID 00000000-0000-1000-8000-00805F9B34FB, little-endian
// (Core v5.3, Vol 3, Part B, 2.5.1).
constexpr std::array<std::uint8_t, 16> kBaseUuidLe = {0xFB, 0x34, 0x9B, 0x5F, 0x80, 0x00, 0x00, 0x80,
                                                      0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

void append_hex_byte(std::string& out, std::uint8_t b) {
  out.push_back(kHex[b >> 4]);
  out.push_back(kHex[b & 0x0F]);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends every `size`-byte UUID of a list; false when the length is not a multiple.
bool add_uuid_list(std::span<const std::uint8_t> d, std::size_t size, std::vector<Uuid>& out) {
  if (d.empty() || d.size() % size != 0) return false;
  for (std::size_t i = 0; i < d.size(); i += size) {
    Uuid u = Uuid::from_le(d.subspan(i, size));
    if (std::none_of(out.begin(), out.end(), [&](const Uuid& x) { return x == u; })) out.push_back(u);
  }
  return true;
}

bool add_service_data(std::span<const std::uint8_t> d, std::size_t size, AdvertisingData& out) {
  if (d.size() < size) return false;
  out.service_data.push_back(ServiceData{Uuid::from_le(d.first(size)), d.subspan(size)});
  return true;
}

// Decodes one structure's data; false when it does not fit its type.
bool decode_structure(std::uint8_t type, std::span<const std::uint8_t> d, AdvertisingData& out) {
  switch (type) {
    case kAdFlags:
      // Supplement Part A, 1.3: one or more octets; only the first carries defined bits.
      if (d.empty()) return false;
      out.flags = d[0];
      return true;
    case kAdIncomplete16:
    case kAdComplete16:
      if (type == kAdComplete16) out.services_complete = true;
      return add_uuid_list(d, 2, out.services);
    case kAdIncomplete32:
    case kAdComplete32:
      if (type == kAdComplete32) out.services_complete = true;
      return add_uuid_list(d, 4, out.services);
    case kAdIncomplete128:
    case kAdComplete128:
      if (type == kAdComplete128) out.services_complete = true;
      return add_uuid_list(d, 16, out.services);
    case kAdShortName:
    case kAdCompleteName: {
      // Supplement Part A, 1.2; a complete name wins over a shortened one.
      const bool complete = type == kAdCompleteName;
      if (!out.has_name || (complete && !out.name_complete)) {
        out.name = std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
        out.has_name = true;
        out.name_complete = complete;
      }
      return true;
    }
    case kAdTxPower:
      if (d.size() != 1) return false;
      out.tx_power = static_cast<std::int8_t>(d[0]);
      return true;
    case kAdAppearance:
      if (d.size() != 2) return false;
      out.appearance = static_cast<std::uint16_t>(d[0] | (d[1] << 8));
      return true;
    case kAdServiceData16:
      return add_service_data(d, 2, out);
    case kAdServiceData32:
      return add_service_data(d, 4, out);
    case kAdServiceData128:
      return add_service_data(d, 16, out);
    case kAdManufacturer:
      // Supplement Part A, 1.4: Company Identifier (2 octets, little-endian) then data.
      if (d.size() < 2) return false;
      if (!out.manufacturer_id) {
        out.manufacturer_id = static_cast<std::uint16_t>(d[0] | (d[1] << 8));
        out.manufacturer_data = d.subspan(2);
      }
      return true;
    default:
      return true;  // a type we do not decode is not malformed
  }
}

}  // namespace

Uuid Uuid::from_le(std::span<const std::uint8_t> bytes) {
  Uuid u;
  u.size = static_cast<std::uint8_t>(std::min<std::size_t>(bytes.size(), 16));
  std::copy_n(bytes.begin(), u.size, u.le.begin());
  return u;
}

std::array<std::uint8_t, 16> Uuid::full() const {
  if (size == 16) return le;
  auto f = kBaseUuidLe;
  // The short value sits in octets 12..15 (little-endian) of the base UUID.
  for (std::size_t i = 0; i < size && i < 4; ++i) f[12 + i] = le[i];
  return f;
}

void Uuid::append_to(std::string& out) const {
  if (size == 2 || size == 4) {
    for (std::size_t i = size; i-- > 0;) append_hex_byte(out, le[i]);
    return;
  }
  for (std::size_t i = 16; i-- > 0;) {
    append_hex_byte(out, le[i]);
    if (i == 12 || i == 10 || i == 8 || i == 6) out.push_back('-');
  }
}

std::string Uuid::str() const {
  std::string s;
  append_to(s);
  return s;
}

std::optional<Uuid> Uuid::parse(std::string_view text) {
  std::string hex;
  if (text.size() == 36) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (i == 8 || i == 13 || i == 18 || i == 23) {
        if (text[i] != '-') return std::nullopt;
      } else {
        hex.push_back(text[i]);
      }
    }
  } else if (text.size() == 4 || text.size() == 8) {
    hex = std::string(text);
  } else {
    return std::nullopt;
  }
  Uuid u;
  u.size = static_cast<std::uint8_t>(hex.size() / 2);
  for (std::size_t i = 0; i < u.size; ++i) {
    const int hi = hex_value(hex[i * 2]);
    const int lo = hex_value(hex[i * 2 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    u.le[u.size - 1 - i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return u;
}

void AdvertisingData::clear() {
  flags.reset();
  name = {};
  has_name = false;
  name_complete = false;
  services.clear();
  services_complete = false;
  service_data.clear();
  manufacturer_id.reset();
  manufacturer_data = {};
  tx_power.reset();
  appearance.reset();
  structures = 0;
  malformed = 0;
}

void decode_advertising_data(std::span<const std::uint8_t> data, AdvertisingData& out) {
  out.clear();
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t len = data[pos];
    // A zero length ends the significant part; the rest is padding
    // (Core v5.3, Vol 3, Part C, 11).
    if (len == 0) break;
    if (data.size() - pos - 1 < len) {
      // Runs past the buffer: the rest cannot be framed.
      ++out.malformed;
      break;
    }
    ++out.structures;
    const std::uint8_t type = data[pos + 1];
    if (!decode_structure(type, data.subspan(pos + 2, len - 1), out)) ++out.malformed;
    pos += 1 + len;
  }
}

}  // namespace c4i::discovery
