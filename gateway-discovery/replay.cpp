#include "gateway-discovery/replay.hpp"

#include <vector>

#include "common/btsnoop.hpp"
#include "gateway-discovery/json_text.hpp"

namespace c4i::discovery {

using json_text::append_int;

std::string ReplaySummary::line() const {
  std::string s = "frames=" + std::to_string(frames) + " reports=" + std::to_string(reports) +
                  " malformed_events=" + std::to_string(malformed_events) +
                  " malformed_ad=" + std::to_string(malformed_ad) +
                  " skipped_records=" + std::to_string(skipped_records);
  if (truncated) s += " truncated=1";
  return s;
}

void append_report_json(std::string& out, std::uint64_t frame, std::int64_t t_us, const AdvReport& r,
                        const AdvertisingData& ad) {
  out.append("{\"frame\":");
  append_int(out, frame);
  out.append(",\"t\":");
  append_int(out, t_us);
  out.append(",\"subevent\":");
  append_int(out, static_cast<unsigned>(r.subevent));
  out.append(",\"event_type\":");
  const char* legacy = r.subevent == kSubeventAdvertisingReport ? legacy_event_type_name(r.event_type) : nullptr;
  if (legacy) {
    out.push_back('"');
    out.append(legacy);
    out.push_back('"');
  } else {
    append_int(out, r.event_type);
  }
  out.append(",\"event_type_raw\":");
  append_int(out, r.event_type);
  out.append(",\"addr\":\"");
  char addr[17];
  r.addr.format(addr);
  out.append(addr, sizeof addr);
  out.append("\",\"addr_type\":\"");
  out.append(addr_type_name(r.addr_type));
  out.append("\",\"rssi\":");
  append_int(out, static_cast<int>(r.rssi));
  if (r.subevent == kSubeventExtendedAdvertisingReport) {
    out.append(",\"primary_phy\":");
    append_int(out, static_cast<unsigned>(r.primary_phy));
    out.append(",\"secondary_phy\":");
    append_int(out, static_cast<unsigned>(r.secondary_phy));
    out.append(",\"sid\":");
    append_int(out, static_cast<unsigned>(r.sid));
    out.append(",\"adv_tx_power\":");
    append_int(out, static_cast<int>(r.tx_power));
  }
  if (ad.has_name) {
    out.append(",\"name\":");
    json_text::append_string(out, ad.name);
    out.append(ad.name_complete ? ",\"name_complete\":true" : ",\"name_complete\":false");
  }
  if (ad.flags) {
    out.append(",\"flags\":");
    append_int(out, static_cast<unsigned>(*ad.flags));
  }
  if (!ad.services.empty()) {
    out.append(",\"services\":[");
    for (std::size_t i = 0; i < ad.services.size(); ++i) {
      if (i) out.push_back(',');
      out.push_back('"');
      ad.services[i].append_to(out);
      out.push_back('"');
    }
    out.push_back(']');
  }
  if (!ad.service_data.empty()) {
    out.append(",\"service_data\":[");
    for (std::size_t i = 0; i < ad.service_data.size(); ++i) {
      if (i) out.push_back(',');
      out.append("{\"uuid\":\"");
      ad.service_data[i].uuid.append_to(out);
      out.append("\",\"data\":\"");
      json_text::append_hex(out, ad.service_data[i].data);
      out.append("\"}");
    }
    out.push_back(']');
  }
  if (ad.manufacturer_id) {
    out.append(",\"manufacturer_id\":");
    append_int(out, *ad.manufacturer_id);
    out.append(",\"manufacturer_data\":\"");
    json_text::append_hex(out, ad.manufacturer_data);
    out.push_back('"');
  }
  if (ad.tx_power) {
    out.append(",\"tx_power\":");
    append_int(out, static_cast<int>(*ad.tx_power));
  }
  if (ad.appearance) {
    out.append(",\"appearance\":");
    append_int(out, *ad.appearance);
  }
  out.append(",\"ad_malformed\":");
  append_int(out, ad.malformed);
  out.append("}\n");
}

Result<ReplaySummary> replay_jsonl(std::span<const std::uint8_t> capture,
                                   const std::function<void(std::string_view)>& sink,
                                   const std::function<void(std::size_t)>& consumed) {
  auto reader = btsnoop::Reader::open(capture);
  if (!reader) return reader.error();
  ReplaySummary sum;
  std::vector<AdvReport> reports;
  AdvertisingData ad;
  std::string out;
  out.reserve(80 * 1024);
  btsnoop::Packet p;
  while (reader->next(p)) {
    if (p.type != btsnoop::PacketType::event) continue;
    ++sum.events;
    reports.clear();
    const auto r = decode_advertising_event(p.data, reports);
    if (r == EventDecode::malformed) ++sum.malformed_events;
    for (const auto& rep : reports) {
      decode_advertising_data(rep.data, ad);
      sum.malformed_ad += ad.malformed;
      ++sum.reports;
      append_report_json(out, p.index, p.unix_us, rep, ad);
    }
    if (out.size() >= 64 * 1024) {
      sink(out);
      out.clear();
      if (consumed) consumed(static_cast<std::size_t>(p.data.data() - capture.data()));
    }
  }
  if (!out.empty()) sink(out);
  sum.frames = reader->stats().records;
  sum.skipped_records = reader->stats().skipped;
  sum.truncated = reader->stats().truncated;
  return sum;
}

}  // namespace c4i::discovery
