#include "agent/data/csv_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/data/utf8.h"
#include "common/status.h"

namespace tessera::agent::data {
namespace {

constexpr size_t kMinBlockSize = 64;
// A header wider than this is not a table anyone means to train on; the cap
// keeps a file of commas from growing the column list without bound.
constexpr size_t kMaxColumns = 65536;

bool EndsUnquotedText(char c) { return c == ',' || c == '"' || c == '\r' || c == '\n'; }
bool EndsQuotedText(char c) { return c == '"' || c == '\r' || c == '\n'; }

}  // namespace

CsvReader::CsvReader(std::string dataset, std::string path, int fd, const CsvOptions& options)
    : dataset_(std::move(dataset)),
      path_(std::move(path)),
      fd_(fd),
      block_size_(std::max(options.block_size, kMinBlockSize)),
      max_record_bytes_(options.max_record_bytes),
      buffer_(new char[block_size_]) {}

CsvReader::~CsvReader() { ::close(fd_); }

absl::StatusOr<std::unique_ptr<CsvReader>> CsvReader::Open(std::string dataset, std::string path,
                                                           const CsvOptions& options) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string what = absl::StrCat("dataset `", dataset, "`: cannot open `", path, "`: ");
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat("dataset `", dataset, "`: file `", path,
                                              "` does not exist; check `path` in agent.toml"));
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(absl::StrCat(
          what, std::strerror(err), "; give the agent's user read access to the file"));
    }
    return absl::InternalError(absl::StrCat(what, std::strerror(err)));
  }
  // From here the reader owns the descriptor and closes it on every path.
  std::unique_ptr<CsvReader> reader(new CsvReader(std::move(dataset), std::move(path), fd, options));
  struct stat info {};
  if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("dataset `", reader->dataset_, "`: `",
                                                      reader->path_,
                                                      "` is a directory, not a CSV file"));
  }
  TESSERA_ASSIGN_OR_RETURN(size_t available, reader->Fill());
  // A UTF-8 byte order mark is an encoding signature, not part of the first
  // column's name (RFC 3629 section 6).
  if (available >= 3 && std::memcmp(reader->buffer_.get(), "\xEF\xBB\xBF", 3) == 0) {
    reader->begin_ = 3;
  }
  TESSERA_RETURN_IF_ERROR(reader->ReadHeader());
  return reader;
}

absl::StatusOr<size_t> CsvReader::Fill() {
  if (begin_ < end_) return end_ - begin_;
  begin_ = 0;
  end_ = 0;
  if (eof_) return 0;
  size_t filled = 0;
  while (filled < block_size_) {
    const ssize_t n = ::read(fd_, buffer_.get() + filled, block_size_ - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("dataset `", dataset_, "`: cannot read `", path_,
                                              "` after line ", line_, ": ",
                                              std::strerror(errno)));
    }
    if (n == 0) {
      eof_ = true;
      break;
    }
    filled += static_cast<size_t>(n);
  }
  end_ = filled;
  return filled;
}

std::string CsvReader::ColumnLabel(size_t field) const {
  if (field < columns_.size()) return absl::StrCat("column `", columns_[field], "`");
  return absl::StrCat("field ", field + 1);
}

void CsvReader::StartField(Record* record) {
  if (!columns_.empty() && field_ >= columns_.size()) {
    overflow_.clear();
    return;
  }
  if (record->values.size() <= field_) {
    record->values.resize(field_ + 1);
    record->cells.resize(field_ + 1);
  }
  record->values[field_].clear();
}

void CsvReader::EndField(Record* record) {
  if (!columns_.empty() && field_ >= columns_.size()) return;
  std::string& value = record->values[field_];
  CellState state = CellState::kValue;
  if (value.empty()) {
    state = CellState::kMissing;
  } else if (!IsValidUtf8(value)) {
    state = CellState::kInvalidUtf8;
    value.clear();
  }
  record->cells[field_] = state;
}

void CsvReader::Append(Record* record, const char* data, size_t size) {
  if (!columns_.empty() && field_ >= columns_.size()) {
    overflow_.append(data, size);
    // Fields beyond the header are only counted; keep their text small.
    if (overflow_.size() > 4096) overflow_.clear();
  } else {
    record->values[field_].append(data, size);
  }
}

bool CsvReader::TakeText(Record* record, bool (*ends_text)(char), char* next) {
  const char* data = buffer_.get();
  size_t stop = begin_;
  while (stop < end_ && !ends_text(data[stop])) ++stop;
  Append(record, data + begin_, stop - begin_);
  record_bytes_ += stop - begin_;
  begin_ = stop;
  if (begin_ == end_) return false;
  *next = data[begin_++];
  ++record_bytes_;
  return true;
}

absl::Status CsvReader::NextField(Record* record) {
  EndField(record);
  ++field_;
  if (columns_.empty() && field_ >= kMaxColumns) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset `", dataset_, "`: the header has more than ", kMaxColumns, " columns"));
  }
  StartField(record);
  state_ = State::kFieldStart;
  return absl::OkStatus();
}

void CsvReader::EndRecord(Record* record, char line_break) {
  LineBreak(line_break);
  EndField(record);
  state_ = State::kFieldStart;
}

void CsvReader::LineBreak(char c) {
  ++line_;
  pending_cr_ = (c == '\r');
}

void CsvReader::MarkBadQuoting(Record* record) {
  if (record->defect != RecordDefect::kNone) return;
  record->defect = RecordDefect::kBadQuoting;
  record->defect_detail = field_;
}

absl::StatusOr<bool> CsvReader::ReadFields(Record* record) {
  state_ = State::kFieldStart;
  record_started_ = false;
  record_bytes_ = 0;
  field_ = 0;
  record->line = line_;
  record->defect = RecordDefect::kNone;
  record->defect_detail = 0;
  StartField(record);
  for (;;) {
    if (record_bytes_ > max_record_bytes_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "dataset `", dataset_, "`: the record starting at line ", record->line,
          " is longer than ", max_record_bytes_,
          " bytes; a quote that is never closed is the usual cause"));
    }
    if (begin_ == end_) {
      TESSERA_ASSIGN_OR_RETURN(size_t available, Fill());
      if (available == 0) break;
    }
    const char* data = buffer_.get();
    char c = data[begin_];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {  // the LF of a CRLF pair: the line was already counted
        ++begin_;
        if (state_ == State::kQuoted) {
          ++record_bytes_;
          Append(record, &c, 1);
        }
        continue;
      }
    }
    switch (state_) {
      case State::kFieldStart:
        if (c == '\r' || c == '\n') {
          ++begin_;
          if (!record_started_) {  // a blank line: not a record
            LineBreak(c);
            record->line = line_;
            continue;
          }
          EndRecord(record, c);
          return true;
        }
        record_started_ = true;
        if (c == '"') {
          ++begin_;
          ++record_bytes_;
          state_ = State::kQuoted;
          continue;
        }
        if (c == ',') {
          ++begin_;
          ++record_bytes_;
          TESSERA_RETURN_IF_ERROR(NextField(record));
          continue;
        }
        state_ = State::kUnquoted;
        [[fallthrough]];
      case State::kUnquoted:
        if (!TakeText(record, EndsUnquotedText, &c)) continue;
        if (c == '"') {
          // RFC 4180 section 2.5: a field holding a quote must be quoted.
          MarkBadQuoting(record);
          Append(record, &c, 1);
        } else if (c == ',') {
          TESSERA_RETURN_IF_ERROR(NextField(record));
        } else {
          EndRecord(record, c);
          return true;
        }
        continue;
      case State::kQuoted:
        if (!TakeText(record, EndsQuotedText, &c)) continue;
        if (c == '"') {
          state_ = State::kQuoteInQuoted;
        } else {  // a line break inside the field is part of its value
          Append(record, &c, 1);
          LineBreak(c);
        }
        continue;
      case State::kQuoteInQuoted:
        ++begin_;
        ++record_bytes_;
        if (c == '"') {  // RFC 4180 section 2.7: "" stands for one quote
          Append(record, &c, 1);
          state_ = State::kQuoted;
        } else if (c == ',') {
          TESSERA_RETURN_IF_ERROR(NextField(record));
        } else if (c == '\r' || c == '\n') {
          EndRecord(record, c);
          return true;
        } else {
          // Text after the closing quote: keep reading the field as
          // unquoted text so the record still ends where it should.
          MarkBadQuoting(record);
          Append(record, &c, 1);
          state_ = State::kUnquoted;
        }
        continue;
    }
  }
  // End of file.
  if (state_ == State::kQuoted) {
    return absl::DataLossError(absl::StrCat(
        "dataset `", dataset_, "`: line ", record->line, ": a quoted field in ",
        ColumnLabel(field_), " is not closed before the end of `", path_,
        "`; the file is truncated or a quote is missing"));
  }
  if (!record_started_) return false;
  EndField(record);
  return true;
}

absl::Status CsvReader::ReadHeader() {
  Record header;
  TESSERA_ASSIGN_OR_RETURN(bool found, ReadFields(&header));
  peak_held_bytes_ = std::max(peak_held_bytes_, block_size_ + record_bytes_);
  const std::string where = absl::StrCat("dataset `", dataset_, "`: `", path_, "`");
  if (!found) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is empty; expected a header row naming the columns"));
  }
  const std::string at_line = absl::StrCat(where, " line ", header.line, ": ");
  const size_t count = field_ + 1;
  if (header.defect == RecordDefect::kBadQuoting) {
    return absl::InvalidArgumentError(absl::StrCat(
        at_line, "bad quoting in header column ", header.defect_detail + 1,
        "; a quote may only open and close a field, and doubled (\"\") inside one"));
  }
  absl::flat_hash_map<std::string, size_t> seen;
  columns_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (header.cells[i] == CellState::kInvalidUtf8) {
      return absl::InvalidArgumentError(absl::StrCat(
          at_line, "header column ", i + 1, " is not valid UTF-8; save the file as UTF-8"));
    }
    std::string name(absl::StripAsciiWhitespace(header.values[i]));
    if (name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          at_line, "header column ", i + 1, " has an empty name; every column needs a name"));
    }
    auto [it, inserted] = seen.emplace(name, i);
    if (!inserted) {
      // Not named: a file without a header row would show a record here.
      return absl::InvalidArgumentError(absl::StrCat(at_line, "header columns ", it->second + 1,
                                                     " and ", i + 1, " have the same name"));
    }
    columns_.push_back(std::move(name));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> CsvReader::Next(Record* record) {
  absl::StatusOr<bool> found = ReadFields(record);
  peak_held_bytes_ = std::max(peak_held_bytes_, block_size_ + record_bytes_);
  if (!found.ok() || !*found) return found;
  const size_t count = field_ + 1;
  if (count != columns_.size() && record->defect == RecordDefect::kNone) {
    record->defect = RecordDefect::kWrongFieldCount;
    record->defect_detail = count;
  }
  if (record->values.size() != columns_.size()) {
    record->values.resize(columns_.size());
    record->cells.resize(columns_.size());
  }
  for (size_t i = count; i < columns_.size(); ++i) {
    record->values[i].clear();
    record->cells[i] = CellState::kMissing;
  }
  record->index = next_index_++;
  return true;
}

}  // namespace tessera::agent::data
