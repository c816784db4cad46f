// The gateway -> orchestrator event batch (gateway-discovery/README.md, 1):
// parsing and validation of the JSON body. Pure: no I/O, fuzzed alone. A batch
// is accepted whole or rejected whole; an error names the event index and the
// field ("events[3].rssi: must be an integer").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace c4i::orchestrator {

enum class EventType { device_seen, device_lost, gateway_heartbeat };
const char* to_string(EventType t);

struct GatewayEvent {
  std::int64_t seq = 0;
  EventType type = EventType::device_seen;
  std::int64_t t_ms = 0;
  // device.seen / device.lost
  std::string addr;        // lowercase aa:bb:cc:dd:ee:ff
  std::string addr_type;   // public | random
  std::optional<int> rssi_dbm;
  std::string reason;      // enter | refresh | below_threshold | timeout (may be empty)
  std::string name;
  std::vector<std::string> services;
  std::optional<std::int64_t> last_seen_t_ms;
  // gateway.heartbeat
  double cpu = 0, mem = 0;  // shares 0..1
  std::string arch;
  std::int64_t cpu_capacity_m = 0, mem_capacity_mb = 0;
};

struct EventBatch {
  std::string gateway;
  std::string boot_id;
  std::int64_t seq = 0;
  std::vector<GatewayEvent> events;
};

struct BatchLimits {
  std::size_t max_events = 1000;
};

// Error codes: "invalid_json", "invalid_batch" (message names the field),
// "too_many_events" (maps to 413).
Result<EventBatch> parse_event_batch(std::string_view body, const BatchLimits& limits = {});

// How far an event's own time (`t`, `last_seen_t`) may be from the time the
// orchestrator received it. A gateway's clock can jump (no RTC, NTP not yet
// synced, a bad RTC battery); ordering never depends on it (seq does), but
// the times land in devices, sightings, heartbeats and migration timelines.
struct TimeBounds {
  std::int64_t future_ms = 5 * 60'000;          // limits.event_future_ms
  std::int64_t past_ms = 7 * 24 * 3'600'000LL;  // limits.event_past_ms
};
struct ClampCounts {
  int future = 0, past = 0;       // times replaced, by the bound they broke
  std::int64_t worst_skew_ms = 0;  // the largest |t - received| among them
  int total() const { return future + past; }
};
// Replaces every event time outside [received - past, received + future]
// with `received_ms` (the latest the event can really have happened), so a
// batch is never refused for a clock: a refused batch would stop the
// gateway's ordered stream behind it.
ClampCounts clamp_event_times(EventBatch& b, std::int64_t received_ms, const TimeBounds& bounds);

// "aa:bb:cc:dd:ee:ff" in lowercase hex: the form device ids take.
bool valid_bd_addr(std::string_view s);

}  // namespace c4i::orchestrator
