// Fuzzes the ATT PDU parsers (every opcode through describe() and each
// parser directly), the client state machine receiving arbitrary PDUs with
// a request outstanding, and the emulated peripheral's ATT server.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ble-reader/att.hpp"
#include "ble-reader/att_client.hpp"
#include "ble-reader/gatt_client.hpp"
#include "ble-reader/gatt_peripheral.hpp"

namespace {
struct NullIo : c4i::reader::AttIo {
  bool send(std::span<const std::uint8_t>) override { return true; }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace c4i::reader;
  std::span<const std::uint8_t> pdu(data, size);
  (void)att::describe(pdu);
  (void)att::parse_error_rsp(pdu);
  (void)att::parse_exchange_mtu(pdu);
  (void)att::parse_read_by_group_type_rsp(pdu);
  if (auto r = att::parse_read_by_type_rsp(pdu)) {
    for (const auto& e : *r) (void)att::parse_characteristic_decl(e.handle, e.value);
  }
  (void)att::parse_find_info_rsp(pdu);
  (void)att::parse_read_rsp(pdu);
  (void)att::parse_handle_value(pdu);
  (void)att::parse_typed_range_req(pdu);
  (void)att::parse_find_info_req(pdu);
  (void)att::parse_read_req(pdu);
  (void)att::parse_write(pdu);

  // The session in discovery: split the input into PDUs at each 0xFF-length prefix.
  NullIo io;
  AttClient client(io, AttClientOptions{1000});
  Session session(client, SessionOptions{}, Session::Callbacks{});
  session.start(0);
  std::size_t at = 0;
  std::int64_t now = 0;
  while (at < size) {
    const std::size_t n = std::min<std::size_t>(data[at], size - at - 1);
    client.receive(pdu.subspan(at + 1, n), ++now);
    at += 1 + n;
  }
  session.stop(++now);
  client.tick(now + 5000);

  GattPeripheral peripheral;
  peripheral.connect(0);
  (void)peripheral.receive(pdu, 0);
  (void)peripheral.poll(1);
  return 0;
}
