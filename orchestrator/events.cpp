#include "orchestrator/events.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace c4i::orchestrator {

using nlohmann::json;

const char* to_string(EventType t) {
  switch (t) {
    case EventType::device_seen: return "device.seen";
    case EventType::device_lost: return "device.lost";
    case EventType::gateway_heartbeat: return "gateway.heartbeat";
  }
  return "?";
}

bool valid_bd_addr(std::string_view s) {
  if (s.size() != 17) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i % 3 == 2) {
      if (c != ':') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

namespace {

Error bad(const std::string& field, const std::string& what) { return Error{"invalid_batch", field + ": " + what}; }

// Field accessors: each returns an error naming `where.key`, or the value.
const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::optional<Error> get_int(const json& obj, const char* key, const std::string& where, std::int64_t& out,
                             bool required = true, std::int64_t lo = INT64_MIN, std::int64_t hi = INT64_MAX) {
  const json* v = field(obj, key);
  std::string name = where + key;
  if (!v) {
    if (required) return bad(name, "is required");
    return std::nullopt;
  }
  if (!v->is_number_integer()) return bad(name, "must be an integer");
  if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    return bad(name, "is out of range");
  std::int64_t x = v->get<std::int64_t>();
  if (x < lo || x > hi) return bad(name, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::to_string(x));
  out = x;
  return std::nullopt;
}

std::optional<Error> get_str(const json& obj, const char* key, const std::string& where, std::string& out,
                             bool required = true, std::size_t max_len = 256) {
  const json* v = field(obj, key);
  std::string name = where + key;
  if (!v) {
    if (required) return bad(name, "is required");
    return std::nullopt;
  }
  if (!v->is_string()) return bad(name, "must be a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) return bad(name, "is longer than " + std::to_string(max_len) + " characters");
  out = s;
  return std::nullopt;
}

std::optional<Error> get_share(const json& obj, const char* key, const std::string& where, double& out) {
  const json* v = field(obj, key);
  std::string name = where + key;
  if (!v) return bad(name, "is required");
  if (!v->is_number()) return bad(name, "must be a number");
  double x = v->get<double>();
  if (!(x >= 0.0 && x <= 1.0)) return bad(name, "must be between 0 and 1");
  out = x;
  return std::nullopt;
}

std::optional<Error> parse_device_fields(const json& e, const std::string& where, GatewayEvent& ev, bool seen) {
  if (auto err = get_str(e, "addr", where, ev.addr)) return err;
  if (!valid_bd_addr(ev.addr)) return bad(where + "addr", "must be a lowercase BD_ADDR aa:bb:cc:dd:ee:ff");
  if (auto err = get_str(e, "addr_type", where, ev.addr_type, seen)) return err;
  if (!ev.addr_type.empty() && ev.addr_type != "public" && ev.addr_type != "random")
    return bad(where + "addr_type", "must be public or random");
  std::int64_t rssi = 0;
  bool has_rssi = field(e, "rssi") != nullptr;
  if (auto err = get_int(e, "rssi", where, rssi, seen, -127, 127)) return err;
  if (has_rssi) ev.rssi_dbm = static_cast<int>(rssi);
  if (auto err = get_str(e, "reason", where, ev.reason, false, 32)) return err;
  if (seen) {
    if (auto err = get_str(e, "name", where, ev.name, false, 248)) return err;  // Core v5.3, Vol 3, Part C, 12.1: name up to 248 octets
    if (const json* s = field(e, "services")) {
      if (!s->is_array()) return bad(where + "services", "must be a list of strings");
      if (s->size() > 64) return bad(where + "services", "has more than 64 entries");
      std::size_t k = 0;
      for (const auto& u : *s) {
        if (!u.is_string() || u.get_ref<const std::string&>().size() > 36)
          return bad(where + "services[" + std::to_string(k) + "]", "must be a UUID string");
        ev.services.push_back(u.get<std::string>());
        ++k;
      }
    }
  } else {
    std::int64_t last = 0;
    bool has_last = field(e, "last_seen_t") != nullptr;
    if (auto err = get_int(e, "last_seen_t", where, last, false, 0)) return err;
    if (has_last) ev.last_seen_t_ms = last;
  }
  return std::nullopt;
}

}  // namespace

Result<EventBatch> parse_event_batch(std::string_view body, const BatchLimits& limits) {
  json doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded()) return Error{"invalid_json", "the body is not valid JSON"};
  if (!doc.is_object()) return bad("(body)", "must be a JSON object");
  EventBatch b;
  if (auto err = get_str(doc, "gateway", "", b.gateway)) return *err;
  if (b.gateway.empty()) return bad("gateway", "must not be empty");
  if (auto err = get_str(doc, "boot_id", "", b.boot_id, true, 64)) return *err;
  if (b.boot_id.empty()) return bad("boot_id", "must not be empty");
  if (auto err = get_int(doc, "seq", "", b.seq, true, 1)) return *err;
  const json* events = field(doc, "events");
  if (!events) return bad("events", "is required");
  if (!events->is_array()) return bad("events", "must be a list");
  if (events->empty()) return bad("events", "must hold at least one event");
  if (events->size() > limits.max_events)
    return Error{"too_many_events", "events: " + std::to_string(events->size()) + " events, at most " +
                                        std::to_string(limits.max_events) + " per batch"};
  b.events.reserve(events->size());
  for (std::size_t i = 0; i < events->size(); ++i) {
    const json& e = (*events)[i];
    std::string where = "events[" + std::to_string(i) + "].";
    if (!e.is_object()) return bad("events[" + std::to_string(i) + "]", "must be an object");
    GatewayEvent ev;
    if (auto err = get_int(e, "seq", where, ev.seq, true, 1)) return *err;
    std::int64_t expected = b.seq + static_cast<std::int64_t>(i);
    if (ev.seq != expected)
      return bad(where + "seq", "must be " + std::to_string(expected) + " (contiguous from the batch seq), got " + std::to_string(ev.seq));
    std::string type;
    if (auto err = get_str(e, "type", where, type)) return *err;
    if (auto err = get_int(e, "t", where, ev.t_ms, true, 0)) return *err;
    if (type == "device.seen") {
      ev.type = EventType::device_seen;
      if (auto err = parse_device_fields(e, where, ev, true)) return *err;
    } else if (type == "device.lost") {
      ev.type = EventType::device_lost;
      if (auto err = parse_device_fields(e, where, ev, false)) return *err;
    } else if (type == "gateway.heartbeat") {
      ev.type = EventType::gateway_heartbeat;
      if (auto err = get_share(e, "cpu", where, ev.cpu)) return *err;
      if (auto err = get_share(e, "mem", where, ev.mem)) return *err;
      if (auto err = get_str(e, "arch", where, ev.arch, false, 32)) return *err;
      if (auto err = get_int(e, "cpu_capacity_m", where, ev.cpu_capacity_m, false, 0, 1'000'000'000)) return *err;
      if (auto err = get_int(e, "mem_capacity_mb", where, ev.mem_capacity_mb, false, 0, 1'000'000'000)) return *err;
    } else {
      return bad(where + "type", "must be device.seen, device.lost or gateway.heartbeat, got \"" + type.substr(0, 40) + "\"");
    }
    b.events.push_back(std::move(ev));
  }
  return b;
}

ClampCounts clamp_event_times(EventBatch& b, std::int64_t received_ms, const TimeBounds& bounds) {
  ClampCounts c;
  auto clamp = [&](std::int64_t& t) {
    // No overflow: the parser admits only t >= 0, and received_ms >= 0.
    const std::int64_t skew = t - received_ms;
    if (skew > bounds.future_ms) {
      c.future++;
    } else if (skew < -bounds.past_ms) {
      c.past++;
    } else {
      return;
    }
    c.worst_skew_ms = std::max(c.worst_skew_ms, skew < 0 ? -skew : skew);
    t = received_ms;
  };
  for (auto& e : b.events) {
    clamp(e.t_ms);
    if (e.last_seen_t_ms) clamp(*e.last_seen_t_ms);
  }
  return c;
}

}  // namespace c4i::orchestrator
