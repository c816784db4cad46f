// A thin RAII layer over SQLite for durable local state: WAL journal, one
// writer, prepared statements, transactions. Errors come back as Result with
// a code that callers map to answers ("storage_full" -> 507, "busy" -> 503).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace c4i::sqlite {

class Db;

class Stmt {
 public:
  Stmt() = default;
  Stmt(Stmt&&) noexcept;
  Stmt& operator=(Stmt&&) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  // Bind by 1-based index. Chainable.
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind_null(int i);
  Stmt& bind_blob(int i, const void* data, std::size_t n);
  template <typename T>
  Stmt& bind(int i, const std::optional<T>& v) { return v ? bind(i, *v) : bind_null(i); }

  // Steps once: true when a row is available, false when done.
  Result<bool> step();
  // Runs to completion (for statements without rows) and resets.
  Status run();
  void reset();

  std::int64_t int64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  bool is_null(int col) const;

 private:
  friend class Db;
  Stmt(sqlite3_stmt* s, sqlite3* db) : stmt_(s), db_(db) {}
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
};

struct Options {
  bool wal = true;
  bool full_sync = true;  // fsync on every commit: survives power loss, not only a crash
  int busy_timeout_ms = 5000;
};

class Db {
 public:
  static Result<Db> open(const std::string& path, Options options = {});
  Db(Db&&) noexcept;
  Db& operator=(Db&&) noexcept;
  ~Db();

  Status exec(const std::string& sql);
  Result<Stmt> prepare(const std::string& sql);
  std::int64_t last_insert_rowid() const;
  int changes() const;
  // "ok" or the problems PRAGMA integrity_check reports.
  Result<std::string> integrity_check();
  sqlite3* handle() const { return db_; }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE on construction; ROLLBACK unless commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  Status begin_status() const { return begun_; }
  Status commit();
 private:
  Db& db_;
  Status begun_;
  bool done_ = false;
};

// Maps a SQLite result code to an Error with a stable code.
Error error_from(int rc, sqlite3* db, std::string_view what);

}  // namespace c4i::sqlite
