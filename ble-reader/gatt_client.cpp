#include "ble-reader/gatt_client.hpp"

#include <algorithm>
#include <cstdio>

#include "ble-reader/decoders.hpp"

namespace c4i::reader {
namespace {
std::string hex4(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}
constexpr std::uint8_t kAttributeNotFound = 0x0A;

bool is_known(const Uuid& u) {
  auto v = u.as16();
  return v == kHeartRateMeasurement || v == kBatteryLevel || v == kTemperatureMeasurement || v == kBodySensorLocation;
}
}  // namespace

std::optional<std::uint16_t> Characteristic::cccd() const {
  for (const auto& d : descriptors)
    if (d.type == Uuid::from16(att::kCccd)) return d.handle;
  return std::nullopt;
}

const Characteristic* Database::find_by_value_handle(std::uint16_t handle) const {
  for (const auto& s : services)
    for (const auto& c : s.characteristics)
      if (c.value_handle == handle) return &c;
  return nullptr;
}

// --- Discovery ---

void GattDiscovery::start(std::uint16_t mtu, Done done, std::int64_t now_ms) {
  done_ = std::move(done);
  db_ = {};
  if (mtu <= att::kDefaultLeMtu) {
    services(0x0001, now_ms);
    return;
  }
  // Vol 3, Part G, 4.3.1 Exchange MTU; the bearer's MTU is the smaller of the two (Part F, 3.4.2.2).
  att_.request(att::encode_exchange_mtu_req(mtu), [this, mtu, now_ms](const AttOutcome& o) {
    if (o.ok()) {
      auto server = att::parse_exchange_mtu(o.pdu);
      if (!server) return fail("Exchange MTU: " + server.error().message);
      att_.set_mtu(std::max<std::uint16_t>(att::kDefaultLeMtu, std::min(mtu, *server)));
    } else if (o.kind != AttOutcome::Kind::att_error) {
      return fail(o.message);
    }  // an Error Response (Request Not Supported) keeps the default MTU
    services(0x0001, now_ms);
  }, now_ms);
}

// Vol 3, Part G, 4.4.1: Read By Group Type on 0x2800 from `from` to 0xFFFF
// until Attribute Not Found or the last group ends at 0xFFFF.
void GattDiscovery::services(std::uint16_t from, std::int64_t now_ms) {
  att_.request(att::encode_read_by_group_type_req(from, 0xFFFF, Uuid::from16(att::kPrimaryService)),
               [this, from, now_ms](const AttOutcome& o) {
                 if (o.is_att_error(kAttributeNotFound)) return characteristics(0, 0, now_ms);
                 if (!o.ok()) return fail("primary service discovery: " + o.message);
                 auto groups = att::parse_read_by_group_type_rsp(o.pdu);
                 if (!groups) return fail("primary service discovery: " + groups.error().message);
                 std::uint16_t last = 0;
                 for (const auto& g : *groups) {
                   auto uuid = Uuid::from_le(g.value);
                   if (!uuid) return fail("primary service discovery: service UUID of " + std::to_string(g.value.size()) + " bytes");
                   if (g.start < from) return fail("primary service discovery: server went back to " + hex4(g.start));
                   db_.services.push_back(Service{g.start, g.end, *uuid, {}});
                   last = g.end;
                 }
                 if (last == 0xFFFF) return characteristics(0, 0, now_ms);
                 services(static_cast<std::uint16_t>(last + 1), now_ms);
               }, now_ms);
}

// Vol 3, Part G, 4.6.1: Read By Type on 0x2803 within the service range.
void GattDiscovery::characteristics(std::size_t svc, std::uint16_t from, std::int64_t now_ms) {
  if (svc >= db_.services.size()) return next_descriptors(0, 0, now_ms);
  Service& s = db_.services[svc];
  if (from == 0) from = s.start;
  if (from > s.end || from == 0) return characteristics(svc + 1, 0, now_ms);
  att_.request(att::encode_read_by_type_req(from, s.end, Uuid::from16(att::kCharacteristic)),
               [this, svc, from, now_ms](const AttOutcome& o) {
                 if (o.is_att_error(kAttributeNotFound)) return characteristics(svc + 1, 0, now_ms);
                 if (!o.ok()) return fail("characteristic discovery: " + o.message);
                 auto entries = att::parse_read_by_type_rsp(o.pdu);
                 if (!entries) return fail("characteristic discovery: " + entries.error().message);
                 Service& s = db_.services[svc];
                 std::uint16_t last = 0;
                 for (const auto& e : *entries) {
                   auto decl = att::parse_characteristic_decl(e.handle, e.value);
                   if (!decl) return fail("characteristic discovery: " + decl.error().message);
                   if (e.handle < from || e.handle > s.end)
                     return fail("characteristic discovery: declaration " + hex4(e.handle) + " outside " + hex4(from) + ".." + hex4(s.end));
                   Characteristic c;
                   c.decl_handle = decl->decl_handle;
                   c.value_handle = decl->value_handle;
                   c.properties = decl->properties;
                   c.uuid = decl->uuid;
                   c.end_handle = s.end;
                   s.characteristics.push_back(c);
                   last = e.handle;
                 }
                 if (last >= s.end) return characteristics(svc + 1, 0, now_ms);
                 characteristics(svc, static_cast<std::uint16_t>(last + 1), now_ms);
               }, now_ms);
}

// Fixes each characteristic's end (the next declaration - 1) and runs
// descriptor discovery on those with room for descriptors.
void GattDiscovery::next_descriptors(std::size_t svc, std::size_t chr, std::int64_t now_ms) {
  for (; svc < db_.services.size(); ++svc, chr = 0) {
    auto& chars = db_.services[svc].characteristics;
    for (; chr < chars.size(); ++chr) {
      if (chr + 1 < chars.size()) chars[chr].end_handle = static_cast<std::uint16_t>(chars[chr + 1].decl_handle - 1);
      if (chars[chr].value_handle < chars[chr].end_handle)
        return descriptors(svc, chr, static_cast<std::uint16_t>(chars[chr].value_handle + 1), now_ms);
    }
  }
  succeed();
}

// Vol 3, Part G, 4.7.1: Find Information over the characteristic's descriptor range.
void GattDiscovery::descriptors(std::size_t svc, std::size_t chr, std::uint16_t from, std::int64_t now_ms) {
  const std::uint16_t end = db_.services[svc].characteristics[chr].end_handle;
  att_.request(att::encode_find_info_req(from, end), [this, svc, chr, from, end, now_ms](const AttOutcome& o) {
    if (o.is_att_error(kAttributeNotFound)) return next_descriptors(svc, chr + 1, now_ms);
    if (!o.ok()) return fail("descriptor discovery: " + o.message);
    auto entries = att::parse_find_info_rsp(o.pdu);
    if (!entries) return fail("descriptor discovery: " + entries.error().message);
    auto& c = db_.services[svc].characteristics[chr];
    std::uint16_t last = 0;
    for (const auto& e : *entries) {
      if (e.handle < from || e.handle > end)
        return fail("descriptor discovery: handle " + hex4(e.handle) + " outside " + hex4(from) + ".." + hex4(end));
      c.descriptors.push_back(Descriptor{e.handle, e.type});
      last = e.handle;
    }
    if (last >= end) return next_descriptors(svc, chr + 1, now_ms);
    descriptors(svc, chr, static_cast<std::uint16_t>(last + 1), now_ms);
  }, now_ms);
}

void GattDiscovery::fail(const std::string& message) {
  if (done_) {
    auto d = std::move(done_);
    done_ = nullptr;
    d(Error{"discovery_failed", message});
  }
}

void GattDiscovery::succeed() {
  if (done_) {
    auto d = std::move(done_);
    done_ = nullptr;
    d(std::move(db_));
  }
}

// --- Session ---

Session::Session(AttClient& att, SessionOptions options, Callbacks callbacks)
    : att_(att), options_(std::move(options)), cb_(std::move(callbacks)), discovery_(att) {
  att_.set_value_handler([this](const att::HandleValue& hv) { on_value(hv); });
}

void Session::fatal(const std::string& line) {
  if (state_ == State::failed || state_ == State::stopped) return;
  state_ = State::failed;
  if (cb_.problem) cb_.problem(line, true);
}

void Session::start(std::int64_t now_ms) {
  state_ = State::discovering;
  discovery_.start(options_.mtu, [this, now_ms](Result<Database> db) { on_discovered(std::move(db), now_ms); }, now_ms);
}

void Session::on_discovered(Result<Database> db, std::int64_t now_ms) {
  if (state_ != State::discovering) return;
  if (!db) return fatal(db.error().message);
  db_ = std::move(db.value());
  state_ = State::subscribing;

  std::vector<const Characteristic*> reads;
  std::vector<Subscription> wanted;
  for (const auto& s : db_.services) {
    for (const auto& c : s.characteristics) {
      const bool selected = options_.characteristics.empty()
                                ? true
                                : std::find(options_.characteristics.begin(), options_.characteristics.end(), c.uuid) !=
                                      options_.characteristics.end();
      if (!selected) continue;
      if (options_.read_known && (c.properties & att::kPropRead) && is_known(c.uuid)) reads.push_back(&c);
      const bool can_ntf = c.properties & att::kPropNotify, can_ind = c.properties & att::kPropIndicate;
      if (!can_ntf && !can_ind) continue;
      auto cccd = c.cccd();
      if (!cccd) {
        if (cb_.problem)
          cb_.problem("characteristic " + c.uuid.str() + " at " + hex4(c.value_handle) + " can notify but has no CCCD; skipped", false);
        continue;
      }
      wanted.push_back(Subscription{c.value_handle, *cccd, can_ind && (options_.prefer_indications || !can_ntf), c.uuid});
    }
  }
  if (wanted.empty()) return fatal("the device has no characteristic to subscribe to");

  pending_ = reads.size() + wanted.size();
  enabling_ = wanted;
  auto phase_done = [this]() {
    if (--pending_ != 0 || state_ != State::subscribing) return;
    if (subs_.empty()) return fatal("no subscription succeeded");
    state_ = State::streaming;
    if (cb_.streaming) cb_.streaming(subs_.size());
  };
  for (const Characteristic* c : reads) {
    const std::uint16_t handle = c->value_handle;
    const Uuid uuid = c->uuid;
    att_.request(att::encode_read_req(handle), [this, handle, uuid, phase_done](const AttOutcome& o) {
      if (state_ != State::subscribing) return;
      if (o.ok()) {
        auto v = att::parse_read_rsp(o.pdu);
        if (v && cb_.sample) cb_.sample(Sample{Sample::Source::read, handle, uuid, {v->begin(), v->end()}});
      } else if (o.kind == AttOutcome::Kind::att_error) {
        if (cb_.problem) cb_.problem("read of " + uuid.str() + ": " + o.message, false);
      } else {
        return fatal("read of " + uuid.str() + ": " + o.message);
      }
      phase_done();
    }, now_ms);
  }
  for (const Subscription& w : wanted) {
    // Vol 3, Part G, 3.3.3.3: CCCD bit 0 notifications, bit 1 indications.
    const std::uint8_t v[2] = {static_cast<std::uint8_t>(w.indication ? 0x02 : 0x01), 0x00};
    att_.request(att::encode_write_req(w.cccd_handle, v), [this, w, phase_done](const AttOutcome& o) {
      if (o.kind == AttOutcome::Kind::att_error)
        std::erase_if(enabling_, [&](const Subscription& e) { return e.cccd_handle == w.cccd_handle; });
      if (state_ != State::subscribing) return;
      if (o.ok()) {
        subs_.push_back(w);
      } else if (o.kind == AttOutcome::Kind::att_error) {
        if (cb_.problem)
          cb_.problem("enabling " + std::string(w.indication ? "indications" : "notifications") + " on " + w.uuid.str() +
                          ": " + o.message, false);
      } else {
        return fatal("enabling notifications on " + w.uuid.str() + ": " + o.message);
      }
      phase_done();
    }, now_ms);
  }
}

void Session::on_value(const att::HandleValue& hv) {
  if (state_ != State::streaming && state_ != State::subscribing && state_ != State::stopping) return;
  Sample s;
  s.source = hv.indication ? Sample::Source::indication : Sample::Source::notification;
  s.handle = hv.handle;
  if (const auto* c = db_.find_by_value_handle(hv.handle)) s.uuid = c->uuid;
  s.value.assign(hv.value.begin(), hv.value.end());
  if (cb_.sample) cb_.sample(s);
}

void Session::stop(std::int64_t now_ms) {
  if (state_ == State::stopping || state_ == State::stopped) return;
  const bool can_write = att_.open() && state_ != State::failed;
  state_ = State::stopping;
  // Stopping in the middle of subscribing: writes still queued will enable
  // their CCCD before ours run, so undo every one not refused.
  std::vector<Subscription> subs = enabling_;
  if (!can_write || subs.empty()) {
    state_ = State::stopped;
    if (cb_.stopped) cb_.stopped();
    return;
  }
  pending_ = subs.size();
  for (const auto& s : subs) {
    const std::uint8_t off[2] = {0x00, 0x00};
    att_.request(att::encode_write_req(s.cccd_handle, off), [this, s](const AttOutcome& o) {
      if (!o.ok() && cb_.problem) cb_.problem("disabling notifications on " + s.uuid.str() + ": " + o.message, false);
      if (--pending_ == 0 && state_ == State::stopping) {
        state_ = State::stopped;
        if (cb_.stopped) cb_.stopped();
      }
    }, now_ms);
  }
}

}  // namespace c4i::reader
