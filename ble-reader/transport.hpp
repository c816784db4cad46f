// The reader's transports: an L2CAP LE socket on the ATT fixed channel (CID 4)
// through BlueZ, or a Unix SOCK_SEQPACKET socket carrying one ATT PDU per
// packet (the emulated peripherals). Both give an open fd; the ATT client
// talks to it through FdAttIo.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "ble-reader/att_client.hpp"
#include "common/result.hpp"

namespace c4i::reader {

enum class AddressType { le_public, le_random };
enum class SecurityLevel { low, medium, high };  // BT_SECURITY_LOW / MEDIUM / HIGH

// Where to connect: a BD_ADDR ("AA:BB:CC:DD:EE:FF") or "unix:PATH".
struct Endpoint {
  bool unix_socket = false;
  std::string address;  // BD_ADDR or the socket path
  AddressType address_type = AddressType::le_public;
  SecurityLevel security = SecurityLevel::low;
};
// Parses the --connect value; the error names what is wrong.
Result<Endpoint> parse_endpoint(const std::string& text);

// Error codes: "unsupported" when the system cannot do it at all (no Bluetooth
// in the kernel: retrying is pointless), "unreachable" for a peer that is not
// there now (retry later).
Result<int> connect_endpoint(const Endpoint& ep);

// AttIo over a SOCK_SEQPACKET fd: one send() per PDU.
class FdAttIo : public AttIo {
 public:
  explicit FdAttIo(int fd) : fd_(fd) {}
  bool send(std::span<const std::uint8_t> pdu) override;

 private:
  int fd_;
};

}  // namespace c4i::reader
