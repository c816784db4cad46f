// GATT client procedures over an AttClient (Core v5.3, Vol 3, Part G, 4):
// MTU exchange, primary service discovery by group type (4.4.1),
// characteristic discovery (4.6.1), descriptor discovery (4.7.1), read (4.8.1),
// CCCD writes (4.12.3), and the reader's session on top: discover, read what
// is readable and known, subscribe, stream, unsubscribe on stop.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ble-reader/att_client.hpp"
#include "ble-reader/uuid.hpp"

namespace c4i::reader {

struct Descriptor {
  std::uint16_t handle = 0;
  Uuid type;
};
struct Characteristic {
  std::uint16_t decl_handle = 0;
  std::uint16_t value_handle = 0;
  std::uint16_t end_handle = 0;  // last handle of its descriptors
  std::uint8_t properties = 0;
  Uuid uuid;
  std::vector<Descriptor> descriptors;
  std::optional<std::uint16_t> cccd() const;
};
struct Service {
  std::uint16_t start = 0;
  std::uint16_t end = 0;
  Uuid uuid;
  std::vector<Characteristic> characteristics;
};
struct Database {
  std::vector<Service> services;
  const Characteristic* find_by_value_handle(std::uint16_t handle) const;
};

// Runs the discovery procedures one request at a time.
class GattDiscovery {
 public:
  using Done = std::function<void(Result<Database>)>;
  GattDiscovery(AttClient& att) : att_(att) {}
  // Exchanges the MTU (when mtu > 23), then walks the whole database.
  void start(std::uint16_t mtu, Done done, std::int64_t now_ms);

 private:
  void services(std::uint16_t from, std::int64_t now_ms);
  void characteristics(std::size_t svc, std::uint16_t from, std::int64_t now_ms);
  void descriptors(std::size_t svc, std::size_t chr, std::uint16_t from, std::int64_t now_ms);
  void next_descriptors(std::size_t svc, std::size_t chr, std::int64_t now_ms);
  void fail(const std::string& message);
  void succeed();

  AttClient& att_;
  Done done_;
  Database db_;
};

struct SessionOptions {
  std::uint16_t mtu = 247;
  // Characteristics to subscribe to; empty: every one that can notify or indicate.
  std::vector<Uuid> characteristics;
  bool prefer_indications = false;  // when a characteristic offers both
  bool read_known = true;           // read readable known characteristics once after discovery
};

struct Sample {
  enum class Source { notification, indication, read };
  Source source = Source::notification;
  std::uint16_t handle = 0;
  std::optional<Uuid> uuid;
  std::vector<std::uint8_t> value;
};

// The reader's life on one connection: discover, read, subscribe, stream, stop.
class Session {
 public:
  enum class State { idle, discovering, subscribing, streaming, stopping, stopped, failed };
  struct Callbacks {
    std::function<void(const Sample&)> sample;
    // A problem worth one line on stderr; `fatal` ends this connection.
    std::function<void(const std::string& line, bool fatal)> problem;
    std::function<void(std::size_t subscriptions)> streaming;
    std::function<void()> stopped;  // after stop(): CCCDs written back to 0 (or failed)
  };
  Session(AttClient& att, SessionOptions options, Callbacks callbacks);
  void start(std::int64_t now_ms);
  // Writes 0 to every CCCD this session enabled, then calls `stopped`.
  void stop(std::int64_t now_ms);
  State state() const { return state_; }
  const Database& database() const { return db_; }
  struct Subscription {
    std::uint16_t value_handle = 0;
    std::uint16_t cccd_handle = 0;
    bool indication = false;
    Uuid uuid;
  };
  const std::vector<Subscription>& subscriptions() const { return subs_; }

 private:
  void on_discovered(Result<Database> db, std::int64_t now_ms);
  void on_value(const att::HandleValue& hv);
  void fatal(const std::string& line);

  AttClient& att_;
  SessionOptions options_;
  Callbacks cb_;
  GattDiscovery discovery_;
  Database db_;
  std::vector<Subscription> subs_;
  std::vector<Subscription> enabling_;  // CCCD writes sent and not refused (stop() undoes them all)
  std::size_t pending_ = 0;  // requests of the current phase still outstanding
  State state_ = State::idle;
};

}  // namespace c4i::reader
