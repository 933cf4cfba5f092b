// Helpers shared by the tests of agent/data/: writing fixture files and
// draining a RecordSource.
//
// Thread-safety: plain functions, for use from one test thread.
#pragma once

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/data/csv_reader.h"
#include "agent/data/record_source.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace tessera::agent::data::testing {

// Writes `content` byte for byte to `path`, replacing any file there.
inline void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// Writes `content` to `<dir>/<dataset>.csv` and opens it as dataset
// `dataset`; a failed open fails the test and gives nullptr.
inline std::unique_ptr<CsvReader> WriteAndOpenCsv(const ::tessera::testing::TempDir& dir,
                                                  const std::string& dataset,
                                                  const std::string& content) {
  const std::string path = dir.File(dataset + ".csv");
  WriteFile(path, content);
  absl::StatusOr<std::unique_ptr<CsvReader>> reader = CsvReader::Open(dataset, path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  return reader.ok() ? std::move(*reader) : nullptr;
}

// Reads every remaining record of `source`.
inline absl::StatusOr<std::vector<Record>> ReadAll(RecordSource& source) {
  std::vector<Record> records;
  Record record;
  for (;;) {
    absl::StatusOr<bool> more = source.Next(&record);
    if (!more.ok()) return more.status();
    if (!*more) return records;
    records.push_back(record);
  }
}

}  // namespace tessera::agent::data::testing
