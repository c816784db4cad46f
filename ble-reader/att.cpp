#include "ble-reader/att.hpp"

#include <cstdio>

namespace c4i::reader::att {
namespace {

Error bad(const std::string& what) { return Error{"malformed_pdu", what}; }

std::uint16_t le16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>(b[at] | (b[at + 1] << 8));
}
void put16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}
std::string hex2(std::uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v);
  return buf;
}
std::string hex4(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}

Status expect_opcode(std::span<const std::uint8_t> pdu, Opcode op, std::size_t min_len) {
  if (pdu.empty()) return bad("empty ATT PDU");
  if (pdu[0] != static_cast<std::uint8_t>(op))
    return bad("expected " + opcode_name(static_cast<std::uint8_t>(op)) + ", got " + opcode_name(pdu[0]));
  if (pdu.size() < min_len)
    return bad(opcode_name(pdu[0]) + " of " + std::to_string(pdu.size()) + " bytes, needs at least " +
               std::to_string(min_len));
  return ok_status();
}

}  // namespace

std::string opcode_name(std::uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::error_rsp: return "Error Response";
    case Opcode::exchange_mtu_req: return "Exchange MTU Request";
    case Opcode::exchange_mtu_rsp: return "Exchange MTU Response";
    case Opcode::find_info_req: return "Find Information Request";
    case Opcode::find_info_rsp: return "Find Information Response";
    case Opcode::find_by_type_value_req: return "Find By Type Value Request";
    case Opcode::find_by_type_value_rsp: return "Find By Type Value Response";
    case Opcode::read_by_type_req: return "Read By Type Request";
    case Opcode::read_by_type_rsp: return "Read By Type Response";
    case Opcode::read_req: return "Read Request";
    case Opcode::read_rsp: return "Read Response";
    case Opcode::read_blob_req: return "Read Blob Request";
    case Opcode::read_blob_rsp: return "Read Blob Response";
    case Opcode::read_multiple_req: return "Read Multiple Request";
    case Opcode::read_multiple_rsp: return "Read Multiple Response";
    case Opcode::read_by_group_type_req: return "Read By Group Type Request";
    case Opcode::read_by_group_type_rsp: return "Read By Group Type Response";
    case Opcode::write_req: return "Write Request";
    case Opcode::write_rsp: return "Write Response";
    case Opcode::prepare_write_req: return "Prepare Write Request";
    case Opcode::prepare_write_rsp: return "Prepare Write Response";
    case Opcode::execute_write_req: return "Execute Write Request";
    case Opcode::execute_write_rsp: return "Execute Write Response";
    case Opcode::handle_value_ntf: return "Handle Value Notification";
    case Opcode::handle_value_ind: return "Handle Value Indication";
    case Opcode::handle_value_cfm: return "Handle Value Confirmation";
    case Opcode::write_cmd: return "Write Command";
    case Opcode::signed_write_cmd: return "Signed Write Command";
  }
  return "opcode " + hex2(opcode);
}

bool is_request(std::uint8_t opcode) { return response_for(opcode) != 0; }

std::uint8_t response_for(std::uint8_t req) {
  switch (static_cast<Opcode>(req)) {
    case Opcode::exchange_mtu_req:
    case Opcode::find_info_req:
    case Opcode::find_by_type_value_req:
    case Opcode::read_by_type_req:
    case Opcode::read_req:
    case Opcode::read_blob_req:
    case Opcode::read_multiple_req:
    case Opcode::read_by_group_type_req:
    case Opcode::write_req:
    case Opcode::prepare_write_req:
    case Opcode::execute_write_req:
      return static_cast<std::uint8_t>(req + 1);
    default:
      return 0;
  }
}

std::string error_name(std::uint8_t code) {
  switch (code) {
    case 0x01: return "Invalid Handle";
    case 0x02: return "Read Not Permitted";
    case 0x03: return "Write Not Permitted";
    case 0x04: return "Invalid PDU";
    case 0x05: return "Insufficient Authentication";
    case 0x06: return "Request Not Supported";
    case 0x07: return "Invalid Offset";
    case 0x08: return "Insufficient Authorization";
    case 0x09: return "Prepare Queue Full";
    case 0x0A: return "Attribute Not Found";
    case 0x0B: return "Attribute Not Long";
    case 0x0C: return "Encryption Key Size Too Short";
    case 0x0D: return "Invalid Attribute Value Length";
    case 0x0E: return "Unlikely Error";
    case 0x0F: return "Insufficient Encryption";
    case 0x10: return "Unsupported Group Type";
    case 0x11: return "Insufficient Resources";
    case 0x12: return "Database Out Of Sync";
    case 0x13: return "Value Not Allowed";
    // Common Profile and Service Error Codes (CSS v10, Part B, 1.2).
    case 0xFC: return "Write Request Rejected";
    case 0xFD: return "Client Characteristic Configuration Descriptor Improperly Configured";
    case 0xFE: return "Procedure Already in Progress";
    case 0xFF: return "Out of Range";
    default: break;
  }
  if (code >= 0x80 && code <= 0x9F) return "Application Error " + hex2(code);
  if (code >= 0xE0) return "Common Profile and Service Error " + hex2(code);
  return "Reserved Error " + hex2(code);
}

std::string error_description(std::uint8_t code) {
  switch (code) {
    case 0x01: return "the attribute handle given was not valid on this server";
    case 0x02: return "the attribute cannot be read";
    case 0x03: return "the attribute cannot be written";
    case 0x04: return "the attribute PDU was invalid";
    case 0x05: return "the attribute requires authentication (pairing) before it can be read or written";
    case 0x06: return "the server does not support the request received";
    case 0x07: return "the offset specified was past the end of the attribute";
    case 0x08: return "the attribute requires authorization before it can be read or written";
    case 0x09: return "too many prepare writes have been queued";
    case 0x0A: return "no attribute found within the given attribute handle range";
    case 0x0B: return "the attribute cannot be read using the Read Blob Request";
    case 0x0C: return "the encryption key size used for encrypting this link is too short";
    case 0x0D: return "the attribute value length is invalid for the operation";
    case 0x0E: return "the request encountered an unlikely error and could not be completed";
    case 0x0F: return "the attribute requires encryption before it can be read or written";
    case 0x10: return "the attribute type is not a supported grouping attribute";
    case 0x11: return "the server has insufficient resources to complete the request";
    case 0x12: return "the server requests the client to rediscover the database";
    case 0x13: return "the attribute parameter value was not allowed";
    case 0xFC: return "the write request was rejected by the profile";
    case 0xFD: return "the Client Characteristic Configuration descriptor is not configured as the procedure needs";
    case 0xFE: return "a profile procedure is already in progress";
    case 0xFF: return "an attribute value is out of range";
    default: break;
  }
  if (code >= 0x80 && code <= 0x9F) return "the application on the device rejected the request";
  return "an error code this client does not know";
}

Bytes encode_exchange_mtu_req(std::uint16_t mtu) {
  Bytes out{static_cast<std::uint8_t>(Opcode::exchange_mtu_req)};
  put16(out, mtu);
  return out;
}
Bytes encode_exchange_mtu_rsp(std::uint16_t mtu) {
  Bytes out{static_cast<std::uint8_t>(Opcode::exchange_mtu_rsp)};
  put16(out, mtu);
  return out;
}
Bytes encode_read_by_group_type_req(std::uint16_t start, std::uint16_t end, const Uuid& type) {
  Bytes out{static_cast<std::uint8_t>(Opcode::read_by_group_type_req)};
  put16(out, start);
  put16(out, end);
  type.append_le(out);
  return out;
}
Bytes encode_read_by_type_req(std::uint16_t start, std::uint16_t end, const Uuid& type) {
  Bytes out{static_cast<std::uint8_t>(Opcode::read_by_type_req)};
  put16(out, start);
  put16(out, end);
  type.append_le(out);
  return out;
}
Bytes encode_find_info_req(std::uint16_t start, std::uint16_t end) {
  Bytes out{static_cast<std::uint8_t>(Opcode::find_info_req)};
  put16(out, start);
  put16(out, end);
  return out;
}
Bytes encode_read_req(std::uint16_t handle) {
  Bytes out{static_cast<std::uint8_t>(Opcode::read_req)};
  put16(out, handle);
  return out;
}
Bytes encode_write_req(std::uint16_t handle, std::span<const std::uint8_t> value) {
  Bytes out{static_cast<std::uint8_t>(Opcode::write_req)};
  put16(out, handle);
  out.insert(out.end(), value.begin(), value.end());
  return out;
}
Bytes encode_write_cmd(std::uint16_t handle, std::span<const std::uint8_t> value) {
  Bytes out{static_cast<std::uint8_t>(Opcode::write_cmd)};
  put16(out, handle);
  out.insert(out.end(), value.begin(), value.end());
  return out;
}
Bytes encode_handle_value(Opcode op, std::uint16_t handle, std::span<const std::uint8_t> value) {
  Bytes out{static_cast<std::uint8_t>(op)};
  put16(out, handle);
  out.insert(out.end(), value.begin(), value.end());
  return out;
}
Bytes encode_confirmation() { return Bytes{static_cast<std::uint8_t>(Opcode::handle_value_cfm)}; }
Bytes encode_error_rsp(std::uint8_t request_opcode, std::uint16_t handle, std::uint8_t code) {
  Bytes out{static_cast<std::uint8_t>(Opcode::error_rsp), request_opcode};
  put16(out, handle);
  out.push_back(code);
  return out;
}

// Vol 3, Part F, 3.4.1.1: opcode, request opcode in error, handle, error code.
Result<ErrorRsp> parse_error_rsp(std::span<const std::uint8_t> pdu) {
  if (auto s = expect_opcode(pdu, Opcode::error_rsp, 5); !s) return s.error();
  if (pdu.size() != 5) return bad("Error Response of " + std::to_string(pdu.size()) + " bytes, expected 5");
  return ErrorRsp{pdu[1], le16(pdu, 2), pdu[4]};
}

// Vol 3, Part F, 3.4.2.1 / 3.4.2.2: opcode, MTU (2 octets).
Result<std::uint16_t> parse_exchange_mtu(std::span<const std::uint8_t> pdu) {
  if (pdu.empty()) return bad("empty ATT PDU");
  if (pdu[0] != static_cast<std::uint8_t>(Opcode::exchange_mtu_req) &&
      pdu[0] != static_cast<std::uint8_t>(Opcode::exchange_mtu_rsp))
    return bad("expected Exchange MTU, got " + opcode_name(pdu[0]));
  if (pdu.size() != 3) return bad(opcode_name(pdu[0]) + " of " + std::to_string(pdu.size()) + " bytes, expected 3");
  return le16(pdu, 1);
}

// Vol 3, Part F, 3.4.4.10: opcode, length of each entry, entries of
// (start handle, end group handle, value) all of that length.
Result<std::vector<GroupEntry>> parse_read_by_group_type_rsp(std::span<const std::uint8_t> pdu) {
  if (auto s = expect_opcode(pdu, Opcode::read_by_group_type_rsp, 2); !s) return s.error();
  const std::size_t len = pdu[1];
  if (len < 4) return bad("Read By Group Type Response entry length " + std::to_string(len) + " is below 4");
  const std::size_t body = pdu.size() - 2;
  if (body == 0 || body % len != 0)
    return bad("Read By Group Type Response list of " + std::to_string(body) + " bytes is not a multiple of " +
               std::to_string(len));
  std::vector<GroupEntry> out;
  for (std::size_t at = 2; at + len <= pdu.size(); at += len) {
    GroupEntry e;
    e.start = le16(pdu, at);
    e.end = le16(pdu, at + 2);
    e.value = pdu.subspan(at + 4, len - 4);
    if (e.start == 0 || e.end < e.start) return bad("Read By Group Type Response has group " + hex4(e.start) + ".." + hex4(e.end));
    out.push_back(e);
  }
  return out;
}

// Vol 3, Part F, 3.4.4.2: opcode, length, entries of (handle, value).
Result<std::vector<TypeEntry>> parse_read_by_type_rsp(std::span<const std::uint8_t> pdu) {
  if (auto s = expect_opcode(pdu, Opcode::read_by_type_rsp, 2); !s) return s.error();
  const std::size_t len = pdu[1];
  if (len < 2) return bad("Read By Type Response entry length " + std::to_string(len) + " is below 2");
  const std::size_t body = pdu.size() - 2;
  if (body == 0 || body % len != 0)
    return bad("Read By Type Response list of " + std::to_string(body) + " bytes is not a multiple of " +
               std::to_string(len));
  std::vector<TypeEntry> out;
  for (std::size_t at = 2; at + len <= pdu.size(); at += len) {
    TypeEntry e;
    e.handle = le16(pdu, at);
    e.value = pdu.subspan(at + 2, len - 2);
    if (e.handle == 0) return bad("Read By Type Response has handle 0x0000");
    out.push_back(e);
  }
  return out;
}

// Vol 3, Part F, 3.4.3.2: opcode, format (1: 16-bit UUIDs, 2: 128-bit), pairs.
Result<std::vector<InfoEntry>> parse_find_info_rsp(std::span<const std::uint8_t> pdu) {
  if (auto s = expect_opcode(pdu, Opcode::find_info_rsp, 2); !s) return s.error();
  std::size_t uuid_len = 0;
  if (pdu[1] == 1) uuid_len = 2;
  else if (pdu[1] == 2) uuid_len = 16;
  else return bad("Find Information Response format " + hex2(pdu[1]) + " is neither 1 nor 2");
  const std::size_t len = 2 + uuid_len;
  const std::size_t body = pdu.size() - 2;
  if (body == 0 || body % len != 0)
    return bad("Find Information Response list of " + std::to_string(body) + " bytes is not a multiple of " +
               std::to_string(len));
  std::vector<InfoEntry> out;
  for (std::size_t at = 2; at + len <= pdu.size(); at += len) {
    InfoEntry e;
    e.handle = le16(pdu, at);
    e.type = *Uuid::from_le(pdu.subspan(at + 2, uuid_len));
    if (e.handle == 0) return bad("Find Information Response has handle 0x0000");
    out.push_back(e);
  }
  return out;
}

// Vol 3, Part F, 3.4.4.4: opcode, value (0..ATT_MTU-1).
Result<std::span<const std::uint8_t>> parse_read_rsp(std::span<const std::uint8_t> pdu) {
  if (auto s = expect_opcode(pdu, Opcode::read_rsp, 1); !s) return s.error();
  return pdu.subspan(1);
}

// Vol 3, Part F, 3.4.7.1 / 3.4.7.2: opcode, handle, value.
Result<HandleValue> parse_handle_value(std::span<const std::uint8_t> pdu) {
  if (pdu.empty()) return bad("empty ATT PDU");
  HandleValue hv;
  if (pdu[0] == static_cast<std::uint8_t>(Opcode::handle_value_ntf)) hv.indication = false;
  else if (pdu[0] == static_cast<std::uint8_t>(Opcode::handle_value_ind)) hv.indication = true;
  else return bad("expected a Handle Value Notification or Indication, got " + opcode_name(pdu[0]));
  if (pdu.size() < 3) return bad(opcode_name(pdu[0]) + " of " + std::to_string(pdu.size()) + " bytes, needs at least 3");
  hv.handle = le16(pdu, 1);
  hv.value = pdu.subspan(3);
  return hv;
}

// Vol 3, Part F, 3.4.4.1 / 3.4.4.9: opcode, start, end, UUID (2 or 16).
Result<TypedRangeReq> parse_typed_range_req(std::span<const std::uint8_t> pdu) {
  if (pdu.empty()) return bad("empty ATT PDU");
  if (pdu[0] != static_cast<std::uint8_t>(Opcode::read_by_type_req) &&
      pdu[0] != static_cast<std::uint8_t>(Opcode::read_by_group_type_req))
    return bad("expected Read By (Group) Type Request, got " + opcode_name(pdu[0]));
  if (pdu.size() != 7 && pdu.size() != 21)
    return bad(opcode_name(pdu[0]) + " of " + std::to_string(pdu.size()) + " bytes, expected 7 or 21");
  TypedRangeReq r;
  r.range = {le16(pdu, 1), le16(pdu, 3)};
  r.type = *Uuid::from_le(pdu.subspan(5));
  return r;
}

Result<HandleRange> parse_find_info_req(std::span<const std::uint8_t> pdu) {
  if (auto s = expect_opcode(pdu, Opcode::find_info_req, 5); !s) return s.error();
  if (pdu.size() != 5) return bad("Find Information Request of " + std::to_string(pdu.size()) + " bytes, expected 5");
  return HandleRange{le16(pdu, 1), le16(pdu, 3)};
}

Result<std::uint16_t> parse_read_req(std::span<const std::uint8_t> pdu) {
  if (auto s = expect_opcode(pdu, Opcode::read_req, 3); !s) return s.error();
  if (pdu.size() != 3) return bad("Read Request of " + std::to_string(pdu.size()) + " bytes, expected 3");
  return le16(pdu, 1);
}

// Vol 3, Part F, 3.4.5.1 / 3.4.5.3: opcode, handle, value.
Result<WriteReq> parse_write(std::span<const std::uint8_t> pdu) {
  if (pdu.empty()) return bad("empty ATT PDU");
  if (pdu[0] != static_cast<std::uint8_t>(Opcode::write_req) && pdu[0] != static_cast<std::uint8_t>(Opcode::write_cmd))
    return bad("expected Write Request or Command, got " + opcode_name(pdu[0]));
  if (pdu.size() < 3) return bad(opcode_name(pdu[0]) + " of " + std::to_string(pdu.size()) + " bytes, needs at least 3");
  return WriteReq{le16(pdu, 1), pdu.subspan(3)};
}

// Vol 3, Part G, 3.3.1: properties (1), value handle (2), UUID (2 or 16).
Result<CharacteristicDecl> parse_characteristic_decl(std::uint16_t decl_handle, std::span<const std::uint8_t> v) {
  if (v.size() != 5 && v.size() != 19)
    return bad("characteristic declaration at " + hex4(decl_handle) + " has " + std::to_string(v.size()) +
               " bytes, expected 5 or 19");
  CharacteristicDecl d;
  d.decl_handle = decl_handle;
  d.properties = v[0];
  d.value_handle = le16(v, 1);
  d.uuid = *Uuid::from_le(v.subspan(3));
  return d;
}

Result<std::string> describe(std::span<const std::uint8_t> pdu) {
  if (pdu.empty()) return bad("empty ATT PDU");
  const std::uint8_t op = pdu[0];
  std::string s = opcode_name(op);
  switch (static_cast<Opcode>(op)) {
    case Opcode::error_rsp: {
      auto e = parse_error_rsp(pdu);
      if (!e) return e.error();
      return s + ": " + opcode_name(e->request_opcode) + " on " + hex4(e->handle) + ": " + error_name(e->code);
    }
    case Opcode::exchange_mtu_req:
    case Opcode::exchange_mtu_rsp: {
      auto m = parse_exchange_mtu(pdu);
      if (!m) return m.error();
      return s + " " + std::to_string(*m);
    }
    case Opcode::read_by_group_type_rsp: {
      auto r = parse_read_by_group_type_rsp(pdu);
      if (!r) return r.error();
      return s + ", " + std::to_string(r->size()) + " groups";
    }
    case Opcode::read_by_type_rsp: {
      auto r = parse_read_by_type_rsp(pdu);
      if (!r) return r.error();
      for (const auto& e : *r) {
        if (e.value.size() == 5 || e.value.size() == 19) (void)parse_characteristic_decl(e.handle, e.value);
      }
      return s + ", " + std::to_string(r->size()) + " entries";
    }
    case Opcode::find_info_rsp: {
      auto r = parse_find_info_rsp(pdu);
      if (!r) return r.error();
      return s + ", " + std::to_string(r->size()) + " entries";
    }
    case Opcode::read_by_type_req:
    case Opcode::read_by_group_type_req: {
      auto r = parse_typed_range_req(pdu);
      if (!r) return r.error();
      return s + " " + hex4(r->range.start) + ".." + hex4(r->range.end) + " " + r->type.str();
    }
    case Opcode::find_info_req: {
      auto r = parse_find_info_req(pdu);
      if (!r) return r.error();
      return s + " " + hex4(r->start) + ".." + hex4(r->end);
    }
    case Opcode::read_req: {
      auto r = parse_read_req(pdu);
      if (!r) return r.error();
      return s + " " + hex4(*r);
    }
    case Opcode::read_rsp: {
      auto r = parse_read_rsp(pdu);
      if (!r) return r.error();
      return s + ", " + std::to_string(r->size()) + " bytes";
    }
    case Opcode::write_req:
    case Opcode::write_cmd: {
      auto r = parse_write(pdu);
      if (!r) return r.error();
      return s + " " + hex4(r->handle) + ", " + std::to_string(r->value.size()) + " bytes";
    }
    case Opcode::handle_value_ntf:
    case Opcode::handle_value_ind: {
      auto r = parse_handle_value(pdu);
      if (!r) return r.error();
      return s + " " + hex4(r->handle) + ", " + std::to_string(r->value.size()) + " bytes";
    }
    case Opcode::handle_value_cfm:
    case Opcode::write_rsp:
      if (pdu.size() != 1) return bad(s + " of " + std::to_string(pdu.size()) + " bytes, expected 1");
      return s;
    default:
      return s + ", " + std::to_string(pdu.size()) + " bytes";
  }
}

}  // namespace c4i::reader::att
