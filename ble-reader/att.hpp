// ATT protocol data units (Core v5.3, Vol 3, Part F, 3.4): encoders for the
// requests a GATT client sends, parsers for what a server answers, and the
// error codes (3.4.1.1) as text. Pure: bytes in, values out; every field is
// length-checked before it is read.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ble-reader/uuid.hpp"
#include "common/result.hpp"

namespace c4i::reader::att {

using Bytes = std::vector<std::uint8_t>;

// Opcodes (Core v5.3, Vol 3, Part F, 3.4.8, Table 3.37).
enum class Opcode : std::uint8_t {
  error_rsp = 0x01,
  exchange_mtu_req = 0x02,
  exchange_mtu_rsp = 0x03,
  find_info_req = 0x04,
  find_info_rsp = 0x05,
  find_by_type_value_req = 0x06,
  find_by_type_value_rsp = 0x07,
  read_by_type_req = 0x08,
  read_by_type_rsp = 0x09,
  read_req = 0x0A,
  read_rsp = 0x0B,
  read_blob_req = 0x0C,
  read_blob_rsp = 0x0D,
  read_multiple_req = 0x0E,
  read_multiple_rsp = 0x0F,
  read_by_group_type_req = 0x10,
  read_by_group_type_rsp = 0x11,
  write_req = 0x12,
  write_rsp = 0x13,
  prepare_write_req = 0x16,
  prepare_write_rsp = 0x17,
  execute_write_req = 0x18,
  execute_write_rsp = 0x19,
  handle_value_ntf = 0x1B,
  handle_value_ind = 0x1D,
  handle_value_cfm = 0x1E,
  write_cmd = 0x52,
  signed_write_cmd = 0xD2,
};

inline constexpr std::uint16_t kDefaultLeMtu = 23;  // ATT_MTU default for LE (Vol 3, Part F, 3.2.8)
inline constexpr std::uint16_t kMaxAttributeValue = 512;  // Vol 3, Part F, 3.2.9
inline constexpr std::uint16_t kAttCid = 0x0004;  // L2CAP fixed channel (Vol 3, Part A, 2.1)

// GATT attribute types (Vol 3, Part G, 3).
inline constexpr std::uint16_t kPrimaryService = 0x2800;
inline constexpr std::uint16_t kSecondaryService = 0x2801;
inline constexpr std::uint16_t kInclude = 0x2802;
inline constexpr std::uint16_t kCharacteristic = 0x2803;
inline constexpr std::uint16_t kCccd = 0x2902;

// Characteristic properties (Vol 3, Part G, 3.3.1.1).
inline constexpr std::uint8_t kPropRead = 0x02;
inline constexpr std::uint8_t kPropWriteNoRsp = 0x04;
inline constexpr std::uint8_t kPropWrite = 0x08;
inline constexpr std::uint8_t kPropNotify = 0x10;
inline constexpr std::uint8_t kPropIndicate = 0x20;

// "Exchange MTU Request" etc.; "opcode 0xNN" for unknown ones.
std::string opcode_name(std::uint8_t opcode);
// True for opcodes that expect a response (requests) - Vol 3, Part F, 3.3.
bool is_request(std::uint8_t opcode);
// The response opcode expected for a request opcode, 0 if none.
std::uint8_t response_for(std::uint8_t request_opcode);

// Error codes (Vol 3, Part F, 3.4.1.1, Table 3.4) and CSS Part B, 1.2 common profile errors.
std::string error_name(std::uint8_t code);         // "Insufficient Authentication"
std::string error_description(std::uint8_t code);  // one sentence

// --- Encoders (client requests and server responses) ---
Bytes encode_exchange_mtu_req(std::uint16_t client_rx_mtu);
Bytes encode_exchange_mtu_rsp(std::uint16_t server_rx_mtu);
Bytes encode_read_by_group_type_req(std::uint16_t start, std::uint16_t end, const Uuid& type);
Bytes encode_read_by_type_req(std::uint16_t start, std::uint16_t end, const Uuid& type);
Bytes encode_find_info_req(std::uint16_t start, std::uint16_t end);
Bytes encode_read_req(std::uint16_t handle);
Bytes encode_write_req(std::uint16_t handle, std::span<const std::uint8_t> value);
Bytes encode_write_cmd(std::uint16_t handle, std::span<const std::uint8_t> value);
Bytes encode_handle_value(Opcode ntf_or_ind, std::uint16_t handle, std::span<const std::uint8_t> value);
Bytes encode_confirmation();
Bytes encode_error_rsp(std::uint8_t request_opcode, std::uint16_t handle, std::uint8_t code);

// --- Parsed PDUs ---
struct ErrorRsp {
  std::uint8_t request_opcode = 0;
  std::uint16_t handle = 0;
  std::uint8_t code = 0;
};
// Parameters of a request as a server sees them.
struct HandleRange {
  std::uint16_t start = 0;
  std::uint16_t end = 0;
};
struct TypedRangeReq {
  HandleRange range;
  Uuid type;
};
struct WriteReq {
  std::uint16_t handle = 0;
  std::span<const std::uint8_t> value;
};
// One entry of a Read By Group Type Response (3.4.4.10).
struct GroupEntry {
  std::uint16_t start = 0;
  std::uint16_t end = 0;
  std::span<const std::uint8_t> value;
};
// One entry of a Read By Type Response (3.4.4.2).
struct TypeEntry {
  std::uint16_t handle = 0;
  std::span<const std::uint8_t> value;
};
// One entry of a Find Information Response (3.4.3.2).
struct InfoEntry {
  std::uint16_t handle = 0;
  Uuid type;
};
struct HandleValue {
  bool indication = false;
  std::uint16_t handle = 0;
  std::span<const std::uint8_t> value;
};

// Each parser checks the opcode and every length; the spans point into `pdu`.
Result<ErrorRsp> parse_error_rsp(std::span<const std::uint8_t> pdu);
Result<std::uint16_t> parse_exchange_mtu(std::span<const std::uint8_t> pdu);  // req or rsp
Result<std::vector<GroupEntry>> parse_read_by_group_type_rsp(std::span<const std::uint8_t> pdu);
Result<std::vector<TypeEntry>> parse_read_by_type_rsp(std::span<const std::uint8_t> pdu);
Result<std::vector<InfoEntry>> parse_find_info_rsp(std::span<const std::uint8_t> pdu);
Result<std::span<const std::uint8_t>> parse_read_rsp(std::span<const std::uint8_t> pdu);
Result<HandleValue> parse_handle_value(std::span<const std::uint8_t> pdu);
Result<TypedRangeReq> parse_typed_range_req(std::span<const std::uint8_t> pdu);  // 0x08 and 0x10
Result<HandleRange> parse_find_info_req(std::span<const std::uint8_t> pdu);
Result<std::uint16_t> parse_read_req(std::span<const std::uint8_t> pdu);
Result<WriteReq> parse_write(std::span<const std::uint8_t> pdu);  // 0x12 and 0x52

// A characteristic declaration value (Vol 3, Part G, 3.3.1): properties,
// value handle, UUID (2 or 16 bytes).
struct CharacteristicDecl {
  std::uint16_t decl_handle = 0;
  std::uint8_t properties = 0;
  std::uint16_t value_handle = 0;
  Uuid uuid;
};
Result<CharacteristicDecl> parse_characteristic_decl(std::uint16_t decl_handle, std::span<const std::uint8_t> value);

// Human summary of any PDU for logs and the fuzzer: opcode name and checked fields.
Result<std::string> describe(std::span<const std::uint8_t> pdu);

}  // namespace c4i::reader::att
