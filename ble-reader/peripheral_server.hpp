// A GattPeripheral served on a Unix SOCK_SEQPACKET socket, one ATT PDU per
// packet (the shape of an L2CAP ATT channel), one client at a time, on its
// own thread. Used by the reader's tests and the embedded demo's device
// simulator; `c4i-reader --connect unix:PATH` is its client.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ble-reader/gatt_peripheral.hpp"
#include "common/result.hpp"

namespace c4i::reader {

struct PeripheralServerStats {
  std::uint64_t connections = 0;     // accepted so far
  std::uint64_t disconnects = 0;     // by either side
  bool connected = false;
  std::uint16_t heart_rate_cccd = 0;  // on the current (or last) connection
  std::uint16_t battery_cccd = 0;
  PeripheralStats peripheral;
};

class PeripheralServer {
 public:
  PeripheralServer(std::string socket_path, PeripheralConfig config);
  ~PeripheralServer();  // stops
  PeripheralServer(const PeripheralServer&) = delete;
  PeripheralServer& operator=(const PeripheralServer&) = delete;

  // Binds (replacing a stale socket file), listens, starts the thread.
  Status start();
  // Closes the client and the listener, joins the thread. Idempotent.
  void stop();
  // Thread-safe snapshot.
  PeripheralServerStats stats() const;
  const std::string& path() const { return path_; }

 private:
  void run();
  void serve(int fd);

  std::string path_;
  PeripheralConfig config_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  mutable std::mutex mu_;
  std::unique_ptr<GattPeripheral> peripheral_;  // guarded by mu_
  PeripheralServerStats stats_;                 // guarded by mu_
};

}  // namespace c4i::reader
