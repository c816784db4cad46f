#include "gateway-discovery/presence.hpp"

#include <algorithm>
#include <cmath>

namespace c4i::discovery {

const char* change_name(PresenceChange c) {
  switch (c) {
    case PresenceChange::enter: return "enter";
    case PresenceChange::refresh: return "refresh";
    case PresenceChange::below_threshold: return "below_threshold";
    case PresenceChange::timeout: return "timeout";
  }
  return "unknown";
}

Presence::Presence(PresenceConfig config, Filters filters) : config_(config), filters_(std::move(filters)) {}

bool Presence::matches(const DeviceInfo& d) const {
  if (!filters_.addresses.empty() &&
      std::find(filters_.addresses.begin(), filters_.addresses.end(), d.addr) == filters_.addresses.end())
    return false;
  if (!filters_.name_prefixes.empty() &&
      std::none_of(filters_.name_prefixes.begin(), filters_.name_prefixes.end(),
                   [&](const std::string& p) { return d.name.starts_with(p); }))
    return false;
  if (!filters_.service_uuids.empty() &&
      std::none_of(filters_.service_uuids.begin(), filters_.service_uuids.end(), [&](const Uuid& want) {
        return std::any_of(d.services.begin(), d.services.end(), [&](const Uuid& u) { return u.same(want); });
      }))
    return false;
  if (!filters_.manufacturer_ids.empty() &&
      (!d.manufacturer_id || std::find(filters_.manufacturer_ids.begin(), filters_.manufacturer_ids.end(),
                                       *d.manufacturer_id) == filters_.manufacturer_ids.end()))
    return false;
  return true;
}

PresenceEvent Presence::make_event(const Device& d, PresenceChange c, std::int64_t t_ms) const {
  PresenceEvent e;
  e.change = c;
  e.device = d.info;
  e.rssi_dbm = static_cast<int>(std::lround(d.smoothed));
  e.t_ms = t_ms;
  e.last_seen_ms = d.last_seen_ms;
  return e;
}

namespace {

void merge(DeviceInfo& info, const AdvertisingData& ad) {
  if (ad.has_name && (ad.name_complete || !info.name_complete || info.name.empty())) {
    info.name.assign(ad.name);
    info.name_complete = ad.name_complete;
  }
  auto add = [&](const Uuid& u) {
    if (std::none_of(info.services.begin(), info.services.end(), [&](const Uuid& x) { return x == u; }) &&
        info.services.size() < 32)
      info.services.push_back(u);
  };
  for (const auto& u : ad.services) add(u);
  for (const auto& sd : ad.service_data) add(sd.uuid);
  if (ad.manufacturer_id) info.manufacturer_id = ad.manufacturer_id;
  if (ad.tx_power) info.tx_power = ad.tx_power;
  if (ad.appearance) info.appearance = ad.appearance;
}

}  // namespace

void Presence::observe(const Sighting& s, std::vector<PresenceEvent>& out) {
  ++stats_.sightings;
  if (s.rssi_dbm == kRssiNotAvailable) {
    ++stats_.rssi_unavailable;
    return;
  }
  const auto k = key(s.addr, s.addr_type);
  auto it = devices_.find(k);
  if (it == devices_.end()) {
    if (devices_.size() >= config_.max_devices) {
      ++stats_.dropped_full;
      return;
    }
    Device d;
    d.info.addr = s.addr;
    d.info.addr_type = s.addr_type;
    d.smoothed = s.rssi_dbm;
    it = devices_.emplace(k, std::move(d)).first;
  } else {
    const double a = config_.smoothing_alpha;
    it->second.smoothed = a * s.rssi_dbm + (1.0 - a) * it->second.smoothed;
  }
  Device& d = it->second;
  d.last_seen_ms = s.t_ms;
  if (s.ad) merge(d.info, *s.ad);

  if (!matches(d.info)) {
    ++stats_.filtered_out;
    // A device that stops matching (say it changed its name) leaves.
    if (d.present) {
      d.present = false;
      out.push_back(make_event(d, PresenceChange::below_threshold, s.t_ms));
    }
    return;
  }
  if (!d.present) {
    if (d.smoothed >= config_.threshold_dbm) {
      d.present = true;
      d.last_emit_ms = s.t_ms;
      out.push_back(make_event(d, PresenceChange::enter, s.t_ms));
    }
    return;
  }
  if (d.smoothed < config_.threshold_dbm - config_.hysteresis_db) {
    d.present = false;
    out.push_back(make_event(d, PresenceChange::below_threshold, s.t_ms));
    return;
  }
  if (config_.refresh_ms > 0 && s.t_ms - d.last_emit_ms >= config_.refresh_ms) {
    d.last_emit_ms = s.t_ms;
    out.push_back(make_event(d, PresenceChange::refresh, s.t_ms));
  }
}

void Presence::tick(std::int64_t now_ms, std::vector<PresenceEvent>& out) {
  for (auto it = devices_.begin(); it != devices_.end();) {
    Device& d = it->second;
    if (now_ms - d.last_seen_ms >= config_.lost_after_ms) {
      if (d.present) out.push_back(make_event(d, PresenceChange::timeout, now_ms));
      it = devices_.erase(it);
      continue;
    }
    if (d.present && config_.refresh_ms > 0 && now_ms - d.last_emit_ms >= config_.refresh_ms) {
      d.last_emit_ms = now_ms;
      out.push_back(make_event(d, PresenceChange::refresh, now_ms));
    }
    ++it;
  }
}

std::size_t Presence::present() const {
  return static_cast<std::size_t>(
      std::count_if(devices_.begin(), devices_.end(), [](const auto& kv) { return kv.second.present; }));
}

}  // namespace c4i::discovery
