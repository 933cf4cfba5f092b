#include "agent/data/schema.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/data/config_fields.h"

namespace tessera::agent::data {
namespace {

struct SchemaProblem {
  std::string column;  // empty for schema-wide problems
  std::string field;   // the key under the column's table (or [schema]); empty: the table
  std::string message;
};

void CheckColumn(const ColumnSpec& column, bool is_label, MissingPolicy policy,
                 std::vector<SchemaProblem>* problems) {
  auto add = [&](const char* field, std::string message) {
    problems->push_back({column.name, field, std::move(message)});
  };
  if (is_label && column.type == ColumnType::kCategorical) {
    add("type", absl::StrCat("the label `", column.name,
                             "` must be binary (classification) or numeric (regression)"));
  }
  if (column.type == ColumnType::kNumeric) {
    if (std::isnan(column.min) || std::isnan(column.max) || column.min > column.max) {
      add("min", absl::StrCat("column `", column.name, "` has min greater than max"));
    }
    if (column.default_value.has_value()) {
      add("default", absl::StrCat("numeric column `", column.name,
                                  "` is imputed with the federation-wide mean; remove `default`"));
    }
  } else if (column.min != -std::numeric_limits<double>::infinity() ||
             column.max != std::numeric_limits<double>::infinity()) {
    add("min", absl::StrCat("`min` and `max` apply only to numeric columns, and `", column.name,
                            "` is ", ColumnTypeName(column.type)));
  }
  if (column.type == ColumnType::kCategorical) {
    if (column.categories.empty()) {
      add("categories", absl::StrCat("categorical column `", column.name,
                                     "` needs a non-empty list of `categories`"));
    }
    std::set<std::string> seen;
    for (const std::string& category : column.categories) {
      if (absl::StripAsciiWhitespace(category).empty()) {
        add("categories", absl::StrCat("column `", column.name, "` has an empty category"));
      } else if (!seen.insert(category).second) {
        add("categories",
            absl::StrCat("column `", column.name, "` lists category \"", category, "\" twice"));
      }
    }
    if (column.default_value.has_value() && seen.count(*column.default_value) == 0) {
      add("default", absl::StrCat("the default of column `", column.name,
                                  "` must be one of its categories"));
    }
  } else if (!column.categories.empty()) {
    add("categories", absl::StrCat("`categories` apply only to categorical columns, and `",
                                   column.name, "` is ", ColumnTypeName(column.type)));
  }
  if (column.type == ColumnType::kBinary && column.default_value.has_value() &&
      !ParseBinary(*column.default_value).has_value()) {
    add("default", absl::StrCat("the default of binary column `", column.name,
                                "` must be 0/1, true/false or yes/no"));
  }
  if (is_label && column.default_value.has_value()) {
    add("default", absl::StrCat("the label `", column.name,
                                "` is never imputed; remove `default`"));
  }
  if (!is_label && policy == MissingPolicy::kImpute && column.type != ColumnType::kNumeric &&
      !column.default_value.has_value()) {
    add("", absl::StrCat("missing = \"impute\" needs a `default` for ",
                                ColumnTypeName(column.type), " column `", column.name, "`"));
  }
}

std::vector<SchemaProblem> FindSchemaProblems(const Schema& schema) {
  std::vector<SchemaProblem> problems;
  if (schema.features.empty()) {
    problems.push_back({"", "features", "the schema declares no feature columns"});
  }
  std::set<std::string> names;
  for (const ColumnSpec& feature : schema.features) {
    if (feature.name.empty()) {
      problems.push_back({"", "features", "a feature column has an empty name"});
    } else if (!names.insert(feature.name).second) {
      problems.push_back(
          {"", "features", absl::StrCat("feature `", feature.name, "` is listed twice")});
    }
    CheckColumn(feature, /*is_label=*/false, schema.missing_policy, &problems);
  }
  if (schema.label.name.empty()) {
    problems.push_back({"", "label", "the schema names no label column"});
  } else if (names.count(schema.label.name) != 0) {
    problems.push_back({"", "features", absl::StrCat("the label `", schema.label.name,
                                                     "` cannot also be a feature")});
  } else {
    CheckColumn(schema.label, /*is_label=*/true, schema.missing_policy, &problems);
  }
  return problems;
}

std::optional<ColumnSpec> ParseColumn(ConfigReader& reader, const std::string& table,
                                      const std::string& name) {
  ColumnSpec column;
  column.name = name;
  const std::string type_key = absl::StrCat(table, ".type");
  const std::optional<std::string> type = RequiredString(reader, type_key);
  if (!type.has_value()) return std::nullopt;
  if (*type == "numeric") {
    column.type = ColumnType::kNumeric;
  } else if (*type == "binary") {
    column.type = ColumnType::kBinary;
  } else if (*type == "categorical") {
    column.type = ColumnType::kCategorical;
  } else {
    reader.AddError(type_key, absl::StrCat("column `", name, "` has unknown type \"", *type,
                                           "\"; use \"numeric\", \"binary\" or \"categorical\""));
    return std::nullopt;
  }
  const double infinity = std::numeric_limits<double>::infinity();
  column.min = reader.GetDouble(absl::StrCat(table, ".min"), -infinity, -infinity, infinity);
  column.max = reader.GetDouble(absl::StrCat(table, ".max"), infinity, -infinity, infinity);
  column.categories = reader.GetStringList(absl::StrCat(table, ".categories"));
  column.default_value = reader.GetOptionalString(absl::StrCat(table, ".default"));
  return column;
}

}  // namespace

absl::string_view ColumnTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kNumeric: return "numeric";
    case ColumnType::kBinary: return "binary";
    case ColumnType::kCategorical: return "categorical";
  }
  return "unknown";
}

ColumnSpec NumericColumn(std::string name, double min, double max) {
  ColumnSpec column;
  column.name = std::move(name);
  column.type = ColumnType::kNumeric;
  column.min = min;
  column.max = max;
  return column;
}

ColumnSpec BinaryColumn(std::string name) {
  ColumnSpec column;
  column.name = std::move(name);
  column.type = ColumnType::kBinary;
  return column;
}

ColumnSpec CategoricalColumn(std::string name, std::vector<std::string> categories) {
  ColumnSpec column;
  column.name = std::move(name);
  column.type = ColumnType::kCategorical;
  column.categories = std::move(categories);
  return column;
}

std::optional<bool> ParseBinary(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text == "1" || absl::EqualsIgnoreCase(text, "true") || absl::EqualsIgnoreCase(text, "yes")) {
    return true;
  }
  if (text == "0" || absl::EqualsIgnoreCase(text, "false") || absl::EqualsIgnoreCase(text, "no")) {
    return false;
  }
  return std::nullopt;
}

Schema ParseSchema(ConfigReader& reader, absl::string_view prefix) {
  Schema schema;
  const std::string columns_key = absl::StrCat(prefix, ".columns");
  auto column_table = [&](const std::string& name) {
    return absl::StrCat(columns_key, ".", name);
  };

  const std::string label_key = absl::StrCat(prefix, ".label");
  const std::string label = RequiredString(reader, label_key).value_or("");

  const std::string missing_key = absl::StrCat(prefix, ".missing");
  const std::string missing = reader.GetString(missing_key, "skip");
  if (missing == "impute") {
    schema.missing_policy = MissingPolicy::kImpute;
  } else if (missing != "skip") {
    reader.AddError(missing_key, "must be \"skip\" or \"impute\"");
  }
  schema.missing_values = reader.GetStringList(absl::StrCat(prefix, ".missing_values"));

  std::vector<std::string> declared = reader.TableNames(columns_key);
  if (declared.empty() && !reader.Has(columns_key)) {
    reader.AddError(prefix, absl::StrCat("declare each column the job reads in a [", columns_key,
                                         ".NAME] table"));
  }
  std::sort(declared.begin(), declared.end());
  const std::set<std::string> declared_set(declared.begin(), declared.end());

  const std::string features_key = absl::StrCat(prefix, ".features");
  std::vector<std::string> feature_names;
  if (reader.Has(features_key)) {
    feature_names = reader.GetStringList(features_key);
    const std::set<std::string> listed(feature_names.begin(), feature_names.end());
    for (const std::string& name : feature_names) {
      if (declared_set.count(name) == 0) {
        reader.AddError(features_key, absl::StrCat("feature `", name, "` has no [",
                                                   column_table(name), "] table"));
      }
    }
    for (const std::string& name : declared) {
      if (name != label && listed.count(name) == 0) {
        reader.AddError(column_table(name),
                        absl::StrCat("column `", name,
                                     "` is neither a feature nor the label; list it in `",
                                     features_key, "` or remove its table"));
      }
    }
  } else {
    for (const std::string& name : declared) {
      if (name != label) feature_names.push_back(name);
    }
  }
  if (!label.empty() && declared_set.count(label) == 0) {
    reader.AddError(label_key, absl::StrCat("the label `", label, "` has no [",
                                            column_table(label), "] table"));
  }

  std::map<std::string, ColumnSpec> parsed;
  bool all_parsed = !label.empty() && declared_set.count(label) != 0;
  for (const std::string& name : feature_names) {
    if (declared_set.count(name) == 0) all_parsed = false;
  }
  for (const std::string& name : declared) {
    std::optional<ColumnSpec> column = ParseColumn(reader, column_table(name), name);
    if (column.has_value()) {
      parsed.emplace(name, std::move(*column));
    } else {
      all_parsed = false;
    }
  }
  if (auto it = parsed.find(label); it != parsed.end()) schema.label = it->second;
  schema.label.name = label;
  for (const std::string& name : feature_names) {
    if (auto it = parsed.find(name); it != parsed.end()) schema.features.push_back(it->second);
  }
  // A column that is missing or whose type could not be read has already
  // been reported; the checks below would only add noise about it.
  if (!all_parsed) return schema;
  for (const SchemaProblem& problem : FindSchemaProblems(schema)) {
    std::string key = problem.column.empty() ? std::string(prefix) : column_table(problem.column);
    if (!problem.field.empty()) absl::StrAppend(&key, ".", problem.field);
    reader.AddError(key, problem.message);
  }
  return schema;
}

absl::Status ValidateSchema(const Schema& schema) {
  std::vector<SchemaProblem> problems = FindSchemaProblems(schema);
  if (problems.empty()) return absl::OkStatus();
  std::vector<std::string> lines;
  lines.reserve(problems.size());
  for (const SchemaProblem& problem : problems) lines.push_back(problem.message);
  return absl::InvalidArgumentError(absl::StrCat("invalid schema: ", absl::StrJoin(lines, "; ")));
}

}  // namespace tessera::agent::data
