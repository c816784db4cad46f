#include "common/btsnoop.hpp"

#include <cstring>
#include <fstream>
#include <iterator>

namespace c4i::btsnoop {

namespace {
// btsnoop timestamps count microseconds from midnight, January 1st, 0 AD.
constexpr std::int64_t kEpochDeltaUs = 0x00dcddb30f2f8000LL;

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
std::uint64_t be64(const std::uint8_t* p) { return (std::uint64_t(be32(p)) << 32) | be32(p + 4); }
void put32(std::vector<std::uint8_t>& o, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) o.push_back(static_cast<std::uint8_t>(v >> s));
}
}  // namespace

Result<Reader> Reader::open(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 16) return Error{"malformed", "btsnoop: file shorter than its 16-byte header"};
  if (std::memcmp(bytes.data(), "btsnoop\0", 8) != 0) return Error{"malformed", "btsnoop: bad magic, not a btsnoop file"};
  std::uint32_t version = be32(bytes.data() + 8);
  if (version != 1) return Error{"unsupported", "btsnoop: version " + std::to_string(version) + " is not supported"};
  std::uint32_t dl = be32(bytes.data() + 12);
  if (dl != kDatalinkH1 && dl != kDatalinkH4 && dl != kDatalinkMonitor)
    return Error{"unsupported", "btsnoop: datalink " + std::to_string(dl) + " is not supported (1001, 1002, 2001 are)"};
  return Reader(bytes, dl);
}

bool Reader::next(Packet& out) {
  while (pos_ < bytes_.size()) {
    if (bytes_.size() - pos_ < 24) {
      stats_.truncated = true;
      stats_.skipped++;
      pos_ = bytes_.size();
      return false;
    }
    const std::uint8_t* h = bytes_.data() + pos_;
    std::uint32_t included = be32(h + 4);
    std::uint32_t flags = be32(h + 8);
    std::uint64_t ts = be64(h + 16);
    if (included > bytes_.size() - pos_ - 24) {
      stats_.truncated = true;
      stats_.skipped++;
      pos_ = bytes_.size();
      return false;
    }
    std::span<const std::uint8_t> rec = bytes_.subspan(pos_ + 24, included);
    pos_ += 24 + included;
    stats_.records++;
    out.index = stats_.records;
    // Unsigned arithmetic: a corrupt timestamp wraps instead of overflowing.
    out.unix_us = static_cast<std::int64_t>(ts - static_cast<std::uint64_t>(kEpochDeltaUs));
    switch (datalink_) {
      case kDatalinkH4: {
        if (rec.empty() || rec[0] < 0x01 || rec[0] > 0x05) {
          stats_.skipped++;
          continue;
        }
        out.type = static_cast<PacketType>(rec[0]);
        out.data = rec.subspan(1);
        out.received = (flags & 1) != 0;
        return true;
      }
      case kDatalinkH1: {
        bool cmd_or_evt = (flags & 2) != 0;
        out.received = (flags & 1) != 0;
        out.type = cmd_or_evt ? (out.received ? PacketType::event : PacketType::command) : PacketType::acl;
        out.data = rec;
        return true;
      }
      default: {  // BlueZ monitor: the low 16 bits of flags are the opcode, high are the index
        std::uint16_t opcode = flags & 0xffff;
        switch (opcode) {
          case 2: out.type = PacketType::command; out.received = false; break;
          case 3: out.type = PacketType::event; out.received = true; break;
          case 4: out.type = PacketType::acl; out.received = false; break;
          case 5: out.type = PacketType::acl; out.received = true; break;
          default: continue;  // index add/remove, notes, ...: not HCI traffic
        }
        out.data = rec;
        return true;
      }
    }
  }
  return false;
}

Result<std::vector<std::uint8_t>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"not_found", path + ": cannot open file"};
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Error{"io_error", path + ": read failed"};
  return bytes;
}

void append_header(std::vector<std::uint8_t>& out, std::uint32_t datalink) {
  const char magic[8] = {'b', 't', 's', 'n', 'o', 'o', 'p', '\0'};
  out.insert(out.end(), magic, magic + 8);
  put32(out, 1);
  put32(out, datalink);
}

void append_record(std::vector<std::uint8_t>& out, std::int64_t unix_us, std::uint32_t flags,
                   std::span<const std::uint8_t> packet) {
  put32(out, static_cast<std::uint32_t>(packet.size()));
  put32(out, static_cast<std::uint32_t>(packet.size()));
  put32(out, flags);
  put32(out, 0);
  std::uint64_t ts = static_cast<std::uint64_t>(unix_us + kEpochDeltaUs);
  put32(out, static_cast<std::uint32_t>(ts >> 32));
  put32(out, static_cast<std::uint32_t>(ts));
  out.insert(out.end(), packet.begin(), packet.end());
}

}  // namespace c4i::btsnoop
