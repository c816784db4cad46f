#include "gateway-discovery/events.hpp"

#include <nlohmann/json.hpp>

namespace c4i::discovery {

namespace {
std::string dump(const nlohmann::json& j) {
  // Names come from the air: replace invalid UTF-8 instead of throwing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace

std::string presence_event_json(const PresenceEvent& e) {
  nlohmann::json j;
  j["type"] = e.seen() ? "device.seen" : "device.lost";
  j["t"] = e.t_ms;
  j["reason"] = change_name(e.change);
  j["addr"] = e.device.addr.str();
  j["addr_type"] = addr_type_base_name(e.device.addr_type);
  j["rssi"] = e.rssi_dbm;
  if (e.seen()) {
    if (!e.device.name.empty()) j["name"] = e.device.name;
    if (!e.device.services.empty()) {
      auto& s = j["services"] = nlohmann::json::array();
      for (const auto& u : e.device.services) s.push_back(u.str());
    }
    if (e.device.manufacturer_id) j["manufacturer_id"] = *e.device.manufacturer_id;
    if (e.device.tx_power) j["tx_power"] = *e.device.tx_power;
    if (e.device.appearance) j["appearance"] = *e.device.appearance;
  } else {
    j["last_seen_t"] = e.last_seen_ms;
  }
  return dump(j);
}

std::string heartbeat_json(const Heartbeat& h) {
  nlohmann::json j;
  j["type"] = "gateway.heartbeat";
  j["t"] = h.t_ms;
  j["cpu"] = h.cpu;
  j["mem"] = h.mem;
  j["arch"] = h.arch;
  j["cpu_capacity_m"] = h.cpu_capacity_m;
  j["mem_capacity_mb"] = h.mem_capacity_mb;
  return dump(j);
}

std::string batch_body(const std::string& gateway, const std::string& boot_id, std::span<const OutboxRow> rows) {
  std::string body = "{\"gateway\":" + dump(nlohmann::json(gateway)) + ",\"boot_id\":" + dump(nlohmann::json(boot_id)) +
                     ",\"seq\":" + std::to_string(rows.empty() ? 0 : rows.front().seq) + ",\"events\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i) body.push_back(',');
    // The stored payload is an object without "seq": splice it in first.
    body += "{\"seq\":" + std::to_string(rows[i].seq);
    const auto& p = rows[i].payload;
    if (p.size() > 2) {
      body.push_back(',');
      body.append(p, 1, std::string::npos);
    } else {
      body.push_back('}');
    }
  }
  body += "]}";
  return body;
}

}  // namespace c4i::discovery
