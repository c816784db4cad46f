// The durable outbox: events are written here (SQLite, WAL, fsync on every
// commit) before anything is sent, and deleted only after the orchestrator
// answered 200. It also keeps the gateway's boot_id and the next seq, so a
// restarted daemon continues the same sequence; a new boot_id appears only
// with a new database.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/sqlite.hpp"
#include "gateway-discovery/events.hpp"

namespace c4i::discovery {

class Outbox {
 public:
  // Opens (creating when new) the outbox at `path`. Each thread opens its own.
  static Result<Outbox> open(const std::string& path);

  const std::string& boot_id() const { return boot_id_; }
  // Appends payloads (event JSON without "seq") in one transaction; returns
  // the seq given to the last one.
  Result<std::int64_t> append(const std::vector<std::string>& payloads);
  // The oldest events, at most `limit`, in seq order.
  Result<std::vector<OutboxRow>> peek(int limit);
  // Deletes every event with seq <= `last_seq` (after a 200).
  Status trim(std::int64_t last_seq);
  Result<std::int64_t> pending();
  Result<std::int64_t> next_seq();

 private:
  Outbox(sqlite::Db db, std::string boot_id) : db_(std::move(db)), boot_id_(std::move(boot_id)) {}
  sqlite::Db db_;
  std::string boot_id_;
};

// A random (version 4) UUID, lowercase (RFC 4122, 4.4).
std::string random_uuid();

}  // namespace c4i::discovery
