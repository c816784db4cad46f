// Reads a c4i-discovery outbox from outside the daemon (WAL lets a reader in)
// for the delivery and reliability tests. Header-only: the tests that include
// it link c4i_common (SQLite); c4i_testlib does not.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "common/sqlite.hpp"

namespace c4i::testing {

// The next seq the daemon will give and the events waiting (-1, -1 when unreadable).
inline std::pair<std::int64_t, std::int64_t> outbox_state(const std::string& path) {
  auto db = sqlite::Db::open(path);
  if (!db) return {-1, -1};
  auto a = db->prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'next_seq'");
  auto b = db->prepare("SELECT count(*) FROM outbox");
  if (!a || !b) return {-1, -1};
  auto ra = a->step();
  auto rb = b->step();
  if (!ra || !*ra || !rb || !*rb) return {-1, -1};
  return {a->int64(0), b->int64(0)};
}

}  // namespace c4i::testing
