// An emulated GATT peripheral: an ATT server (Core v5.3, Vol 3, Part F) with
// a Generic Access, a Heart Rate (0x180D) and a Battery (0x180F) service. Pure
// protocol: PDUs in, PDUs out, time as an argument. Used by the reader's
// tests and by the embedded demo's device simulator; PeripheralServer
// (peripheral_server.hpp) puts it behind a Unix SOCK_SEQPACKET socket.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ble-reader/att.hpp"

namespace c4i::reader {

struct PeripheralConfig {
  std::string device_name = "C4I Heart Rate";
  std::uint16_t mtu = 185;              // server Rx MTU answered to Exchange MTU
  std::uint16_t heart_rate_bpm = 72;    // first value; then it walks 72..80
  bool heart_rate_16bit = false;        // 16-bit rate field
  bool rr_intervals = true;             // include one RR interval per measurement
  bool energy_expended = false;
  std::int64_t heart_rate_interval_ms = 1000;
  std::uint8_t battery_level = 95;
  std::int64_t battery_interval_ms = 0;  // 0: Battery Level is read-only in practice (no notifications sent)
  bool heart_rate_indications = false;   // the measurement offers Indicate instead of Notify
  struct InjectedError {
    std::uint8_t request_opcode = 0;  // e.g. 0x0A Read Request
    std::uint16_t handle = 0;         // 0: any handle
    std::uint8_t code = 0;            // ATT error code
  };
  std::optional<InjectedError> inject_error;
  std::uint64_t disconnect_after_notifications = 0;  // per connection; 0: never
  bool silent = false;  // accept the connection, answer nothing
};

struct PeripheralStats {
  std::uint64_t requests = 0;
  std::uint64_t notifications = 0;
  std::uint64_t indications = 0;
  std::uint64_t confirmations = 0;
  std::uint64_t errors_sent = 0;
  std::uint64_t malformed = 0;
  struct CccdWrite {
    std::uint16_t handle = 0;
    std::uint16_t value = 0;
  };
  std::vector<CccdWrite> cccd_writes;  // in order, across connections
};

class GattPeripheral {
 public:
  // The attribute handles of the database (fixed, so tests can name them).
  static constexpr std::uint16_t kDeviceNameHandle = 0x0003;
  static constexpr std::uint16_t kHeartRateServiceHandle = 0x0004;
  static constexpr std::uint16_t kHeartRateMeasurementHandle = 0x0006;
  static constexpr std::uint16_t kHeartRateCccdHandle = 0x0007;
  static constexpr std::uint16_t kBodySensorLocationHandle = 0x0009;
  static constexpr std::uint16_t kBatteryServiceHandle = 0x000A;
  static constexpr std::uint16_t kBatteryLevelHandle = 0x000C;
  static constexpr std::uint16_t kBatteryCccdHandle = 0x000D;

  explicit GattPeripheral(PeripheralConfig config = {});

  // A new connection: CCCDs and flow control start afresh (no bonding).
  void connect(std::int64_t now_ms);
  // One PDU from the client; returns the PDUs to send back (zero or one).
  std::vector<att::Bytes> receive(std::span<const std::uint8_t> pdu, std::int64_t now_ms);
  // Notifications and indications due at `now_ms`.
  std::vector<att::Bytes> poll(std::int64_t now_ms);
  // When poll() next has something to send.
  std::optional<std::int64_t> next_due() const;
  // True once the configured notification count on this connection was sent.
  bool wants_disconnect() const;

  std::uint16_t cccd(std::uint16_t handle) const;
  const PeripheralStats& stats() const { return stats_; }
  const PeripheralConfig& config() const { return config_; }
  // The Heart Rate Measurement value the next notification will carry.
  att::Bytes next_heart_rate_value() const;

 private:
  struct Attribute {
    std::uint16_t handle = 0;
    std::uint16_t type = 0;  // all 16-bit in this database
    att::Bytes value;
    bool readable = true;
    bool writable = false;
  };
  const Attribute* find(std::uint16_t handle) const;
  Attribute* find(std::uint16_t handle);
  std::optional<att::Bytes> injected(std::uint8_t opcode, std::uint16_t handle);
  att::Bytes read_by_group_type(std::span<const std::uint8_t> pdu);
  att::Bytes read_by_type(std::span<const std::uint8_t> pdu);
  att::Bytes find_information(std::span<const std::uint8_t> pdu);
  att::Bytes read(std::span<const std::uint8_t> pdu);
  std::optional<att::Bytes> write(std::span<const std::uint8_t> pdu, bool with_response);
  att::Bytes error(std::uint8_t opcode, std::uint16_t handle, std::uint8_t code);

  PeripheralConfig config_;
  std::vector<Attribute> db_;
  std::uint16_t mtu_ = att::kDefaultLeMtu;
  std::uint16_t bpm_ = 72;
  std::int64_t next_hr_ms_ = 0;
  std::int64_t next_battery_ms_ = 0;
  bool indication_outstanding_ = false;  // Vol 3, Part F, 3.4.7.2: one at a time
  std::uint64_t sent_this_connection_ = 0;
  PeripheralStats stats_;
};

}  // namespace c4i::reader
