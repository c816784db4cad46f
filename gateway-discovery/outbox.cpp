#include "gateway-discovery/outbox.hpp"

#include <sys/random.h>

#include <array>
#include <cstdio>
#include <random>

namespace c4i::discovery {

std::string random_uuid() {
  std::array<std::uint8_t, 16> b{};
  std::size_t got = 0;
  while (got < b.size()) {
    const ssize_t n = getrandom(b.data() + got, b.size() - got, 0);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got < b.size()) {  // getrandom cannot fail on Linux >= 3.17 short of a signal; fall back anyway
    std::random_device rd;
    for (auto& x : b) x = static_cast<std::uint8_t>(rd());
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);  // variant 10
  char s[37];
  std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return s;
}

Result<Outbox> Outbox::open(const std::string& path) {
  auto db = sqlite::Db::open(path);
  if (!db) return Error{db.error().code, "outbox " + path + ": " + db.error().message};
  // A small page cache: the outbox is read front to back and a gateway has
  // little memory (SQLite's default is 2 MiB per connection).
  if (auto s = db->exec("PRAGMA cache_size = -256"); !s)
    return Error{s.error().code, "outbox " + path + ": " + s.error().message};
  if (auto s = db->exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                        "CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY, payload TEXT NOT NULL);");
      !s)
    return Error{s.error().code, "outbox " + path + ": " + s.error().message};
  // boot_id and next_seq are created together, once, with the database.
  sqlite::Transaction tx(*db);
  if (!tx.begin_status()) return tx.begin_status().error();
  auto sel = db->prepare("SELECT value FROM meta WHERE key = 'boot_id'");
  if (!sel) return sel.error();
  auto row = sel->step();
  if (!row) return row.error();
  std::string boot_id;
  if (*row) {
    boot_id = sel->text(0);
  } else {
    boot_id = random_uuid();
    auto ins = db->prepare("INSERT INTO meta(key, value) VALUES ('boot_id', ?1), ('next_seq', '1')");
    if (!ins) return ins.error();
    if (auto s = ins->bind(1, boot_id).run(); !s) return s.error();
  }
  sel->reset();
  if (auto s = tx.commit(); !s) return s.error();
  return Outbox(std::move(*db), std::move(boot_id));
}

Result<std::int64_t> Outbox::next_seq() {
  auto st = db_.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'next_seq'");
  if (!st) return st.error();
  auto row = st->step();
  if (!row) return row.error();
  if (!*row) return Error{"corrupt", "outbox: next_seq is missing"};
  return st->int64(0);
}

Result<std::int64_t> Outbox::append(const std::vector<std::string>& payloads) {
  sqlite::Transaction tx(db_);
  if (!tx.begin_status()) return tx.begin_status().error();
  auto next = next_seq();
  if (!next) return next.error();
  std::int64_t seq = *next;
  auto ins = db_.prepare("INSERT INTO outbox(seq, payload) VALUES (?1, ?2)");
  if (!ins) return ins.error();
  for (const auto& p : payloads) {
    if (auto s = ins->bind(1, seq).bind(2, p).run(); !s) return s.error();
    ++seq;
  }
  auto upd = db_.prepare("UPDATE meta SET value = ?1 WHERE key = 'next_seq'");
  if (!upd) return upd.error();
  if (auto s = upd->bind(1, std::to_string(seq)).run(); !s) return s.error();
  if (auto s = tx.commit(); !s) return s.error();
  return seq - 1;
}

Result<std::vector<OutboxRow>> Outbox::peek(int limit) {
  auto st = db_.prepare("SELECT seq, payload FROM outbox ORDER BY seq LIMIT ?1");
  if (!st) return st.error();
  st->bind(1, limit);
  std::vector<OutboxRow> rows;
  for (;;) {
    auto r = st->step();
    if (!r) return r.error();
    if (!*r) break;
    rows.push_back(OutboxRow{st->int64(0), st->text(1)});
  }
  return rows;
}

Status Outbox::trim(std::int64_t last_seq) {
  auto st = db_.prepare("DELETE FROM outbox WHERE seq <= ?1");
  if (!st) return st.error();
  return st->bind(1, last_seq).run();
}

Result<std::int64_t> Outbox::pending() {
  auto st = db_.prepare("SELECT count(*) FROM outbox");
  if (!st) return st.error();
  auto r = st->step();
  if (!r) return r.error();
  return st->int64(0);
}

}  // namespace c4i::discovery
