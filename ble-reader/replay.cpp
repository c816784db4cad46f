#include "ble-reader/replay.hpp"

#include <array>

#include "ble-reader/att.hpp"
#include "ble-reader/decoders.hpp"

namespace c4i::reader {
namespace {

std::uint16_t le16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>(b[at] | (b[at + 1] << 8));
}

using Address = std::array<std::uint8_t, 7>;  // type + 6 bytes

// What one side asked and the other has not answered yet (Vol 3, Part F, 3.3.2).
struct PendingRequest {
  std::uint8_t opcode = 0;
  std::optional<Uuid> type;
};

struct Tracker {
  // Per connection handle: the peer it connects to, and open requests by direction.
  std::map<std::uint16_t, Address> peer;
  std::map<std::pair<std::uint16_t, bool>, PendingRequest> pending;
  // Per peer (or per connection handle when the connection event was not captured): value handle -> UUID.
  std::map<Address, std::map<std::uint16_t, Uuid>> uuids;

  Address key(std::uint16_t conn) const {
    auto it = peer.find(conn);
    if (it != peer.end()) return it->second;
    Address a{};
    a[0] = 0xFF;  // no address type uses 0xFF: a separate space for "connection handle only"
    a[1] = static_cast<std::uint8_t>(conn & 0xFF);
    a[2] = static_cast<std::uint8_t>(conn >> 8);
    return a;
  }
};

// HCI event (Vol 4, Part E, 5.4.4): code, parameter length, parameters.
void on_event(std::span<const std::uint8_t> ev, Tracker& tr, AclReassembler& acl) {
  if (ev.size() < 2 || ev.size() < 2u + ev[1]) return;
  const std::uint8_t code = ev[0];
  auto p = ev.subspan(2, ev[1]);
  if (code == 0x05 && p.size() >= 4) {  // Disconnection Complete (7.7.5)
    if (p[0] != 0x00) return;
    const std::uint16_t conn = le16(p, 1) & 0x0FFF;
    acl.reset(conn);
    tr.peer.erase(conn);
    tr.pending.erase({conn, false});
    tr.pending.erase({conn, true});
    return;
  }
  // LE Connection Complete (7.7.65.1) / Enhanced (7.7.65.10): subevent, status,
  // handle, role, peer address type, peer address.
  if (code == 0x3E && p.size() >= 12 && (p[0] == 0x01 || p[0] == 0x0A) && p[1] == 0x00) {
    const std::uint16_t conn = le16(p, 2) & 0x0FFF;
    Address a{};
    a[0] = p[5] & 0x01;  // public/random (identity types 2/3 fold onto 0/1)
    for (int i = 0; i < 6; ++i) a[1 + i] = p[6 + i];
    tr.peer[conn] = a;
    tr.pending.erase({conn, false});
    tr.pending.erase({conn, true});
  }
}

}  // namespace

std::optional<AclReassembler::Frame> AclReassembler::feed(std::span<const std::uint8_t> acl, bool received) {
  ++stats_.acl_packets;
  // Vol 4, Part E, 5.4.2: handle (12 bits), PB flag (2), BC flag (2), data total length (2).
  if (acl.size() < 4) {
    ++stats_.malformed;
    return std::nullopt;
  }
  const std::uint16_t hdr = le16(acl, 0);
  const std::uint16_t conn = hdr & 0x0FFF;
  const std::uint8_t pb = (hdr >> 12) & 0x03;
  const std::uint16_t len = le16(acl, 2);
  if (acl.size() < 4u + len) {
    ++stats_.malformed;
    return std::nullopt;
  }
  auto data = acl.subspan(4, len);
  const auto key = std::make_pair(conn, received);
  if (pb == 0x01) {  // continuing fragment
    auto it = partial_.find(key);
    if (it == partial_.end()) {
      ++stats_.orphan_fragments;
      return std::nullopt;
    }
    Partial& p = it->second;
    p.data.insert(p.data.end(), data.begin(), data.end());
    if (p.data.size() < p.expected) return std::nullopt;
    if (p.data.size() > p.expected) {
      ++stats_.malformed;
      partial_.erase(it);
      return std::nullopt;
    }
    complete_ = std::move(p.data);
    partial_.erase(it);
    ++stats_.reassembled;
  } else {  // 0b00, 0b10: first fragment; 0b11: a complete L2CAP PDU
    if (partial_.erase(key) != 0) ++stats_.dropped_partial;
    // A start fragment carries the whole 4-byte basic header (Vol 3, Part A, 3.1; hosts do not split it).
    if (data.size() < 4) {
      ++stats_.malformed;
      return std::nullopt;
    }
    const std::size_t expected = 4u + le16(data, 0);
    if (data.size() < expected) {
      Partial p;
      p.data.assign(data.begin(), data.end());
      p.expected = expected;
      partial_[key] = std::move(p);
      return std::nullopt;
    }
    if (data.size() > expected) {
      ++stats_.malformed;
      return std::nullopt;
    }
    complete_.assign(data.begin(), data.end());
  }
  ++stats_.frames;
  Frame f;
  f.conn = conn;
  f.cid = le16(complete_, 2);
  f.payload = std::span<const std::uint8_t>(complete_).subspan(4);
  return f;
}

void AclReassembler::reset(std::uint16_t conn) {
  partial_.erase({conn, false});
  partial_.erase({conn, true});
}

Result<ReplayStats> replay(std::span<const std::uint8_t> file, const std::function<void(const ReplayRecord&)>& on_record) {
  auto reader = btsnoop::Reader::open(file);
  if (!reader) return reader.error();
  ReplayStats st;
  AclReassembler acl;
  Tracker tr;
  btsnoop::Packet pkt;
  while (reader->next(pkt)) {
    if (pkt.type == btsnoop::PacketType::event) {
      on_event(pkt.data, tr, acl);
      continue;
    }
    if (pkt.type != btsnoop::PacketType::acl) continue;
    auto frame = acl.feed(pkt.data, pkt.received);
    if (!frame || frame->cid != att::kAttCid) continue;
    auto pdu = frame->payload;
    ++st.att_pdus;
    if (pdu.empty()) {
      ++st.att_malformed;
      continue;
    }
    const std::uint8_t op = pdu[0];
    const std::uint16_t conn = frame->conn;
    if (op == static_cast<std::uint8_t>(att::Opcode::handle_value_ntf) ||
        op == static_cast<std::uint8_t>(att::Opcode::handle_value_ind)) {
      auto hv = att::parse_handle_value(pdu);
      if (!hv) {
        ++st.att_malformed;
        continue;
      }
      ReplayRecord r;
      r.conn = conn;
      r.handle = hv->handle;
      r.indication = hv->indication;
      r.received = pkt.received;
      r.unix_us = pkt.unix_us;
      r.value = hv->value;
      auto db = tr.uuids.find(tr.key(conn));
      if (db != tr.uuids.end()) {
        auto u = db->second.find(hv->handle);
        if (u != db->second.end()) r.uuid = u->second;
      }
      if (hv->indication) ++st.indications;
      else ++st.notifications;
      if (r.uuid) ++st.decoded;
      on_record(r);
      continue;
    }
    if (att::is_request(op)) {
      PendingRequest req{op, std::nullopt};
      if (op == static_cast<std::uint8_t>(att::Opcode::read_by_type_req)) {
        auto t = att::parse_typed_range_req(pdu);
        if (!t) {
          ++st.att_malformed;
          continue;
        }
        req.type = t->type;
      }
      tr.pending[{conn, pkt.received}] = req;
      continue;
    }
    // A response travels the other way from its request.
    auto it = tr.pending.find({conn, !pkt.received});
    if (it == tr.pending.end()) continue;
    const PendingRequest req = it->second;
    if (op == static_cast<std::uint8_t>(att::Opcode::error_rsp) || op == att::response_for(req.opcode))
      tr.pending.erase(it);
    if (op == static_cast<std::uint8_t>(att::Opcode::read_by_type_rsp) && req.type == Uuid::from16(att::kCharacteristic)) {
      auto entries = att::parse_read_by_type_rsp(pdu);
      if (!entries) {
        ++st.att_malformed;
        continue;
      }
      auto& map = tr.uuids[tr.key(conn)];
      for (const auto& e : *entries) {
        auto decl = att::parse_characteristic_decl(e.handle, e.value);
        if (!decl) {
          ++st.att_malformed;
          continue;
        }
        map[decl->value_handle] = decl->uuid;
      }
    }
  }
  st.records = reader->stats().records;
  st.skipped_records = reader->stats().skipped;
  st.truncated = reader->stats().truncated;
  st.acl = acl.stats();
  return st;
}

std::string replay_json_line(const ReplayRecord& r) {
  std::string s;
  s.reserve(96 + 2 * r.value.size());
  s += "{\"conn\":";
  s += std::to_string(r.conn);
  s += ",\"handle\":";
  s += std::to_string(r.handle);
  s += r.indication ? ",\"opcode\":\"indication\"" : ",\"opcode\":\"notification\"";
  s += r.received ? ",\"direction\":\"received\"" : ",\"direction\":\"sent\"";
  s += ",\"value\":\"";
  append_hex(s, r.value);
  s += "\",\"t\":\"";
  s += iso8601_utc(r.unix_us);
  s += "\"";
  if (r.uuid) {
    s += ",\"uuid\":\"";
    s += r.uuid->str();
    s += "\",\"decoded\":";
    s += decode(*r.uuid, r.value).dump();
  }
  s += "}";
  return s;
}

std::string summary(const ReplayStats& s) {
  std::string out = "replay: " + std::to_string(s.records) + " records, " + std::to_string(s.att_pdus) + " ATT PDUs, " +
                    std::to_string(s.notifications) + " notifications, " + std::to_string(s.indications) +
                    " indications (" + std::to_string(s.decoded) + " with a known characteristic), " +
                    std::to_string(s.acl.reassembled) + " L2CAP frames reassembled from fragments; skipped: " +
                    std::to_string(s.skipped_records) + " malformed records, " + std::to_string(s.acl.malformed) +
                    " malformed ACL packets, " + std::to_string(s.acl.orphan_fragments) + " orphan fragments, " +
                    std::to_string(s.acl.dropped_partial) + " unfinished frames, " + std::to_string(s.att_malformed) +
                    " malformed ATT PDUs";
  if (s.truncated) out += "; the capture ends inside a record";
  return out;
}

}  // namespace c4i::reader
