// Presence: which devices this gateway considers present, from a stream of
// sightings. Pure: time is an input (Unix ms). Per device the RSSI is
// smoothed (EWMA); a device enters when the smoothed RSSI reaches the
// threshold and leaves when it falls below threshold - hysteresis, or after
// lost_after without a sighting. Only changes (and periodic refreshes while
// present) come out, never every advertisement.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway-discovery/advertising_data.hpp"
#include "gateway-discovery/hci_events.hpp"

namespace c4i::discovery {

struct PresenceConfig {
  double threshold_dbm = -70;
  double hysteresis_db = 6;
  double smoothing_alpha = 0.3;  // weight of the newest RSSI, (0, 1]
  std::int64_t lost_after_ms = 30'000;
  std::int64_t refresh_ms = 60'000;  // 0: no refreshes
  std::size_t max_devices = 4096;    // tracked at once; beyond it new devices are dropped (counted)
};

// Which devices the gateway reports at all; an empty list does not filter.
// A device must match every non-empty list. Name, services and manufacturer
// are what the device has advertised so far (a name often comes only in
// the scan response).
struct Filters {
  std::vector<BdAddr> addresses;
  std::vector<std::string> name_prefixes;
  std::vector<Uuid> service_uuids;
  std::vector<std::uint16_t> manufacturer_ids;
  bool empty() const {
    return addresses.empty() && name_prefixes.empty() && service_uuids.empty() && manufacturer_ids.empty();
  }
};

// One advertising report, reduced to what presence needs.
struct Sighting {
  BdAddr addr;
  std::uint8_t addr_type = 0;
  int rssi_dbm = 0;
  std::int64_t t_ms = 0;
  const AdvertisingData* ad = nullptr;  // optional
};

// What is known about a device: merged from all its reports.
struct DeviceInfo {
  BdAddr addr;
  std::uint8_t addr_type = 0;
  std::string name;
  bool name_complete = false;
  std::vector<Uuid> services;
  std::optional<std::uint16_t> manufacturer_id;
  std::optional<std::int8_t> tx_power;
  std::optional<std::uint16_t> appearance;
};

enum class PresenceChange { enter, refresh, below_threshold, timeout };

struct PresenceEvent {
  PresenceChange change = PresenceChange::enter;
  bool seen() const { return change == PresenceChange::enter || change == PresenceChange::refresh; }
  DeviceInfo device;
  int rssi_dbm = 0;  // smoothed, rounded
  std::int64_t t_ms = 0;
  std::int64_t last_seen_ms = 0;
};

const char* change_name(PresenceChange c);  // "enter", "refresh", "below_threshold", "timeout"

struct PresenceStats {
  std::uint64_t sightings = 0;
  std::uint64_t filtered_out = 0;       // sightings of devices the filters exclude
  std::uint64_t dropped_full = 0;       // sightings of new devices when max_devices were tracked
  std::uint64_t rssi_unavailable = 0;   // reports with RSSI 127
};

class Presence {
 public:
  Presence(PresenceConfig config, Filters filters);
  // Feeds one sighting; appends the events it causes.
  void observe(const Sighting& s, std::vector<PresenceEvent>& out);
  // Advances time: timeouts and refreshes; forgets devices unseen for lost_after.
  void tick(std::int64_t now_ms, std::vector<PresenceEvent>& out);
  std::size_t tracked() const { return devices_.size(); }
  std::size_t present() const;
  const PresenceStats& stats() const { return stats_; }
  const PresenceConfig& config() const { return config_; }

 private:
  struct Device {
    DeviceInfo info;
    double smoothed = 0;
    bool present = false;
    std::int64_t last_seen_ms = 0;
    std::int64_t last_emit_ms = 0;
  };
  static std::uint64_t key(const BdAddr& a, std::uint8_t type) { return (a.key() << 8) | type; }
  bool matches(const DeviceInfo& d) const;
  PresenceEvent make_event(const Device& d, PresenceChange c, std::int64_t t_ms) const;

  PresenceConfig config_;
  Filters filters_;
  std::unordered_map<std::uint64_t, Device> devices_;
  PresenceStats stats_;
};

}  // namespace c4i::discovery
