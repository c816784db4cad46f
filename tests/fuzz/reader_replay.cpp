// Fuzzes the replay path: btsnoop records, ACL reassembly, L2CAP, ATT, the
// discovery tracker, JSON lines. The input is used as the capture's records
// behind a valid H4 header so the fuzzer reaches the packet code.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ble-reader/replay.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace c4i::reader;
  std::vector<std::uint8_t> file;
  if (size >= 8 && std::memcmp(data, "btsnoop", 7) == 0) {
    file.assign(data, data + size);
  } else {
    c4i::btsnoop::append_header(file, c4i::btsnoop::kDatalinkH4);
    // Each record: 1 flags byte, 1 length byte, then that many H4 bytes.
    std::size_t at = 0;
    std::int64_t t = 0;
    while (at + 2 <= size) {
      const std::uint32_t flags = data[at] & 0x03;
      const std::size_t n = std::min<std::size_t>(data[at + 1], size - at - 2);
      c4i::btsnoop::append_record(file, t += 1000, flags, std::span<const std::uint8_t>(data + at + 2, n));
      at += 2 + n;
    }
  }
  auto st = replay(file, [](const ReplayRecord& r) { (void)replay_json_line(r); });
  if (st) (void)summary(*st);
  return 0;
}
