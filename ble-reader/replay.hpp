// Replay of a btsnoop capture: HCI ACL data packets (Core v5.3, Vol 4,
// Part E, 5.4.2) reassembled into L2CAP basic frames (Vol 3, Part A, 3.1),
// ATT PDUs taken from the fixed channel CID 0x0004, GATT discovery followed
// per connection so notification handles get their characteristic UUID, and
// one record per Handle Value Notification / Indication. Pure: the caller
// reads the file; this works on its bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ble-reader/uuid.hpp"
#include "common/btsnoop.hpp"
#include "common/result.hpp"

namespace c4i::reader {

// Rebuilds L2CAP frames from ACL fragments, per connection handle and direction.
class AclReassembler {
 public:
  struct Frame {
    std::uint16_t conn = 0;
    std::uint16_t cid = 0;
    std::span<const std::uint8_t> payload;  // valid until the next feed()
  };
  struct Stats {
    std::uint64_t acl_packets = 0;
    std::uint64_t frames = 0;
    std::uint64_t reassembled = 0;     // frames that spanned more than one ACL packet
    std::uint64_t malformed = 0;       // ACL header or length inconsistent
    std::uint64_t orphan_fragments = 0;  // continuation without a start
    std::uint64_t dropped_partial = 0;   // a start that replaced an unfinished frame
  };
  // One HCI ACL packet (header included); returns a frame when one completed.
  std::optional<Frame> feed(std::span<const std::uint8_t> acl, bool received);
  // The link went away (Disconnection Complete): forget its partial frames.
  void reset(std::uint16_t conn);
  const Stats& stats() const { return stats_; }

 private:
  struct Partial {
    std::vector<std::uint8_t> data;  // basic header + payload so far
    std::size_t expected = 0;        // 4 + L2CAP length
  };
  std::map<std::pair<std::uint16_t, bool>, Partial> partial_;
  std::vector<std::uint8_t> complete_;
  Stats stats_;
};

struct ReplayRecord {
  std::uint16_t conn = 0;
  std::uint16_t handle = 0;
  bool indication = false;
  bool received = false;  // controller -> host (the device sent it to this host)
  std::int64_t unix_us = 0;
  std::span<const std::uint8_t> value;  // valid during the callback
  std::optional<Uuid> uuid;             // from discovery seen earlier in the capture
};

struct ReplayStats {
  std::uint64_t records = 0;
  std::uint64_t skipped_records = 0;  // btsnoop records skipped as malformed
  bool truncated = false;
  AclReassembler::Stats acl;
  std::uint64_t att_pdus = 0;
  std::uint64_t att_malformed = 0;
  std::uint64_t notifications = 0;
  std::uint64_t indications = 0;
  std::uint64_t decoded = 0;  // records with a known UUID
};

// Replays a whole capture; `on_record` is called for each notification and indication in order.
Result<ReplayStats> replay(std::span<const std::uint8_t> file, const std::function<void(const ReplayRecord&)>& on_record);

// The `c4i-reader replay --format jsonl` line (without the newline):
// {"conn":..,"handle":..,"opcode":"notification","value":"..","t":"..Z","uuid":"..","decoded":{..}}
std::string replay_json_line(const ReplayRecord& r);

// One line for stderr.
std::string summary(const ReplayStats& s);

}  // namespace c4i::reader
