#include "common/sqlite.h"

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera {
namespace {

absl::StatusCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT: return absl::StatusCode::kDataLoss;
    case SQLITE_NOTADB: return absl::StatusCode::kFailedPrecondition;
    case SQLITE_FULL: return absl::StatusCode::kResourceExhausted;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return absl::StatusCode::kUnavailable;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN: return absl::StatusCode::kPermissionDenied;
    case SQLITE_CONSTRAINT: return absl::StatusCode::kAlreadyExists;
    case SQLITE_ERROR: return absl::StatusCode::kInvalidArgument;
    default: return absl::StatusCode::kInternal;
  }
}

}  // namespace

// ------------------------------------------------------------- Statement

void Statement::NoteBind(int rc) {
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
}

Statement& Statement::Bind(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_.get(), index, value));
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  NoteBind(sqlite3_bind_double(stmt_.get(), index, value));
  return *this;
}

Statement& Statement::Bind(int index, absl::string_view text) {
  NoteBind(sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8));
  return *this;
}

Statement& Statement::BindBlob(int index, absl::string_view bytes) {
  // A zero-length blob must still be a blob, not NULL.
  static const char kEmpty = 0;
  NoteBind(sqlite3_bind_blob64(stmt_.get(), index, bytes.empty() ? &kEmpty : bytes.data(),
                               bytes.size(), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::BindNull(int index) {
  NoteBind(sqlite3_bind_null(stmt_.get(), index));
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  if (bind_error_ != SQLITE_OK) return db_->Error(bind_error_, "binding a parameter");
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(rc, absl::StrCat("running `", sqlite3_sql(stmt_.get()), "`"));
}

absl::Status Statement::Run() {
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}

int64_t Statement::ColumnInt(int column) const { return sqlite3_column_int64(stmt_.get(), column); }

double Statement::ColumnDouble(int column) const {
  return sqlite3_column_double(stmt_.get(), column);
}

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), column)));
}

std::string Statement::ColumnBlob(int column) const {
  const void* data = sqlite3_column_blob(stmt_.get(), column);
  if (data == nullptr) return "";
  return std::string(static_cast<const char*>(data),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), column)));
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

void Statement::Reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  bind_error_ = SQLITE_OK;
}

// -------------------------------------------------------------- Database

absl::Status Database::Error(int rc, absl::string_view what) const {
  return absl::Status(CodeFor(rc), absl::StrCat(description_, " `", path_, "`: ", what, ": ",
                                                db_ != nullptr ? sqlite3_errmsg(db_)
                                                               : sqlite3_errstr(rc)));
}

absl::Status Database::CheckOwnership(const DatabaseOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(Statement app, Prepare("PRAGMA application_id"));
  auto app_row = app.Step();
  if (!app_row.ok()) {
    if (absl::StrContains(app_row.status().message(), "not a database")) {
      return absl::FailedPreconditionError(absl::StrCat(
          description_, " `", path_,
          "` is not a SQLite database; check the path (Tessera never overwrites it)"));
    }
    return app_row.status();
  }
  const int64_t app_id = app.ColumnInt(0);
  TESSERA_ASSIGN_OR_RETURN(Statement tables, Prepare("SELECT count(*) FROM sqlite_master"));
  TESSERA_RETURN_IF_ERROR(tables.Step().status());
  const bool empty = tables.ColumnInt(0) == 0;
  if (app_id != options.application_id && !(app_id == 0 && empty)) {
    return absl::FailedPreconditionError(absl::StrCat(
        description_, " `", path_,
        "` belongs to another application (or another part of Tessera); check the path "
        "(Tessera never overwrites it)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                        const DatabaseOptions& options) {
  sqlite3* raw = nullptr;
  const int flags = (options.read_only ? SQLITE_OPEN_READONLY
                                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_FULLMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  std::unique_ptr<Database> db(new Database(raw, path, options.description));
  if (rc != SQLITE_OK) return db->Error(rc, "cannot open it");
  sqlite3_extended_result_codes(raw, 1);
  // Tessera's databases are for their owner only (SQLite gives the -wal and
  // -shm files the same mode).
  if (!options.read_only && path != ":memory:") ::chmod(path.c_str(), 0600);
  sqlite3_busy_timeout(raw, 5000);

  // Is this ours? Reading the header fails on a file that is not a database.
  // (The statements are finalised before the pragmas below, which cannot run
  // while a statement holds a read transaction open.)
  TESSERA_RETURN_IF_ERROR(db->CheckOwnership(options));
  if (!options.read_only) {
    if (path != ":memory:") TESSERA_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
    TESSERA_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=FULL"));
  }
  TESSERA_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=ON"));
  TESSERA_RETURN_IF_ERROR(db->Migrate(options));
  return db;
}

Database::~Database() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

absl::StatusOr<Statement> Database::Prepare(absl::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, absl::StrCat("preparing `", sql, "`"));
  return Statement(this, stmt);
}

absl::Status Database::Exec(absl::string_view sql) {
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "running a statement");
  return absl::OkStatus();
}

absl::StatusOr<int> Database::SchemaVersion() {
  TESSERA_ASSIGN_OR_RETURN(Statement stmt, Prepare("PRAGMA user_version"));
  TESSERA_RETURN_IF_ERROR(stmt.Step().status());
  return static_cast<int>(stmt.ColumnInt(0));
}

absl::Status Database::Migrate(const DatabaseOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(int version, SchemaVersion());
  const int latest = options.migrations.empty() ? 0 : options.migrations.back().version;
  if (version > latest) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.description, " `", path_, "` has schema version ", version,
        ", newer than this Tessera knows (", latest, "); upgrade Tessera before using it"));
  }
  if (version == latest) return absl::OkStatus();
  if (options.read_only) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.description, " `", path_, "` needs upgrading from schema version ", version,
        " to ", latest, "; open it once read-write"));
  }
  for (const Migration& migration : options.migrations) {
    if (migration.version <= version) continue;
    TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*this));
    TESSERA_RETURN_IF_ERROR(Exec(migration.sql));
    TESSERA_RETURN_IF_ERROR(Exec(absl::StrCat("PRAGMA application_id=", options.application_id,
                                              "; PRAGMA user_version=", migration.version)));
    TESSERA_RETURN_IF_ERROR(transaction.Commit());
  }
  return absl::OkStatus();
}

absl::Status Database::CheckIntegrity() {
  TESSERA_ASSIGN_OR_RETURN(Statement stmt, Prepare("PRAGMA integrity_check"));
  std::string findings;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    const std::string line = stmt.ColumnText(0);
    if (line != "ok") absl::StrAppend(&findings, findings.empty() ? "" : "; ", line);
  }
  if (!findings.empty()) {
    return absl::DataLossError(absl::StrCat(description_, " `", path_,
                                            "` failed its integrity check: ", findings));
  }
  return absl::OkStatus();
}

absl::Status Database::BackupTo(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> dest(raw, sqlite3_close_v2);
  if (rc != SQLITE_OK) {
    return absl::Status(CodeFor(rc), absl::StrCat("cannot create backup `", path, "`: ",
                                                  sqlite3_errstr(rc)));
  }
  sqlite3_backup* backup = sqlite3_backup_init(dest.get(), "main", db_, "main");
  if (backup == nullptr) {
    return absl::Status(CodeFor(sqlite3_errcode(dest.get())),
                        absl::StrCat("cannot start backup to `", path, "`: ",
                                     sqlite3_errmsg(dest.get())));
  }
  rc = sqlite3_backup_step(backup, -1);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) {
    return absl::Status(CodeFor(rc), absl::StrCat("backup to `", path, "` failed: ",
                                                  sqlite3_errstr(rc)));
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------- Transaction

absl::StatusOr<Transaction> Transaction::Begin(Database& db) {
  TESSERA_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::~Transaction() {
  if (db_ != nullptr) db_->Exec("ROLLBACK").IgnoreError();
}

absl::Status Transaction::Commit() {
  if (db_ == nullptr) return absl::FailedPreconditionError("the transaction is already over");
  absl::Status status = db_->Exec("COMMIT");
  if (status.ok()) db_ = nullptr;
  return status;
}

}  // namespace tessera
