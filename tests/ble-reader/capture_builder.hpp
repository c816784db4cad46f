// Builds small btsnoop captures (datalink 1002, H4) for the replay tests:
// LE connection events, ATT PDUs split into ACL fragments of a chosen size.
#pragma once

#include <cstdint>
#include <vector>

#include "common/btsnoop.hpp"

namespace c4i::reader::testing {

class CaptureBuilder {
 public:
  CaptureBuilder() { btsnoop::append_header(bytes_, btsnoop::kDatalinkH4); }

  // LE Connection Complete (Core v5.3, Vol 4, Part E, 7.7.65.1) for `conn` to `peer`.
  CaptureBuilder& le_connection(std::uint16_t conn, std::uint8_t peer_last_byte) {
    std::vector<std::uint8_t> ev{0x04, 0x3E, 19, 0x01, 0x00, static_cast<std::uint8_t>(conn & 0xFF),
                                 static_cast<std::uint8_t>(conn >> 8), 0x00, 0x01,
                                 peer_last_byte, 0x22, 0x33, 0x44, 0x55, 0x66,
                                 0x18, 0x00, 0x00, 0x00, 0xC8, 0x00, 0x00};
    record(ev, 3);
    return *this;
  }
  // Disconnection Complete (7.7.5).
  CaptureBuilder& disconnection(std::uint16_t conn) {
    std::vector<std::uint8_t> ev{0x04, 0x05, 4, 0x00, static_cast<std::uint8_t>(conn & 0xFF),
                                 static_cast<std::uint8_t>(conn >> 8), 0x13};
    record(ev, 3);
    return *this;
  }
  // An ATT PDU on CID 4, split into ACL packets carrying at most `fragment` bytes each.
  CaptureBuilder& att(std::uint16_t conn, bool received, const std::vector<std::uint8_t>& pdu, std::size_t fragment = 27) {
    std::vector<std::uint8_t> l2{static_cast<std::uint8_t>(pdu.size() & 0xFF), static_cast<std::uint8_t>(pdu.size() >> 8),
                                 0x04, 0x00};
    l2.insert(l2.end(), pdu.begin(), pdu.end());
    for (std::size_t at = 0; at < l2.size(); at += fragment) {
      const std::size_t n = std::min(fragment, l2.size() - at);
      const std::uint16_t pb = at == 0 ? 0x2 : 0x1;  // first automatically flushable / continuing
      const std::uint16_t hdr = static_cast<std::uint16_t>(conn | (pb << 12));
      std::vector<std::uint8_t> acl{0x02, static_cast<std::uint8_t>(hdr & 0xFF), static_cast<std::uint8_t>(hdr >> 8),
                                    static_cast<std::uint8_t>(n & 0xFF), static_cast<std::uint8_t>(n >> 8)};
      acl.insert(acl.end(), l2.begin() + static_cast<std::ptrdiff_t>(at), l2.begin() + static_cast<std::ptrdiff_t>(at + n));
      record(acl, received ? 1 : 0);
    }
    return *this;
  }
  // Raw H4 record (for malformed input).
  CaptureBuilder& raw(const std::vector<std::uint8_t>& h4, bool received) {
    record(h4, received ? 1 : 0);
    return *this;
  }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  void record(const std::vector<std::uint8_t>& h4, std::uint32_t flags) {
    t_us_ += 10'000;
    btsnoop::append_record(bytes_, t_us_, flags, h4);
  }
  std::vector<std::uint8_t> bytes_;
  std::int64_t t_us_ = 1'700'000'000'000'000;
};

// A characteristic declaration entry for a Read By Type Response.
inline std::vector<std::uint8_t> read_by_type_chars(
    const std::vector<std::tuple<std::uint16_t, std::uint8_t, std::uint16_t, std::uint16_t>>& decls) {
  std::vector<std::uint8_t> p{0x09, 0x07};
  for (auto [h, props, vh, uuid] : decls) {
    p.insert(p.end(), {static_cast<std::uint8_t>(h & 0xFF), static_cast<std::uint8_t>(h >> 8), props,
                       static_cast<std::uint8_t>(vh & 0xFF), static_cast<std::uint8_t>(vh >> 8),
                       static_cast<std::uint8_t>(uuid & 0xFF), static_cast<std::uint8_t>(uuid >> 8)});
  }
  return p;
}

// A capture exercising reassembly: discovery, then a long notification in
// three fragments, an indication, a second connection and a disconnection.
inline std::vector<std::uint8_t> fragmented_capture() {
  CaptureBuilder b;
  b.le_connection(0x0040, 0x11);
  b.att(0x0040, false, {0x08, 0x01, 0x00, 0xFF, 0xFF, 0x03, 0x28});
  b.att(0x0040, true, read_by_type_chars({{0x0005, 0x10, 0x0006, 0x2A37}, {0x000B, 0x12, 0x000C, 0x2A19}}));
  std::vector<std::uint8_t> long_ntf{0x1B, 0x06, 0x00, 0x10, 0x48};
  for (int i = 0; i < 20; ++i) long_ntf.insert(long_ntf.end(), {0x00, 0x03});  // 20 RR intervals
  b.att(0x0040, true, long_ntf, 20);
  b.att(0x0040, true, {0x1D, 0x0C, 0x00, 0x5A});
  b.att(0x0040, false, {0x1E});
  b.le_connection(0x0041, 0x99);
  b.att(0x0041, true, {0x1B, 0x06, 0x00, 0xAB, 0xCD, 0xEF}, 5);
  b.disconnection(0x0040);
  return b.bytes();
}

}  // namespace c4i::reader::testing
