#include "ble-reader/gatt_peripheral.hpp"

#include <algorithm>

namespace c4i::reader {
namespace {
using att::Opcode;
constexpr std::uint8_t kInvalidHandle = 0x01, kReadNotPermitted = 0x02, kWriteNotPermitted = 0x03,
                       kInvalidPdu = 0x04, kRequestNotSupported = 0x06, kAttributeNotFound = 0x0A,
                       kInvalidLength = 0x0D, kUnsupportedGroupType = 0x10;

std::uint16_t le16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>(b[at] | (b[at + 1] << 8));
}
void put16(att::Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}
att::Bytes u16le(std::uint16_t v) {
  att::Bytes b;
  put16(b, v);
  return b;
}
att::Bytes decl(std::uint8_t props, std::uint16_t value_handle, std::uint16_t uuid) {
  att::Bytes b{props};
  put16(b, value_handle);
  put16(b, uuid);
  return b;
}
}  // namespace

GattPeripheral::GattPeripheral(PeripheralConfig config) : config_(std::move(config)), bpm_(config_.heart_rate_bpm) {
  const std::uint8_t hr_props = config_.heart_rate_indications ? att::kPropIndicate : att::kPropNotify;
  att::Bytes name(config_.device_name.begin(), config_.device_name.end());
  db_ = {
      {0x0001, att::kPrimaryService, u16le(0x1800)},
      {0x0002, att::kCharacteristic, decl(att::kPropRead, kDeviceNameHandle, 0x2A00)},
      {kDeviceNameHandle, 0x2A00, name},
      {kHeartRateServiceHandle, att::kPrimaryService, u16le(0x180D)},
      {0x0005, att::kCharacteristic, decl(hr_props, kHeartRateMeasurementHandle, 0x2A37)},
      // GSS: Heart Rate Measurement is notify/indicate only, so reading it is not permitted.
      {kHeartRateMeasurementHandle, 0x2A37, {}, false, false},
      {kHeartRateCccdHandle, att::kCccd, {0x00, 0x00}, true, true},
      {0x0008, att::kCharacteristic, decl(att::kPropRead, kBodySensorLocationHandle, 0x2A38)},
      {kBodySensorLocationHandle, 0x2A38, {0x01}},  // Chest
      {kBatteryServiceHandle, att::kPrimaryService, u16le(0x180F)},
      {0x000B, att::kCharacteristic, decl(att::kPropRead | att::kPropNotify, kBatteryLevelHandle, 0x2A19)},
      {kBatteryLevelHandle, 0x2A19, {config_.battery_level}},
      {kBatteryCccdHandle, att::kCccd, {0x00, 0x00}, true, true},
  };
}

void GattPeripheral::connect(std::int64_t now_ms) {
  mtu_ = att::kDefaultLeMtu;
  indication_outstanding_ = false;
  sent_this_connection_ = 0;
  next_hr_ms_ = now_ms;
  next_battery_ms_ = now_ms;
  for (auto& a : db_)
    if (a.type == att::kCccd) a.value = {0x00, 0x00};
}

const GattPeripheral::Attribute* GattPeripheral::find(std::uint16_t handle) const {
  for (const auto& a : db_)
    if (a.handle == handle) return &a;
  return nullptr;
}
GattPeripheral::Attribute* GattPeripheral::find(std::uint16_t handle) {
  for (auto& a : db_)
    if (a.handle == handle) return &a;
  return nullptr;
}

std::uint16_t GattPeripheral::cccd(std::uint16_t handle) const {
  const Attribute* a = find(handle);
  return a && a->value.size() == 2 ? le16(a->value, 0) : 0;
}

att::Bytes GattPeripheral::error(std::uint8_t opcode, std::uint16_t handle, std::uint8_t code) {
  ++stats_.errors_sent;
  return att::encode_error_rsp(opcode, handle, code);
}

std::optional<att::Bytes> GattPeripheral::injected(std::uint8_t opcode, std::uint16_t handle) {
  if (!config_.inject_error || config_.inject_error->request_opcode != opcode) return std::nullopt;
  if (config_.inject_error->handle != 0 && config_.inject_error->handle != handle) return std::nullopt;
  return error(opcode, handle, config_.inject_error->code);
}

std::vector<att::Bytes> GattPeripheral::receive(std::span<const std::uint8_t> pdu, std::int64_t) {
  if (pdu.empty()) {
    ++stats_.malformed;
    return {};
  }
  const std::uint8_t op = pdu[0];
  if (op == static_cast<std::uint8_t>(Opcode::handle_value_cfm)) {
    ++stats_.confirmations;
    indication_outstanding_ = false;
    return {};
  }
  if (!att::is_request(op)) {
    if (op == static_cast<std::uint8_t>(Opcode::write_cmd) && !config_.silent) (void)write(pdu, false);
    return {};
  }
  ++stats_.requests;
  if (config_.silent) return {};
  switch (static_cast<Opcode>(op)) {
    case Opcode::exchange_mtu_req: {
      auto client = att::parse_exchange_mtu(pdu);
      if (!client) return {error(op, 0, kInvalidPdu)};
      mtu_ = std::max(att::kDefaultLeMtu, std::min(*client, config_.mtu));
      return {att::encode_exchange_mtu_rsp(config_.mtu)};
    }
    case Opcode::read_by_group_type_req: return {read_by_group_type(pdu)};
    case Opcode::read_by_type_req: return {read_by_type(pdu)};
    case Opcode::find_info_req: return {find_information(pdu)};
    case Opcode::read_req: return {read(pdu)};
    case Opcode::write_req: {
      auto r = write(pdu, true);
      if (r) return {*r};
      return {};
    }
    default: return {error(op, 0, kRequestNotSupported)};
  }
}

// Vol 3, Part F, 3.4.4.9 / 3.4.4.10; only primary services group here.
att::Bytes GattPeripheral::read_by_group_type(std::span<const std::uint8_t> pdu) {
  const std::uint8_t op = pdu[0];
  auto req = att::parse_typed_range_req(pdu);
  if (!req) return error(op, 0, kInvalidPdu);
  const auto [start, end] = req->range;
  if (start == 0 || start > end) return error(op, start, kInvalidHandle);
  if (auto e = injected(op, start)) return *e;
  if (req->type != Uuid::from16(att::kPrimaryService)) return error(op, start, kUnsupportedGroupType);
  att::Bytes out{static_cast<std::uint8_t>(Opcode::read_by_group_type_rsp), 6};
  for (std::size_t i = 0; i < db_.size(); ++i) {
    const Attribute& a = db_[i];
    if (a.type != att::kPrimaryService || a.handle < start || a.handle > end) continue;
    std::uint16_t group_end = 0xFFFF;
    for (std::size_t j = i + 1; j < db_.size(); ++j)
      if (db_[j].type == att::kPrimaryService) {
        group_end = static_cast<std::uint16_t>(db_[j].handle - 1);
        break;
      }
    if (out.size() + 6 > mtu_) break;
    put16(out, a.handle);
    put16(out, group_end);
    out.insert(out.end(), a.value.begin(), a.value.end());
  }
  if (out.size() == 2) return error(op, start, kAttributeNotFound);
  return out;
}

// Vol 3, Part F, 3.4.4.1 / 3.4.4.2: every entry has the length of the first.
att::Bytes GattPeripheral::read_by_type(std::span<const std::uint8_t> pdu) {
  const std::uint8_t op = pdu[0];
  auto req = att::parse_typed_range_req(pdu);
  if (!req) return error(op, 0, kInvalidPdu);
  const auto [start, end] = req->range;
  if (start == 0 || start > end) return error(op, start, kInvalidHandle);
  if (auto e = injected(op, start)) return *e;
  att::Bytes out{static_cast<std::uint8_t>(Opcode::read_by_type_rsp), 0};
  std::size_t len = 0;
  for (const Attribute& a : db_) {
    if (a.handle < start || a.handle > end || Uuid::from16(a.type) != req->type) continue;
    if (!a.readable) {
      if (len == 0) return error(op, a.handle, kReadNotPermitted);
      break;
    }
    const std::size_t vlen = std::min<std::size_t>(a.value.size(), std::min<std::size_t>(253, mtu_ - 4));
    if (len == 0) len = vlen;
    else if (vlen != len) break;
    if (out.size() + 2 + len > mtu_) break;
    put16(out, a.handle);
    out.insert(out.end(), a.value.begin(), a.value.begin() + static_cast<std::ptrdiff_t>(len));
  }
  if (out.size() == 2) return error(op, start, kAttributeNotFound);
  out[1] = static_cast<std::uint8_t>(2 + len);
  return out;
}

// Vol 3, Part F, 3.4.3.1 / 3.4.3.2: format 1 (16-bit UUIDs) for this database.
att::Bytes GattPeripheral::find_information(std::span<const std::uint8_t> pdu) {
  const std::uint8_t op = pdu[0];
  auto req = att::parse_find_info_req(pdu);
  if (!req) return error(op, 0, kInvalidPdu);
  if (req->start == 0 || req->start > req->end) return error(op, req->start, kInvalidHandle);
  if (auto e = injected(op, req->start)) return *e;
  att::Bytes out{static_cast<std::uint8_t>(Opcode::find_info_rsp), 0x01};
  for (const Attribute& a : db_) {
    if (a.handle < req->start || a.handle > req->end) continue;
    if (out.size() + 4 > mtu_) break;
    put16(out, a.handle);
    put16(out, a.type);
  }
  if (out.size() == 2) return error(op, req->start, kAttributeNotFound);
  return out;
}

att::Bytes GattPeripheral::read(std::span<const std::uint8_t> pdu) {
  const std::uint8_t op = pdu[0];
  auto handle = att::parse_read_req(pdu);
  if (!handle) return error(op, 0, kInvalidPdu);
  if (auto e = injected(op, *handle)) return *e;
  const Attribute* a = find(*handle);
  if (!a) return error(op, *handle, kInvalidHandle);
  if (!a->readable) return error(op, *handle, kReadNotPermitted);
  att::Bytes out{static_cast<std::uint8_t>(Opcode::read_rsp)};
  const std::size_t n = std::min<std::size_t>(a->value.size(), mtu_ - 1u);
  out.insert(out.end(), a->value.begin(), a->value.begin() + static_cast<std::ptrdiff_t>(n));
  return out;
}

std::optional<att::Bytes> GattPeripheral::write(std::span<const std::uint8_t> pdu, bool with_response) {
  const std::uint8_t op = pdu[0];
  auto w = att::parse_write(pdu);
  if (!w) return with_response ? std::optional(error(op, 0, kInvalidPdu)) : std::nullopt;
  if (with_response) {
    if (auto e = injected(op, w->handle)) return *e;
  }
  Attribute* a = find(w->handle);
  if (!a) return with_response ? std::optional(error(op, w->handle, kInvalidHandle)) : std::nullopt;
  if (!a->writable) return with_response ? std::optional(error(op, w->handle, kWriteNotPermitted)) : std::nullopt;
  // Vol 3, Part G, 3.3.3.3: the CCCD value is two octets.
  if (a->type == att::kCccd && w->value.size() != 2)
    return with_response ? std::optional(error(op, w->handle, kInvalidLength)) : std::nullopt;
  a->value.assign(w->value.begin(), w->value.end());
  if (a->type == att::kCccd) stats_.cccd_writes.push_back({w->handle, le16(w->value, 0)});
  if (!with_response) return std::nullopt;
  return att::Bytes{static_cast<std::uint8_t>(Opcode::write_rsp)};
}

att::Bytes GattPeripheral::next_heart_rate_value() const {
  // GSS 3.113 flags: bit 0 16-bit rate, bits 1-2 sensor contact (supported, detected), bit 3 energy, bit 4 RR.
  std::uint8_t flags = 0x06;
  if (config_.heart_rate_16bit) flags |= 0x01;
  if (config_.energy_expended) flags |= 0x08;
  if (config_.rr_intervals) flags |= 0x10;
  att::Bytes v{flags};
  if (config_.heart_rate_16bit) put16(v, bpm_);
  else v.push_back(static_cast<std::uint8_t>(std::min<std::uint16_t>(bpm_, 255)));
  if (config_.energy_expended) put16(v, static_cast<std::uint16_t>(stats_.notifications + stats_.indications));
  if (config_.rr_intervals) put16(v, static_cast<std::uint16_t>(bpm_ ? 60 * 1024 / bpm_ : 0));
  return v;
}

std::vector<att::Bytes> GattPeripheral::poll(std::int64_t now_ms) {
  std::vector<att::Bytes> out;
  if (config_.silent || wants_disconnect()) return out;
  const std::uint16_t hr_cccd = cccd(kHeartRateCccdHandle);
  if (hr_cccd != 0 && now_ms >= next_hr_ms_) {
    const bool indicate = config_.heart_rate_indications && (hr_cccd & 0x0002);
    const bool notify = !config_.heart_rate_indications && (hr_cccd & 0x0001);
    if (indicate && !indication_outstanding_) {
      out.push_back(att::encode_handle_value(Opcode::handle_value_ind, kHeartRateMeasurementHandle, next_heart_rate_value()));
      indication_outstanding_ = true;
      ++stats_.indications;
    } else if (notify) {
      out.push_back(att::encode_handle_value(Opcode::handle_value_ntf, kHeartRateMeasurementHandle, next_heart_rate_value()));
      ++stats_.notifications;
    }
    if (!out.empty()) {
      ++sent_this_connection_;
      bpm_ = static_cast<std::uint16_t>(bpm_ >= config_.heart_rate_bpm + 8 ? config_.heart_rate_bpm : bpm_ + 1);
      next_hr_ms_ = now_ms + std::max<std::int64_t>(1, config_.heart_rate_interval_ms);
    }
  }
  if (config_.battery_interval_ms > 0 && (cccd(kBatteryCccdHandle) & 0x0001) && now_ms >= next_battery_ms_ &&
      !wants_disconnect()) {
    Attribute* level = find(kBatteryLevelHandle);
    out.push_back(att::encode_handle_value(Opcode::handle_value_ntf, kBatteryLevelHandle, level->value));
    if (level->value[0] > 0) --level->value[0];
    ++stats_.notifications;
    ++sent_this_connection_;
    next_battery_ms_ = now_ms + config_.battery_interval_ms;
  }
  return out;
}

std::optional<std::int64_t> GattPeripheral::next_due() const {
  if (config_.silent || wants_disconnect()) return std::nullopt;
  std::optional<std::int64_t> due;
  const std::uint16_t hr = cccd(kHeartRateCccdHandle);
  const bool hr_active = config_.heart_rate_indications ? (hr & 0x0002) && !indication_outstanding_ : (hr & 0x0001);
  if (hr_active) due = next_hr_ms_;
  if (config_.battery_interval_ms > 0 && (cccd(kBatteryCccdHandle) & 0x0001))
    due = due ? std::min(*due, next_battery_ms_) : next_battery_ms_;
  return due;
}

bool GattPeripheral::wants_disconnect() const {
  return config_.disconnect_after_notifications != 0 && sent_this_connection_ >= config_.disconnect_after_notifications;
}

}  // namespace c4i::reader
