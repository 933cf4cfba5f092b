// Streaming reader for CSV files as written by RFC 4180, with the header row
// that section 2.3 makes optional required here (it names the columns).
//
// Accepted: quoted fields with embedded commas, doubled quotes ("") and line
// breaks; CRLF, LF or lone CR line endings; a final record with or without a
// line break; UTF-8 with or without a leading byte order mark. Blank lines
// between records are skipped (they are not records). Header names are
// trimmed of surrounding spaces and tabs; field values are passed on as
// written (row_checker.h trims them when it reads numbers and categories).
//
// The file is read in blocks of CsvOptions::block_size bytes through a single
// buffer; the reader holds at most that buffer plus the record it is
// assembling, so a file of any size is read in bounded memory
// (peak_held_bytes() reports the most it held).
//
// Problems and how they surface, never with the offending text:
//   - a record with a different number of fields than the header, a quote
//     inside an unquoted field, text after a closing quote: the record comes
//     back with Record::defect set and reading goes on;
//   - a field that is not UTF-8 (RFC 3629): that cell is kInvalidUtf8;
//   - an empty file, a header with an empty or repeated name, bad quoting or
//     invalid UTF-8 in the header: Open() fails with INVALID_ARGUMENT (naming
//     column positions only: a file without a header row would otherwise
//     show its first record);
//   - a quoted field still open at the end of the file: Next() fails with
//     DATA_LOSS naming the line where the record starts and the column.
// Line numbers are 1-based physical lines (CRLF counts as one line break) of
// the line where the record starts.
//
// Thread-safety: a CsvReader is used from one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/data/record_source.h"

namespace tessera::agent::data {

struct CsvOptions {
  // Bytes read from the file at a time (at least 64); the reader's only
  // buffer for file contents.
  size_t block_size = 256 * 1024;
  // The longest record accepted, in bytes as written in the file. A longer
  // record almost always means a quote that was never closed; reading stops
  // with RESOURCE_EXHAUSTED rather than holding the rest of the file.
  size_t max_record_bytes = 4 * 1024 * 1024;
};

class CsvReader final : public RecordSource {
 public:
  // Opens the file at `path` for dataset `dataset` and reads its header.
  // Errors: NOT_FOUND (no such file), PERMISSION_DENIED (not readable by the
  // agent), FAILED_PRECONDITION (a directory), INVALID_ARGUMENT (empty file
  // or a bad header, see above), INTERNAL (other I/O errors).
  static absl::StatusOr<std::unique_ptr<CsvReader>> Open(std::string dataset, std::string path,
                                                         const CsvOptions& options = {});

  ~CsvReader() override;
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  const std::string& dataset() const override { return dataset_; }
  DatasetKind kind() const override { return DatasetKind::kCsv; }
  const std::vector<std::string>& columns() const override { return columns_; }
  // See RecordSource::Next. Errors: DATA_LOSS (unterminated quote at the end
  // of the file), RESOURCE_EXHAUSTED (record longer than max_record_bytes),
  // INTERNAL (read error).
  absl::StatusOr<bool> Next(Record* record) override;

  // The most bytes of file content held at once so far: the block buffer
  // plus the bytes of the record being assembled (as written in the file,
  // quotes and commas included). Never more than block_size + the longest
  // record read.
  size_t peak_held_bytes() const { return peak_held_bytes_; }
  size_t block_size() const { return block_size_; }

 private:
  enum class State : uint8_t { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };

  CsvReader(std::string dataset, std::string path, int fd, const CsvOptions& options);

  absl::Status ReadHeader();
  // Reads one record's fields into `record` (values, cells, line, defect
  // kBadQuoting). Returns false at the end of the file.
  absl::StatusOr<bool> ReadFields(Record* record);
  // Refills the buffer when it is used up; returns the bytes now available
  // (0 at the end of the file).
  absl::StatusOr<size_t> Fill();
  void Append(Record* record, const char* data, size_t size);
  // Appends field text up to the next byte for which `ends_text` is true,
  // which it consumes into `*next`; false when the buffer ran out first.
  bool TakeText(Record* record, bool (*ends_text)(char), char* next);
  void StartField(Record* record);
  void EndField(Record* record);
  // At a comma: ends the current field and starts the next.
  absl::Status NextField(Record* record);
  // At a line break outside quotes: ends the field and the record.
  void EndRecord(Record* record, char line_break);
  void LineBreak(char c);
  void MarkBadQuoting(Record* record);
  std::string ColumnLabel(size_t field) const;

  const std::string dataset_;
  const std::string path_;
  const int fd_;
  const size_t block_size_;
  const size_t max_record_bytes_;
  std::unique_ptr<char[]> buffer_;
  size_t begin_ = 0;  // next unread byte in buffer_
  size_t end_ = 0;    // one past the last valid byte in buffer_
  bool eof_ = false;

  std::vector<std::string> columns_;
  State state_ = State::kFieldStart;
  int64_t line_ = 1;          // physical line of the next byte
  bool pending_cr_ = false;   // the last byte was a CR outside any field text
  bool record_started_ = false;
  size_t field_ = 0;          // index of the field being assembled
  std::string overflow_;      // fields beyond the header's count land here
  size_t record_bytes_ = 0;
  size_t peak_held_bytes_ = 0;
  int64_t next_index_ = 0;
};

}  // namespace tessera::agent::data
