// btsnoop capture reader (the format of BlueZ's btmon and Android's HCI snoop
// log): a 16-byte file header, then records of a 24-byte header and the
// packet. Pure: works on bytes in memory; the caller reads the file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace c4i::btsnoop {

// Datalink types from the btsnoop header.
inline constexpr std::uint32_t kDatalinkH1 = 1001;  // un-encapsulated HCI, type from the flags
inline constexpr std::uint32_t kDatalinkH4 = 1002;  // HCI UART: first byte is the packet type
inline constexpr std::uint32_t kDatalinkMonitor = 2001;  // BlueZ monitor (btmon), opcode in flags

// HCI packet indicators (Core v5.3, Vol 4, Part A, 2).
enum class PacketType : std::uint8_t { command = 0x01, acl = 0x02, sco = 0x03, event = 0x04, iso = 0x05 };

struct Packet {
  std::uint64_t index = 0;          // record number in the file, from 1
  std::int64_t unix_us = 0;         // timestamp, microseconds since 1970
  bool received = false;            // controller -> host
  PacketType type = PacketType::event;
  std::span<const std::uint8_t> data;  // the HCI packet, without the H4 type byte
};

struct Stats {
  std::uint64_t records = 0;      // records read
  std::uint64_t skipped = 0;      // records skipped as malformed or of unknown type
  bool truncated = false;         // the file ended inside a record
};

class Reader {
 public:
  // Validates the file header. `bytes` must outlive the reader.
  static Result<Reader> open(std::span<const std::uint8_t> bytes);
  // Next HCI packet; false at the end of the capture.
  bool next(Packet& out);
  std::uint32_t datalink() const { return datalink_; }
  const Stats& stats() const { return stats_; }

 private:
  Reader(std::span<const std::uint8_t> bytes, std::uint32_t datalink) : bytes_(bytes), datalink_(datalink) {}
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 16;
  std::uint32_t datalink_;
  Stats stats_;
};

// Reads a whole file into memory.
Result<std::vector<std::uint8_t>> read_file(const std::string& path);

// Writes a btsnoop header / record (used by tests and by the device simulator's captures).
void append_header(std::vector<std::uint8_t>& out, std::uint32_t datalink);
void append_record(std::vector<std::uint8_t>& out, std::int64_t unix_us, std::uint32_t flags,
                   std::span<const std::uint8_t> packet);

}  // namespace c4i::btsnoop
