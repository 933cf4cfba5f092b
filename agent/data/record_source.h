// The common shape of a trust's local records, whatever holds them: a
// RecordSource streams Records (one row of text cells under named columns)
// from a CSV file or an SQLite query, one at a time, so a dataset of any
// size is read in bounded memory.
//
// Sources report problems with a record's *structure* (a CSV row with the
// wrong number of fields, bad quoting, bytes that are not UTF-8, an SQLite
// BLOB) on the record itself and keep going; the schema checks
// (row_checker.h) decide what that means for the job. Only problems that
// make the rest of the data unreadable (I/O errors, an unterminated quote at
// the end of the file, an SQL error) end the stream with a Status.
//
// Patient data never reaches a Status or a log line from this layer:
// messages name datasets, files, columns and line numbers, never values.
//
// Thread-safety: a RecordSource is used from one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera::agent::data {

enum class DatasetKind {
  kCsv,     // an RFC 4180 file with a header row
  kSqlite,  // a read-only query on an SQLite database
};

// "csv" or "sqlite", as written in agent.toml.
absl::string_view DatasetKindName(DatasetKind kind);

// What a record's cell holds.
enum class CellState : uint8_t {
  kValue,        // text, in Record::values
  kMissing,      // an empty CSV field or an SQL NULL (or empty text)
  kInvalidUtf8,  // bytes that are not UTF-8; the value is dropped
  kBlob,         // an SQLite BLOB, which is no value of any column type
};

// Problems that make a whole record unusable.
enum class RecordDefect : uint8_t {
  kNone,
  kWrongFieldCount,  // a CSV record with more or fewer fields than the header
  kBadQuoting,       // a quote inside an unquoted CSV field, or text after a closing quote
};

struct Record {
  // 0-based position of the record in its source, counting every record
  // (also defective ones) but not the CSV header or blank lines. The
  // training/hold-out split hashes this (split.h).
  int64_t index = 0;
  // CSV: the 1-based physical line on which the record starts (a quoted
  // field may span lines). SQLite: the 1-based row number of the result.
  int64_t line = 0;
  // One entry per column of the source when defect != kWrongFieldCount.
  std::vector<std::string> values;
  std::vector<CellState> cells;
  RecordDefect defect = RecordDefect::kNone;
  // kBadQuoting: the 0-based field in which the quoting went wrong.
  // kWrongFieldCount: the number of fields found.
  size_t defect_detail = 0;
};

class RecordSource {
 public:
  virtual ~RecordSource() = default;

  // The dataset's name from agent.toml, for messages.
  virtual const std::string& dataset() const = 0;
  virtual DatasetKind kind() const = 0;
  // Column names, in the source's order (CSV header, SQL result columns).
  // Never empty, never a duplicate or an empty name.
  virtual const std::vector<std::string>& columns() const = 0;

  // Reads the next record into `*record`, reusing its buffers. Returns true
  // when a record was read and false at the end of the data. Errors (the
  // source cannot be read any further): DATA_LOSS for a file that ends in
  // the middle of a quoted field, RESOURCE_EXHAUSTED for a record longer
  // than the reader's limit, UNAVAILABLE for a database that stays locked
  // (worth a retry), INTERNAL for other I/O or SQL errors; each names the
  // dataset and where it stopped, never a value.
  virtual absl::StatusOr<bool> Next(Record* record) = 0;
};

// The word for a record's position in messages: "line" (CSV) or "row" (SQLite).
absl::string_view PositionNoun(DatasetKind kind);

}  // namespace tessera::agent::data
