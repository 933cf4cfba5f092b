// The schema a job declares for the records it trains on: which columns it
// reads, their types and allowed values, which column is the label, and what
// to do with a missing or invalid value. The job file belongs to the
// coordinator side; this is the struct and the parser for its [schema]
// section, which the agent uses to check and encode its local records.
//
//   [schema]
//   label = "readmitted"
//   features = ["age", "sex", "hba1c"]   # optional: model input order; the
//                                        # default is every declared column
//                                        # but the label, sorted by name
//   missing = "skip"                     # "skip" (default) or "impute"
//   missing_values = ["NA", "NULL"]      # optional: texts that mean "no value"
//                                        # (an empty cell always does)
//   [schema.columns.age]
//   type = "numeric"
//   min = 0                              # optional, inclusive
//   max = 120                            # optional, inclusive
//   [schema.columns.sex]
//   type = "categorical"
//   categories = ["female", "male"]      # one-hot order
//   default = "female"                   # needed when missing = "impute"
//   [schema.columns.readmitted]
//   type = "binary"                      # 0/1, true/false, yes/no (any case)
//
// The label must be binary (classification) or numeric (regression) and is
// never imputed: a record without a usable label is skipped. With
// missing = "impute", a missing or invalid numeric feature takes the
// federation-wide mean (standardised: 0) and a binary or categorical feature
// takes its declared `default`.
//
// Thread-safety: plain values and functions; a ConfigReader is not
// thread-safe.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/config.h"

namespace tessera::agent::data {

enum class ColumnType { kNumeric, kBinary, kCategorical };

// "numeric", "binary" or "categorical", as written in the job file.
absl::string_view ColumnTypeName(ColumnType type);

struct ColumnSpec {
  std::string name;
  ColumnType type = ColumnType::kNumeric;
  // Numeric only: the allowed range, inclusive.
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  // Categorical only: the allowed values, in one-hot order.
  std::vector<std::string> categories;
  // Binary and categorical features: the value imputed for a missing or
  // invalid one (job file key `default`).
  std::optional<std::string> default_value;
};

// Shorthands for schemas built in code (built-in models, tests).
ColumnSpec NumericColumn(std::string name, double min = -std::numeric_limits<double>::infinity(),
                         double max = std::numeric_limits<double>::infinity());
ColumnSpec BinaryColumn(std::string name);
ColumnSpec CategoricalColumn(std::string name, std::vector<std::string> categories);

enum class MissingPolicy {
  kSkipRow,  // a record with any missing or invalid feature is skipped
  kImpute,   // missing or invalid features are imputed (see above)
};

struct Schema {
  std::vector<ColumnSpec> features;  // in model input order
  ColumnSpec label;
  MissingPolicy missing_policy = MissingPolicy::kSkipRow;
  // Cell texts (after trimming spaces) that mean "no value", besides empty.
  std::vector<std::string> missing_values;
};

// Reads the schema under `prefix` (usually "schema") of a job file. Problems
// are recorded in `reader`, naming the key ("schema.columns.sex.default"),
// and reported by its Finish(); the returned schema is only meaningful when
// Finish() is OK.
Schema ParseSchema(ConfigReader& reader, absl::string_view prefix);

// Checks a schema however it was built: at least one feature; unique,
// non-empty names; the label binary or numeric, not also a feature, without
// a default; min <= max; categories non-empty, unique and non-empty;
// defaults valid for their column (and present for every binary and
// categorical feature under kImpute; absent on numeric columns). OK or
// INVALID_ARGUMENT listing every problem.
absl::Status ValidateSchema(const Schema& schema);

// The value of a binary cell: "1", "true", "yes" -> true and "0", "false",
// "no" -> false, in any letter case after trimming spaces and tabs; nullopt
// for anything else.
std::optional<bool> ParseBinary(absl::string_view text);

}  // namespace tessera::agent::data
