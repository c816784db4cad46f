// The JSON of the events the gateway sends and of the batch body of
// POST /v1/gateways/{gateway}/events (README.md, section 1). Pure.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "gateway-discovery/presence.hpp"

namespace c4i::discovery {

// An event as stored in the outbox: its seq and its JSON object without "seq".
struct OutboxRow {
  std::int64_t seq = 0;
  std::string payload;
};

struct Heartbeat {
  std::int64_t t_ms = 0;
  double cpu = 0;  // 0..1
  double mem = 0;  // 0..1
  std::string arch;
  std::int64_t cpu_capacity_m = 0;
  std::int64_t mem_capacity_mb = 0;
};

// {"type":"device.seen"|"device.lost",...} without "seq".
std::string presence_event_json(const PresenceEvent& e);
// {"type":"gateway.heartbeat",...} without "seq".
std::string heartbeat_json(const Heartbeat& h);
// The request body for a batch of rows (seq contiguous, ascending).
std::string batch_body(const std::string& gateway, const std::string& boot_id, std::span<const OutboxRow> rows);

}  // namespace c4i::discovery
