#include "ble-reader/uuid.hpp"

#include <vector>

namespace c4i::reader {
namespace {
// 00000000-0000-1000-8000-00805F9B34FB (Core v5.3, Vol 3, Part B, 2.5.1)
constexpr std::array<std::uint8_t, 16> kBase = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
                                                0x80, 0x00, 0x00, 0x80, 0x5F, 0x9B, 0x34, 0xFB};

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Uuid Uuid::from16(std::uint16_t v) {
  Uuid u;
  u.be_ = kBase;
  u.be_[2] = static_cast<std::uint8_t>(v >> 8);
  u.be_[3] = static_cast<std::uint8_t>(v & 0xFF);
  return u;
}

std::optional<Uuid> Uuid::from_le(std::span<const std::uint8_t> bytes) {
  if (bytes.size() == 2) return from16(static_cast<std::uint16_t>(bytes[0] | (bytes[1] << 8)));
  if (bytes.size() != 16) return std::nullopt;
  Uuid u;
  for (std::size_t i = 0; i < 16; ++i) u.be_[i] = bytes[15 - i];
  return u;
}

std::optional<Uuid> Uuid::parse(const std::string& text) {
  std::string s = text;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s = s.substr(2);
  std::string hex;
  for (char c : s) {
    if (c == '-') continue;
    if (hexval(c) < 0) return std::nullopt;
    hex.push_back(c);
  }
  if (hex.size() == 4) {
    return from16(static_cast<std::uint16_t>((hexval(hex[0]) << 12) | (hexval(hex[1]) << 8) |
                                             (hexval(hex[2]) << 4) | hexval(hex[3])));
  }
  if (hex.size() != 32 || (s.size() != 32 && s.size() != 36)) return std::nullopt;
  Uuid u;
  for (std::size_t i = 0; i < 16; ++i) u.be_[i] = static_cast<std::uint8_t>((hexval(hex[2 * i]) << 4) | hexval(hex[2 * i + 1]));
  return u;
}

std::optional<std::uint16_t> Uuid::as16() const {
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 2 || i == 3) continue;
    if (i < 2 ? be_[i] != 0 : be_[i] != kBase[i]) return std::nullopt;
  }
  return static_cast<std::uint16_t>((be_[2] << 8) | be_[3]);
}

void Uuid::append_le(std::vector<std::uint8_t>& out) const {
  if (auto v = as16()) {
    out.push_back(static_cast<std::uint8_t>(*v & 0xFF));
    out.push_back(static_cast<std::uint8_t>(*v >> 8));
    return;
  }
  for (std::size_t i = 0; i < 16; ++i) out.push_back(be_[15 - i]);
}

std::string Uuid::str() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  if (auto v = as16()) {
    for (int shift = 12; shift >= 0; shift -= 4) s.push_back(kHex[(*v >> shift) & 0xF]);
    return s;
  }
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    s.push_back(kHex[be_[i] >> 4]);
    s.push_back(kHex[be_[i] & 0xF]);
  }
  return s;
}

}  // namespace c4i::reader
