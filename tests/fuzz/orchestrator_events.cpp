// Fuzzes parse_event_batch and decode_continue: never crash, and a batch that
// parses keeps the invariants the store relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "orchestrator/events.hpp"
#include "orchestrator/paging.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto b = c4i::orchestrator::parse_event_batch(in, c4i::orchestrator::BatchLimits{100});
  if (b) {
    if (b->events.empty() || b->events.size() > 100 || b->gateway.empty() || b->boot_id.empty()) std::abort();
    for (std::size_t i = 0; i < b->events.size(); ++i) {
      const auto& e = b->events[i];
      if (e.seq != b->seq + static_cast<std::int64_t>(i)) std::abort();
      if (e.type != c4i::orchestrator::EventType::gateway_heartbeat && !c4i::orchestrator::valid_bd_addr(e.addr)) std::abort();
    }
  }
  if (auto k = c4i::orchestrator::decode_continue(in)) {
    if (c4i::orchestrator::decode_continue(c4i::orchestrator::encode_continue(*k)) != *k) std::abort();
  }
  return 0;
}
