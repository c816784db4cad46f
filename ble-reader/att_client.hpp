// ATT client bearer, transport-independent (the shape of BlueZ's
// src/shared/att.c): PDUs come in through receive(), go out through a tiny
// AttIo, one request is outstanding at a time (Core v5.3, Vol 3, Part F,
// 3.3.2), each request has a callback and an id, and a request not answered
// within the timeout (30 s, 3.3.3) fails and ends the bearer. Time is an
// argument (milliseconds on any monotonic clock), so tests drive it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "ble-reader/att.hpp"

namespace c4i::reader {

// Where the client's PDUs go: a socket, a socketpair, or a peripheral in memory.
class AttIo {
 public:
  virtual ~AttIo() = default;
  // Sends one whole ATT PDU; false when the transport failed.
  virtual bool send(std::span<const std::uint8_t> pdu) = 0;
};

// How a request ended.
struct AttOutcome {
  enum class Kind { response, att_error, timeout, disconnected, malformed };
  Kind kind = Kind::response;
  att::Bytes pdu;            // the response PDU (kind == response)
  att::ErrorRsp error;       // kind == att_error
  std::string message;       // one line for a human (empty on success)
  bool ok() const { return kind == Kind::response; }
  bool is_att_error(std::uint8_t code) const { return kind == Kind::att_error && error.code == code; }
};

struct AttClientOptions {
  std::int64_t timeout_ms = 30'000;  // Core v5.3, Vol 3, Part F, 3.3.3
};

struct AttClientStats {
  std::uint64_t requests = 0;
  std::uint64_t notifications = 0;
  std::uint64_t indications = 0;
  std::uint64_t unexpected = 0;  // responses nobody asked for, counted and dropped
  std::uint64_t malformed = 0;   // PDUs that failed their length checks
};

class AttClient {
 public:
  using ResponseCallback = std::function<void(const AttOutcome&)>;
  // Notifications and indications; an indication is confirmed after the handler returns.
  using ValueHandler = std::function<void(const att::HandleValue&)>;

  AttClient(AttIo& io, AttClientOptions options = {});
  AttClient(const AttClient&) = delete;
  AttClient& operator=(const AttClient&) = delete;

  // Queues a request PDU; it is sent when no other request is outstanding.
  // Returns its id (> 0), or 0 when the bearer is closed.
  unsigned request(att::Bytes pdu, ResponseCallback cb, std::int64_t now_ms);
  // Sends a command (no response expected); false when the bearer is closed.
  bool command(const att::Bytes& pdu);
  // Drops a request's callback; a request already sent still holds the bearer
  // until its response arrives or times out.
  bool cancel(unsigned id);

  // One PDU received from the server.
  void receive(std::span<const std::uint8_t> pdu, std::int64_t now_ms);
  // Fails the outstanding request when its deadline has passed.
  void tick(std::int64_t now_ms);
  // When tick() must next be called, if a request is outstanding.
  std::optional<std::int64_t> next_deadline() const;
  // The transport went away: every queued request fails with `reason`.
  void close(const std::string& reason);

  void set_value_handler(ValueHandler h) { on_value_ = std::move(h); }
  bool open() const { return open_; }
  bool idle() const { return !outstanding_ && queue_.empty(); }
  std::uint16_t mtu() const { return mtu_; }
  void set_mtu(std::uint16_t mtu) { mtu_ = mtu; }
  const AttClientStats& stats() const { return stats_; }
  // Why the bearer closed (timeout, transport), empty while open.
  const std::string& close_reason() const { return close_reason_; }

 private:
  struct Pending {
    unsigned id = 0;
    att::Bytes pdu;
    ResponseCallback cb;
    std::int64_t deadline_ms = 0;
  };
  void send_next(std::int64_t now_ms);
  void finish(AttOutcome outcome, std::int64_t now_ms);
  void fail_all(AttOutcome::Kind kind, const std::string& reason);

  AttIo& io_;
  AttClientOptions options_;
  ValueHandler on_value_;
  std::optional<Pending> outstanding_;
  std::deque<Pending> queue_;
  unsigned next_id_ = 1;
  bool open_ = true;
  std::uint16_t mtu_ = att::kDefaultLeMtu;
  AttClientStats stats_;
  std::string close_reason_;
};

}  // namespace c4i::reader
