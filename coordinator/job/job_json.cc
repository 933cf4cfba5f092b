#include "coordinator/job/job_json.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace tessera::coordinator {

std::string TomlString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default: {
        const unsigned char byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
          absl::StrAppendFormat(&out, "\\u%04X", static_cast<unsigned int>(byte));
        } else {
          out += c;
        }
      }
    }
  }
  out += '"';
  return out;
}

namespace {

using Json = nlohmann::json;

// Stands for the file name in messages.
constexpr char kSource[] = "job JSON";
// model.file is required by the job-file rules for a torchscript model but
// is not part of the canonical JSON; this stands in for it and is dropped.
constexpr char kModelFilePlaceholder[] = "model.pt";

absl::Status KeyError(absl::string_view key, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(kSource, ": `", key, "` ", problem));
}


// A TOML value for `value` found at JSON key `key`: scalars, arrays and
// (inside arrays) inline tables. Everything the JSON can hold that TOML
// cannot (null, integers beyond int64, overflowed floats) is an error here,
// so the job-file reader only ever sees well-formed TOML.
absl::StatusOr<std::string> TomlValue(const Json& value, const std::string& key) {
  switch (value.type()) {
    case Json::value_t::string:
      return TomlString(value.get_ref<const std::string&>());
    case Json::value_t::boolean:
      return std::string(value.get<bool>() ? "true" : "false");
    case Json::value_t::number_integer:
      return value.dump();
    case Json::value_t::number_unsigned:
      if (value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return KeyError(key, "is out of range (more than 2^63 - 1)");
      }
      return value.dump();
    case Json::value_t::number_float: {
      if (!std::isfinite(value.get<double>())) return KeyError(key, "is not a finite number");
      // nlohmann writes the shortest text that reads back as the same double,
      // always with a `.` or an exponent: valid TOML floats ("1e-05", "0.05").
      return value.dump();
    }
    case Json::value_t::array: {
      std::vector<std::string> items;
      for (size_t i = 0; i < value.size(); ++i) {
        TESSERA_ASSIGN_OR_RETURN(std::string item,
                                 TomlValue(value[i], absl::StrCat(key, "[", i, "]")));
        items.push_back(std::move(item));
      }
      return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
    }
    case Json::value_t::object: {
      std::vector<std::string> items;
      for (const auto& [name, member] : value.items()) {
        TESSERA_ASSIGN_OR_RETURN(std::string item, TomlValue(member, absl::StrCat(key, ".", name)));
        items.push_back(absl::StrCat(TomlString(name), " = ", item));
      }
      return absl::StrCat("{", absl::StrJoin(items, ", "), "}");
    }
    case Json::value_t::null:
      return KeyError(key, "is null");
    case Json::value_t::binary:
    case Json::value_t::discarded:
      break;
  }
  return KeyError(key, "has a value JSON text cannot hold");
}

// Writes `object` as dotted-key lines ("job"."name" = "x"), one leaf per
// line, under `path`; an empty object becomes an empty inline table so that
// its key is still present.
absl::Status EmitObject(const Json& object, const std::vector<std::string>& path,
                        std::string* out) {
  for (const auto& [name, value] : object.items()) {
    std::vector<std::string> child = path;
    child.push_back(name);
    const std::string dotted = absl::StrJoin(child, ".");
    if (value.is_object() && !value.empty()) {
      TESSERA_RETURN_IF_ERROR(EmitObject(value, child, out));
      continue;
    }
    std::vector<std::string> quoted;
    for (const std::string& part : child) quoted.push_back(TomlString(part));
    TESSERA_ASSIGN_OR_RETURN(std::string literal, TomlValue(value, dotted));
    absl::StrAppend(out, absl::StrJoin(quoted, "."), " = ", literal, "\n");
  }
  return absl::OkStatus();
}

// Splits one column object of the canonical JSON into its name and the rest
// (the column's table in the job file).
absl::StatusOr<std::pair<std::string, Json>> SplitColumn(const Json& column,
                                                         const std::string& key) {
  if (!column.is_object()) return KeyError(key, "must be an object describing a column");
  const auto name = column.find("name");
  if (name == column.end()) return KeyError(absl::StrCat(key, ".name"), "is missing");
  if (!name->is_string()) return KeyError(absl::StrCat(key, ".name"), "must be a string");
  Json rest = column;
  rest.erase("name");
  return std::make_pair(name->get<std::string>(), std::move(rest));
}

// The canonical schema {features: [column...], label: column, ...} as the job
// file writes it: label and features by name, every column in columns.NAME.
absl::Status RewriteSchema(Json& schema) {
  if (!schema.is_object()) return absl::OkStatus();  // the job-file reader names the type
  if (schema.contains("columns")) {
    return KeyError("schema.columns", "is not a key of the canonical job JSON");
  }
  Json columns = Json::object();
  std::set<std::string> seen;
  if (schema.contains("features")) {
    const Json& features = schema["features"];
    if (!features.is_array()) return KeyError("schema.features", "must be an array of columns");
    Json names = Json::array();
    for (size_t i = 0; i < features.size(); ++i) {
      const std::string key = absl::StrCat("schema.features[", i, "]");
      TESSERA_ASSIGN_OR_RETURN(auto column, SplitColumn(features[i], key));
      if (!seen.insert(column.first).second) {
        return KeyError(absl::StrCat(key, ".name"),
                        absl::StrCat("repeats the column `", column.first, "`"));
      }
      names.push_back(column.first);
      columns[column.first] = std::move(column.second);
    }
    schema["features"] = std::move(names);
  }
  if (schema.contains("label")) {
    TESSERA_ASSIGN_OR_RETURN(auto label, SplitColumn(schema["label"], "schema.label"));
    if (!seen.insert(label.first).second) {
      return KeyError("schema.label.name", absl::StrCat("names the feature `", label.first,
                                                        "`; the label cannot also be a feature"));
    }
    schema["label"] = label.first;
    columns[label.first] = std::move(label.second);
  }
  if (!columns.empty()) schema["columns"] = std::move(columns);
  return absl::OkStatus();
}

// CanonicalJson writes every strategy parameter; the job file rejects those
// that do not apply to the strategy. Parameters equal to the strategy's
// default carry nothing and are dropped (an applicable one then takes that
// same default); any other value stays and meets the job-file rules.
void DropDefaultStrategyParameters(Json& strategy) {
  if (!strategy.is_object()) return;
  const auto name = strategy.find("name");
  if (name == strategy.end() || !name->is_string()) return;
  absl::StatusOr<strategy::StrategyKind> kind =
      strategy::ParseStrategyName(name->get<std::string>());
  if (!kind.ok()) return;
  const strategy::StrategyConfig defaults = strategy::DefaultStrategyConfig(*kind);
  const std::pair<const char*, double> numbers[] = {
      {"server_learning_rate", defaults.server_learning_rate},
      {"momentum", defaults.momentum},
      {"beta1", defaults.beta1},
      {"beta2", defaults.beta2},
      {"tau", defaults.tau},
      {"proximal_mu", defaults.proximal_mu}};
  for (const auto& [key, value] : numbers) {
    const auto found = strategy.find(key);
    if (found != strategy.end() && found->is_number() && found->get<double>() == value) {
      strategy.erase(key);
    }
  }
  const auto averaging = strategy.find("averaging");
  if (averaging != strategy.end() && averaging->is_string() &&
      averaging->get<std::string>() == strategy::AveragingName(defaults.averaging)) {
    strategy.erase("averaging");
  }
}

// Returns true when the placeholder model.file was added.
absl::StatusOr<bool> RewriteModel(Json& model) {
  if (!model.is_object()) return false;
  if (model.contains("file")) {
    return KeyError("model.file", "is not part of the canonical job JSON");
  }
  const auto kind = model.find("kind");
  if (kind != model.end() && kind->is_string() && kind->get<std::string>() == "torchscript") {
    model["file"] = kModelFilePlaceholder;
    return true;
  }
  return false;
}

// ConfigReader messages read "job JSON:LINE:COLUMN: ..."; the lines are
// those of the generated job file, which nobody has seen, so they go.
absl::Status WithoutLineNumbers(const absl::Status& status) {
  if (status.ok()) return status;
  const std::string prefix = absl::StrCat(kSource, ":");
  std::vector<std::string> lines = absl::StrSplit(status.message(), '\n');
  for (std::string& line : lines) {
    if (line.rfind(prefix, 0) != 0) continue;
    size_t at = prefix.size();
    int numbers = 0;
    while (numbers < 2) {
      const size_t start = at;
      while (at < line.size() && absl::ascii_isdigit(static_cast<unsigned char>(line[at]))) ++at;
      if (at == start || at >= line.size() || line[at] != ':') break;
      ++at;
      ++numbers;
    }
    if (numbers == 2) line = absl::StrCat(kSource, ":", line.substr(at));
  }
  return absl::Status(status.code(), absl::StrJoin(lines, "\n"));
}

absl::StatusOr<JobSpec> FromParsedJson(Json document) {
  if (!document.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kSource, ": the job must be a JSON object, found ", document.type_name()));
  }
  bool placeholder_file = false;
  if (document.contains("schema")) TESSERA_RETURN_IF_ERROR(RewriteSchema(document["schema"]));
  if (document.contains("strategy")) DropDefaultStrategyParameters(document["strategy"]);
  if (document.contains("model")) {
    TESSERA_ASSIGN_OR_RETURN(placeholder_file, RewriteModel(document["model"]));
  }
  std::string toml;
  TESSERA_RETURN_IF_ERROR(EmitObject(document, {}, &toml));
  absl::StatusOr<ConfigReader> reader = ConfigReader::FromString(toml, kSource);
  if (!reader.ok()) return WithoutLineNumbers(reader.status());
  absl::StatusOr<JobSpec> spec = ParseJobSpec(*reader);
  if (!spec.ok()) return WithoutLineNumbers(spec.status());
  if (placeholder_file) spec->model_file.clear();
  return spec;
}

}  // namespace

absl::StatusOr<JobSpec> JobSpecFromJson(absl::string_view json) {
  // The one boundary where nlohmann's exceptions become a Status.
  try {
    return FromParsedJson(Json::parse(json.begin(), json.end()));
  } catch (const Json::exception& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(kSource, ": not valid JSON (", error.what(), ")"));
  }
}

}  // namespace tessera::coordinator
