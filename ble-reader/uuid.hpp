// Bluetooth UUIDs as ATT carries them: 16-bit or 128-bit, little-endian on
// the air. A 16-bit UUID is the Bluetooth Base UUID with its bits 96..111 set
// (Core v5.3, Vol 3, Part B, 2.5.1), so both forms compare equal.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace c4i::reader {

class Uuid {
 public:
  Uuid() = default;
  static Uuid from16(std::uint16_t v);
  // 2 or 16 bytes, little-endian as in ATT PDUs; nullopt for any other size.
  static std::optional<Uuid> from_le(std::span<const std::uint8_t> bytes);
  // "180d", "0x180d", "2a37" or the 36-character form.
  static std::optional<Uuid> parse(const std::string& text);

  // The 16-bit value when this is a Base-UUID alias.
  std::optional<std::uint16_t> as16() const;
  bool is16() const { return as16().has_value(); }
  // Little-endian bytes: 2 when it is a 16-bit alias, else 16.
  void append_le(std::vector<std::uint8_t>& out) const;
  std::size_t le_size() const { return is16() ? 2 : 16; }
  // "2a37" for a 16-bit alias, else "0000fff4-0000-1000-8000-00805f9b34fb" style.
  std::string str() const;
  bool operator==(const Uuid&) const = default;
  bool operator<(const Uuid& o) const { return be_ < o.be_; }

 private:
  std::array<std::uint8_t, 16> be_{};  // big-endian (textual order)
};

}  // namespace c4i::reader
