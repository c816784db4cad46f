// `c4i-discovery replay`: decodes every LE advertising report of a btsnoop
// capture into one JSON line (the contract is in README.md, section 5).
// Pure: bytes in, text out through a sink.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "gateway-discovery/advertising_data.hpp"
#include "gateway-discovery/hci_events.hpp"

namespace c4i::discovery {

struct ReplaySummary {
  std::uint64_t frames = 0;            // btsnoop records read
  std::uint64_t events = 0;            // HCI events
  std::uint64_t reports = 0;           // advertising reports written
  std::uint64_t malformed_events = 0;  // advertising events truncated or inconsistent
  std::uint64_t malformed_ad = 0;      // AD structures skipped
  std::uint64_t skipped_records = 0;   // btsnoop records skipped by the reader
  bool truncated = false;              // the file ended inside a record
  std::string line() const;            // "frames=N reports=N ..."
};

// Appends one report's JSON line (with '\n') to `out`. `ad` is its decoded data.
void append_report_json(std::string& out, std::uint64_t frame, std::int64_t t_us, const AdvReport& r,
                        const AdvertisingData& ad);

// Replays a whole capture; `sink` receives chunks of output (about 64 KiB),
// then `consumed` (when set) the offset of the capture read so far, so a
// caller that mapped the file can drop those pages. Fails only when the
// file is not a btsnoop capture.
Result<ReplaySummary> replay_jsonl(std::span<const std::uint8_t> capture,
                                   const std::function<void(std::string_view)>& sink,
                                   const std::function<void(std::size_t)>& consumed = {});

}  // namespace c4i::discovery
