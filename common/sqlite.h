// A small, safe layer over SQLite's C API for the coordinator's store and
// the agent's privacy ledger: RAII for every handle, Status errors that name
// the database file, prepared statements with typed binds, transactions that
// roll back unless committed, and versioned schema migrations.
//
// Every database Tessera creates carries an application id, so a file that
// belongs to something else (or is not a database at all) is refused with a
// clear error instead of being "upgraded" into ours.
//
// This is its own library target (tessera_sqlite), so the pure cores that
// link tessera_common never link SQLite.
//
// Thread-safety: a Database is used from one thread at a time (the caller
// serialises); SQLite itself is built thread-safe on Debian.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

class Database;

// One prepared statement. Bind parameters are 1-based, as in SQLite.
class Statement {
 public:
  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, double value);
  Statement& Bind(int index, absl::string_view text);
  Statement& BindBlob(int index, absl::string_view bytes);
  Statement& BindNull(int index);

  // Runs one step: true when a row is available, false when done.
  // Errors (including any from a failed Bind) name the database.
  absl::StatusOr<bool> Step();
  // Steps until done; for statements that return no rows.
  absl::Status Run();

  int64_t ColumnInt(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;
  bool ColumnIsNull(int column) const;

  // Clears bindings and rewinds, to run the statement again.
  void Reset();

 private:
  friend class Database;
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };
  Statement(Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void NoteBind(int rc);

  Database* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  int bind_error_ = SQLITE_OK;
};

// A migration takes the schema from version `version - 1` to `version`.
struct Migration {
  int version;
  std::string sql;
};

struct DatabaseOptions {
  // Identifies the kind of database (stored as PRAGMA application_id).
  int32_t application_id = 0;
  // What the file is called in messages ("coordinator database").
  std::string description = "database";
  // Migrations in order, starting at version 1.
  std::vector<Migration> migrations;
  bool read_only = false;
};

class Database {
 public:
  // Opens (creating unless read-only) the database at `path` (":memory:"
  // for tests), in WAL mode with foreign keys on, with file mode 0600, and
  // applies pending migrations in one transaction each. Errors:
  //   FAILED_PRECONDITION  the file is not a SQLite database, belongs to
  //                        another application, or has a schema newer than
  //                        this software knows (it is never modified then);
  //   DATA_LOSS            SQLite reports corruption;
  //   others               as SQLite reports them, naming the file.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        const DatabaseOptions& options);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Prepares one statement; INVALID_ARGUMENT naming the SQL error.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  // Runs one or more statements that return no rows.
  absl::Status Exec(absl::string_view sql);

  // The current schema version (PRAGMA user_version).
  absl::StatusOr<int> SchemaVersion();

  // Runs PRAGMA integrity_check; DATA_LOSS with SQLite's findings otherwise.
  absl::Status CheckIntegrity();

  // Copies the whole database to `path` while it stays in use (SQLite's
  // online backup API), then syncs it.
  absl::Status BackupTo(const std::string& path);

  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
  const std::string& path() const { return path_; }

  // A status for SQLite result code `rc`, naming this database and `what`.
  absl::Status Error(int rc, absl::string_view what) const;

 private:
  Database(sqlite3* db, std::string path, std::string description)
      : db_(db), path_(std::move(path)), description_(std::move(description)) {}
  absl::Status CheckOwnership(const DatabaseOptions& options);
  absl::Status Migrate(const DatabaseOptions& options);

  sqlite3* db_;
  std::string path_;
  std::string description_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless Commit()
// succeeded. Use Begin() to construct.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(Database& db);
  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  absl::Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;
};

}  // namespace tessera
