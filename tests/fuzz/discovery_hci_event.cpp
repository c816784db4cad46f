// Fuzzes the HCI LE advertising report decoder (legacy and extended) and the
// sim wire's H4 framer: no input may read outside the buffer, and every
// decoded report must lie inside the event.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "gateway-discovery/advertising_data.hpp"
#include "gateway-discovery/hci_events.hpp"
#include "gateway-discovery/presence.hpp"
#include "gateway-discovery/sim_wire.hpp"

using namespace c4i::discovery;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  std::vector<AdvReport> reports;
  AdvertisingData ad;
  static Presence presence(PresenceConfig{}, Filters{});
  std::vector<PresenceEvent> events;
  decode_advertising_event(in, reports);
  for (const auto& r : reports) {
    if (r.data.data() < data || r.data.data() + r.data.size() > data + size) std::abort();
    decode_advertising_data(r.data, ad);
    presence.observe(Sighting{r.addr, r.addr_type, r.rssi, 0, &ad}, events);
  }
  // The same bytes as a stream from the simulator.
  sim::H4Framer framer;
  framer.feed(in);
  for (auto ev = framer.next(); !ev.empty(); ev = framer.next()) {
    reports.clear();
    decode_advertising_event(ev, reports);
  }
  return 0;
}
