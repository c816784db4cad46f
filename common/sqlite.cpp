#include "common/sqlite.hpp"

#include <sqlite3.h>

namespace c4i::sqlite {

Error error_from(int rc, sqlite3* db, std::string_view what) {
  std::string msg = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_FULL: return Error{"storage_full", msg};
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Error{"busy", msg};
    case SQLITE_IOERR: return (rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_FSYNC) ? Error{"io_error", msg} : Error{"io_error", msg};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Error{"corrupt", msg};
    case SQLITE_CONSTRAINT: return Error{"constraint", msg};
    case SQLITE_CANTOPEN: return Error{"cannot_open", msg};
    default: return Error{"storage_error", msg};
  }
}

Stmt::Stmt(Stmt&& o) noexcept : stmt_(o.stmt_), db_(o.db_) { o.stmt_ = nullptr; }
Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    stmt_ = o.stmt_;
    db_ = o.db_;
    o.stmt_ = nullptr;
  }
  return *this;
}
Stmt::~Stmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Stmt& Stmt::bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); return *this; }
Stmt& Stmt::bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); return *this; }
Stmt& Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_null(int i) { sqlite3_bind_null(stmt_, i); return *this; }
Stmt& Stmt::bind_blob(int i, const void* data, std::size_t n) {
  sqlite3_bind_blob(stmt_, i, data, static_cast<int>(n), SQLITE_TRANSIENT);
  return *this;
}

Result<bool> Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error e = error_from(rc, db_, "sqlite step");
  sqlite3_reset(stmt_);
  return e;
}

Status Stmt::run() {
  auto r = step();
  while (r.ok() && *r) r = step();
  reset();
  if (!r.ok()) return r.error();
  return ok_status();
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t Stmt::int64(int col) const { return sqlite3_column_int64(stmt_, col); }
double Stmt::real(int col) const { return sqlite3_column_double(stmt_, col); }
std::string Stmt::text(int col) const {
  auto p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
}
bool Stmt::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Result<Db> Db::open(const std::string& path, Options options) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = error_from(rc, raw, "open " + path);
    sqlite3_close(raw);
    return e;
  }
  Db db(raw);
  sqlite3_busy_timeout(raw, options.busy_timeout_ms);
  if (options.wal) {
    if (auto s = db.exec("PRAGMA journal_mode=WAL"); !s) return s.error();
  }
  if (auto s = db.exec(options.full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"); !s) return s.error();
  if (auto s = db.exec("PRAGMA foreign_keys=ON"); !s) return s.error();
  return db;
}

Db::Db(Db&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close_v2(db_);
    db_ = o.db_;
    o.db_ = nullptr;
  }
  return *this;
}
Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

Status Db::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    Error e = error_from(rc, db_, "exec");
    if (err) {
      e.message = "sqlite exec: " + std::string(err);
      sqlite3_free(err);
    }
    return e;
  }
  return ok_status();
}

Result<Stmt> Db::prepare(const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return error_from(rc, db_, "prepare `" + sql + "`");
  return Stmt(s, db_);
}

std::int64_t Db::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Db::changes() const { return sqlite3_changes(db_); }

Result<std::string> Db::integrity_check() {
  auto st = prepare("PRAGMA integrity_check");
  if (!st) return st.error();
  std::string out;
  while (true) {
    auto r = st->step();
    if (!r) return r.error();
    if (!*r) break;
    if (!out.empty()) out += "; ";
    out += st->text(0);
  }
  return out;
}

Transaction::Transaction(Db& db) : db_(db), begun_(db.exec("BEGIN IMMEDIATE")) {}
Transaction::~Transaction() {
  if (begun_ && !done_) (void)db_.exec("ROLLBACK");
}
Status Transaction::commit() {
  if (!begun_) return begun_;
  auto s = db_.exec("COMMIT");
  if (s) done_ = true;
  return s;
}

}  // namespace c4i::sqlite
