#include "gateway-discovery/sim_wire.hpp"

#include <algorithm>

namespace c4i::discovery::sim {

std::string hello_line(std::string_view gateway) {
  return "C4I-SIM " + std::to_string(kProtocolVersion) + " " + std::string(gateway) + "\n";
}

Result<std::string> parse_hello(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  constexpr std::string_view prefix = "C4I-SIM ";
  if (!line.starts_with(prefix)) return Error{"protocol", "sim: greeting does not start with 'C4I-SIM '"};
  line.remove_prefix(prefix.size());
  const auto sp = line.find(' ');
  if (sp == std::string_view::npos) return Error{"protocol", "sim: greeting has no gateway name"};
  if (line.substr(0, sp) != std::to_string(kProtocolVersion))
    return Error{"protocol", "sim: unsupported protocol version '" + std::string(line.substr(0, sp)) + "'"};
  std::string gw(line.substr(sp + 1));
  if (gw.empty() || gw.size() > 253 ||
      std::any_of(gw.begin(), gw.end(), [](char c) { return c <= ' ' || c == 0x7F; }))
    return Error{"protocol", "sim: bad gateway name in greeting"};
  return gw;
}

Result<std::vector<std::uint8_t>> encode_ad(const Advert& a) {
  std::vector<std::uint8_t> out;
  auto put = [&](std::uint8_t type, std::span<const std::uint8_t> data) {
    out.push_back(static_cast<std::uint8_t>(data.size() + 1));
    out.push_back(type);
    out.insert(out.end(), data.begin(), data.end());
  };
  if (a.flags) put(kAdFlags, std::span(&*a.flags, 1));
  for (std::uint8_t size : {2, 4, 16}) {
    std::vector<std::uint8_t> list;
    for (const auto& u : a.services)
      if (u.size == size) list.insert(list.end(), u.le.begin(), u.le.begin() + size);
    if (!list.empty())
      put(size == 2 ? kAdComplete16 : size == 4 ? kAdComplete32 : kAdComplete128, list);
  }
  if (a.tx_power) {
    const auto b = static_cast<std::uint8_t>(*a.tx_power);
    put(kAdTxPower, std::span(&b, 1));
  }
  if (a.appearance) {
    const std::uint8_t b[2] = {static_cast<std::uint8_t>(*a.appearance & 0xFF),
                               static_cast<std::uint8_t>(*a.appearance >> 8)};
    put(kAdAppearance, b);
  }
  if (a.manufacturer_id) {
    std::vector<std::uint8_t> m = {static_cast<std::uint8_t>(*a.manufacturer_id & 0xFF),
                                   static_cast<std::uint8_t>(*a.manufacturer_id >> 8)};
    m.insert(m.end(), a.manufacturer_data.begin(), a.manufacturer_data.end());
    put(kAdManufacturer, m);
  }
  if (!a.name.empty())
    put(kAdCompleteName, std::span(reinterpret_cast<const std::uint8_t*>(a.name.data()), a.name.size()));
  // A legacy advertisement carries at most 31 bytes (Core v5.3, Vol 6, Part B, 2.3.1.1).
  if (out.size() > 31)
    return Error{"too_large", "sim: advertising data is " + std::to_string(out.size()) + " bytes, more than 31"};
  return out;
}

Result<std::vector<std::uint8_t>> encode_adv_report_event(const BdAddr& addr, std::uint8_t addr_type,
                                                          std::int8_t rssi_dbm, std::span<const std::uint8_t> ad,
                                                          std::uint8_t event_type) {
  if (ad.size() > 31) return Error{"too_large", "sim: advertising data longer than 31 bytes"};
  std::vector<std::uint8_t> f;
  f.reserve(4 + 11 + ad.size());
  const std::size_t params = 1 + 1 + 1 + 1 + 6 + 1 + ad.size() + 1;
  f.push_back(kH4Event);
  f.push_back(kEventLeMeta);
  f.push_back(static_cast<std::uint8_t>(params));
  f.push_back(kSubeventAdvertisingReport);
  f.push_back(1);  // Num_Reports
  f.push_back(event_type);
  f.push_back(addr_type);
  for (std::size_t i = 6; i-- > 0;) f.push_back(addr.b[i]);  // little-endian on the wire
  f.push_back(static_cast<std::uint8_t>(ad.size()));
  f.insert(f.end(), ad.begin(), ad.end());
  f.push_back(static_cast<std::uint8_t>(rssi_dbm));
  return f;
}

void H4Framer::feed(std::span<const std::uint8_t> bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 4096) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

std::span<const std::uint8_t> H4Framer::next() {
  if (error_) return {};
  const std::size_t avail = buf_.size() - pos_;
  if (avail < 3) return {};
  if (buf_[pos_] != kH4Event) {
    error_ = true;
    return {};
  }
  const std::size_t len = buf_[pos_ + 2];
  if (avail < 3 + len) return {};
  std::span<const std::uint8_t> ev(buf_.data() + pos_ + 1, 2 + len);
  pos_ += 3 + len;
  return ev;
}

}  // namespace c4i::discovery::sim
