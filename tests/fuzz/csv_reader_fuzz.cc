// Fuzz target: the agent's CSV reader (agent/data/csv_reader.h) and the row
// checks behind it (agent/data/row_checker.h), as the agent runs them on a
// trust's data file: every input is a whole CSV file, read with a small
// block size (so records and UTF-8 sequences straddle block boundaries)
// and checked against a schema with numeric, binary and categorical
// columns, once skipping and once imputing bad rows.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "agent/data/csv_reader.h"
#include "agent/data/row_checker.h"
#include "agent/data/schema.h"
#include "agent/data/split.h"
#include "tests/fuzz/fuzz_support.h"

namespace data = tessera::agent::data;

namespace {

data::Schema MakeSchema(data::MissingPolicy policy) {
  data::Schema schema;
  schema.features = {data::NumericColumn("age", 0, 120), data::NumericColumn("bmi", 10, 60),
                     data::CategoricalColumn("sex", {"F", "M"}), data::BinaryColumn("smoker")};
  schema.label = data::BinaryColumn("outcome");
  schema.missing_policy = policy;
  schema.missing_values = {"NA", "?"};
  return schema;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  tessera::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  static const std::string path = tessera::fuzz::ScratchDir() + "/records.csv";
  tessera::fuzz::WriteFileOrDie(path,
                                absl::string_view(reinterpret_cast<const char*>(bytes), size));
  // The block size and the policy come from the size so that the corpus
  // stays plain CSV files.
  data::CsvOptions options;
  options.block_size = 64 + (size % 7) * 13;
  options.max_record_bytes = 4096;
  const data::MissingPolicy policy =
      size % 2 == 0 ? data::MissingPolicy::kSkipRow : data::MissingPolicy::kImpute;

  auto reader = data::CsvReader::Open("cohort", path, options);
  if (!reader.ok()) return 0;
  const data::Schema schema = MakeSchema(policy);
  size_t rows = 0;
  auto report = data::ScanDataset(**reader, schema, data::SplitConfig{0.25, 7},
                                  [&rows](const data::CheckedRow& row, bool /*holdout*/) {
                                    // Each usable row has one value per feature.
                                    if (row.features.size() != 4) __builtin_trap();
                                    ++rows;
                                  });
  // Every record read is either used (and visited) or skipped.
  if (report.ok() && (report->records_used() != static_cast<int64_t>(rows) ||
                      report->records_read() != report->records_used() + report->records_skipped())) {
    __builtin_trap();
  }
  // The reader holds at most its block plus the longest record it accepts.
  if ((*reader)->peak_held_bytes() > options.block_size + options.max_record_bytes + 4) {
    __builtin_trap();
  }
  return 0;
}
