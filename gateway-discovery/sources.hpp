// Where advertising reports come from: a BlueZ HCI socket (the radio), a
// btsnoop capture replayed at some speed, or the embedded demo's device
// simulator over a socket. Every source hands the daemon raw HCI event
// packets, so all go through the same decoder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "common/result.hpp"
#include "gateway-discovery/daemon_config.hpp"

namespace c4i::discovery {

// An HCI event packet (Event_Code, length, parameters) and when it was received (Unix ms).
using PacketSink = std::function<void(std::span<const std::uint8_t> event, std::int64_t t_ms)>;

class Source {
 public:
  virtual ~Source() = default;
  // Waits at most `max_wait_ms` for packets and hands each to `sink`.
  // An error is fatal for the source (the adapter went away).
  virtual Status pump(int max_wait_ms, const PacketSink& sink) = 0;
  // The source's clock, Unix ms: the time the presence logic runs on.
  virtual std::int64_t now_ms() = 0;
  virtual std::string describe() const = 0;
};

struct ScanSettings {
  bool active = false;
  int interval_ms = 100;
  int window_ms = 50;
  bool filter_duplicates = false;
};

std::int64_t wall_ms();

// Error codes: "no_adapter" and "permission" (exit 3), "io_error".
Result<std::unique_ptr<Source>> open_hci_source(const std::string& device, const ScanSettings& scan);
// Error codes: "not_found", "malformed", "unsupported" (exit 2).
Result<std::unique_ptr<Source>> open_btsnoop_source(const std::string& path, double speed);
// Connects lazily and reconnects with backoff; never fails to open.
std::unique_ptr<Source> open_sim_source(const SourceSpec& spec, const std::string& gateway);

// A read-only memory map of a whole file (captures can be large; pages
// already read can be dropped to keep the resident set small).
class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);
  MappedFile(MappedFile&&) noexcept;
  MappedFile& operator=(MappedFile&&) = delete;
  ~MappedFile();
  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  // Tells the kernel the bytes before `offset` are no longer needed.
  void release_before(std::size_t offset);

 private:
  MappedFile(const std::uint8_t* d, std::size_t n) : data_(d), size_(n) {}
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t released_ = 0;
};

}  // namespace c4i::discovery
