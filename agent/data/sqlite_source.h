// Records from an SQLite database: the rows of one configured query, read
// strictly read-only and streamed one row at a time.
//
// The database is opened with SQLITE_OPEN_READONLY, the connection is put in
// `PRAGMA query_only`, and a query that would change anything
// (sqlite3_stmt_readonly() is false) or holds more than one statement is
// refused, so a mistake in agent.toml cannot write to a trust's database.
// Column names are those of the query's result. Cells:
//   NULL or empty text -> kMissing; INTEGER -> its decimal text;
//   REAL -> shortest-round-trip text ("%.17g"); TEXT -> as stored, or
//   kInvalidUtf8 when it is not UTF-8; BLOB -> kBlob.
// Record::line is the 1-based row number of the result. The split
// (split.h) assigns rows by their position, so a query whose row order can
// change between runs should end with ORDER BY on a stable key.
//
// Thread-safety: a SqliteSource is used from one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/data/record_source.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tessera::agent::data {

struct SqliteCloser {
  void operator()(sqlite3* db) const;
};
struct SqliteStatementFinalizer {
  void operator()(sqlite3_stmt* statement) const;
};
using SqliteDbPtr = std::unique_ptr<sqlite3, SqliteCloser>;
using SqliteStatementPtr = std::unique_ptr<sqlite3_stmt, SqliteStatementFinalizer>;

class SqliteSource final : public RecordSource {
 public:
  // Opens the database at `path` read-only and prepares `query`. Waits up to
  // `busy_timeout` for a writer's lock. Errors, each naming the dataset and
  // carrying SQLite's message: NOT_FOUND (no such file), FAILED_PRECONDITION
  // (cannot be opened, or is not an SQLite database), INVALID_ARGUMENT (the
  // query does not compile, is not a single read-only statement, returns no
  // columns or repeats a column name).
  static absl::StatusOr<std::unique_ptr<SqliteSource>> Open(
      std::string dataset, const std::string& path, const std::string& query,
      absl::Duration busy_timeout = absl::Seconds(5));

  SqliteSource(const SqliteSource&) = delete;
  SqliteSource& operator=(const SqliteSource&) = delete;

  const std::string& dataset() const override { return dataset_; }
  DatasetKind kind() const override { return DatasetKind::kSqlite; }
  const std::vector<std::string>& columns() const override { return columns_; }
  // See RecordSource::Next. Errors: INTERNAL naming the dataset, the row and
  // SQLite's message (for example a database that is locked for longer than
  // the busy timeout gives UNAVAILABLE instead, which is worth a retry).
  absl::StatusOr<bool> Next(Record* record) override;

 private:
  SqliteSource(std::string dataset, SqliteDbPtr db, SqliteStatementPtr statement,
               std::vector<std::string> columns)
      : dataset_(std::move(dataset)),
        db_(std::move(db)),
        statement_(std::move(statement)),
        columns_(std::move(columns)) {}

  std::string dataset_;
  // Declared before statement_ so the statement is finalized first.
  SqliteDbPtr db_;
  SqliteStatementPtr statement_;
  std::vector<std::string> columns_;
  int64_t next_index_ = 0;
  bool done_ = false;
};

}  // namespace tessera::agent::data
