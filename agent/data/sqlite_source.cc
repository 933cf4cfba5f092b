#include "agent/data/sqlite_source.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/data/utf8.h"

namespace tessera::agent::data {

void SqliteCloser::operator()(sqlite3* db) const { sqlite3_close(db); }
void SqliteStatementFinalizer::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

absl::StatusOr<std::unique_ptr<SqliteSource>> SqliteSource::Open(std::string dataset,
                                                                 const std::string& path,
                                                                 const std::string& query,
                                                                 absl::Duration busy_timeout) {
  const std::string where = absl::StrCat("dataset `", dataset, "`");
  // SQLite reports a missing file as a generic "unable to open"; say which.
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 && errno == ENOENT) {
    return absl::NotFoundError(absl::StrCat(where, ": SQLite database `", path,
                                            "` does not exist; check `path` in agent.toml"));
  }
  sqlite3* raw_db = nullptr;
  const int open_code =
      sqlite3_open_v2(path.c_str(), &raw_db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteDbPtr db(raw_db);  // sqlite3_open_v2 allocates a handle even when it fails
  if (open_code != SQLITE_OK) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": cannot open SQLite database `", path, "` read-only: ",
                     db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(open_code)));
  }
  sqlite3_busy_timeout(db.get(), static_cast<int>(absl::ToInt64Milliseconds(busy_timeout)));
  char* pragma_error = nullptr;
  if (sqlite3_exec(db.get(), "PRAGMA query_only = ON", nullptr, nullptr, &pragma_error) !=
      SQLITE_OK) {
    std::string message = pragma_error != nullptr ? pragma_error : sqlite3_errmsg(db.get());
    sqlite3_free(pragma_error);
    // The first statement is where SQLite finds out the file is no database.
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": cannot use `", path, "` as an SQLite database: ", message));
  }

  sqlite3_stmt* raw_statement = nullptr;
  const char* tail = nullptr;
  const int prepare_code = sqlite3_prepare_v2(db.get(), query.c_str(),
                                              static_cast<int>(query.size()) + 1, &raw_statement,
                                              &tail);
  SqliteStatementPtr statement(raw_statement);
  if (prepare_code != SQLITE_OK) {
    const int extended = sqlite3_extended_errcode(db.get());
    std::string message = sqlite3_errmsg(db.get());
    if (extended == SQLITE_NOTADB || prepare_code == SQLITE_NOTADB) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, ": cannot use `", path, "` as an SQLite database: ", message));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the query does not compile: ", message));
  }
  if (statement == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the query is empty; give a SELECT statement"));
  }
  if (tail != nullptr && *tail != '\0') {
    // Whatever follows the first statement must compile to nothing (spaces,
    // comments); a second statement would be silently ignored otherwise.
    sqlite3_stmt* raw_rest = nullptr;
    const int rest_code = sqlite3_prepare_v2(db.get(), tail, -1, &raw_rest, nullptr);
    SqliteStatementPtr rest(raw_rest);
    if (rest_code != SQLITE_OK || rest != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the query holds more than one statement; give a single SELECT"));
    }
  }
  if (sqlite3_stmt_readonly(statement.get()) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": the query would modify the database; only read-only SELECT queries are run"));
  }
  const int column_count = sqlite3_column_count(statement.get());
  if (column_count <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": the query returns no columns; give a SELECT statement"));
  }
  std::vector<std::string> columns;
  absl::flat_hash_map<std::string, int> seen;
  for (int i = 0; i < column_count; ++i) {
    const char* name = sqlite3_column_name(statement.get(), i);
    std::string column = name != nullptr ? name : "";
    if (column.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": result column ", i + 1, " of the query has no name; add `AS name`"));
    }
    auto [it, inserted] = seen.emplace(column, i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the query returns column `", column, "` twice (columns ", it->second + 1,
          " and ", i + 1, "); rename one with `AS`"));
    }
    columns.push_back(std::move(column));
  }
  return std::unique_ptr<SqliteSource>(new SqliteSource(
      std::move(dataset), std::move(db), std::move(statement), std::move(columns)));
}

absl::StatusOr<bool> SqliteSource::Next(Record* record) {
  if (done_) return false;
  const int code = sqlite3_step(statement_.get());
  if (code == SQLITE_DONE) {
    done_ = true;
    return false;
  }
  if (code != SQLITE_ROW) {
    done_ = true;
    std::string message = absl::StrCat("dataset `", dataset_, "`: SQLite error at row ",
                                       next_index_ + 1, ": ", sqlite3_errmsg(db_.get()));
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
      return absl::UnavailableError(absl::StrCat(message, "; try again when the writer is done"));
    }
    return absl::InternalError(message);
  }
  const size_t count = columns_.size();
  record->values.resize(count);
  record->cells.resize(count);
  record->defect = RecordDefect::kNone;
  record->defect_detail = 0;
  record->index = next_index_++;
  record->line = record->index + 1;
  for (size_t i = 0; i < count; ++i) {
    const int column = static_cast<int>(i);
    std::string& value = record->values[i];
    value.clear();
    CellState state = CellState::kValue;
    switch (sqlite3_column_type(statement_.get(), column)) {
      case SQLITE_NULL:
        state = CellState::kMissing;
        break;
      case SQLITE_FLOAT:
        // SQLite's own REAL-to-text conversion keeps 15 digits; 17 round-trip.
        value = absl::StrFormat("%.17g", sqlite3_column_double(statement_.get(), column));
        break;
      case SQLITE_BLOB:
        state = CellState::kBlob;
        break;
      default: {  // INTEGER and TEXT: SQLite's text form
        const unsigned char* text = sqlite3_column_text(statement_.get(), column);
        const int bytes = sqlite3_column_bytes(statement_.get(), column);
        if (text != nullptr && bytes > 0) {
          value.assign(reinterpret_cast<const char*>(text), static_cast<size_t>(bytes));
        }
        if (value.empty()) {
          state = CellState::kMissing;
        } else if (!IsValidUtf8(value)) {
          state = CellState::kInvalidUtf8;
          value.clear();
        }
        break;
      }
    }
    record->cells[i] = state;
  }
  return true;
}

}  // namespace tessera::agent::data
