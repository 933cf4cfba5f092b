#include "common/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "toml++/toml.h"

namespace tessera {
namespace {

struct ConfigError {
  uint32_t line = 0;  // 0: not tied to a line (e.g. a missing key)
  uint32_t column = 0;
  std::string message;
};

const char* TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0u : 1u)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

struct ConfigReader::State {
  std::string source_name;
  toml::table root;
  std::set<std::string> asked;   // every key a getter asked for, present or not
  std::set<std::string> known;   // keys (or tables) that were present and asked for
  std::vector<ConfigError> errors;

  const toml::node* Find(absl::string_view key) {
    asked.insert(std::string(key));
    const toml::node* node = root.at_path(std::string_view(key.data(), key.size())).node();
    if (node != nullptr) known.insert(std::string(key));
    return node;
  }

  void Error(const toml::node* node, std::string message) {
    ConfigError error;
    if (node != nullptr) {
      error.line = node->source().begin.line;
      error.column = node->source().begin.column;
    }
    error.message = std::move(message);
    errors.push_back(std::move(error));
  }

  void WrongType(absl::string_view key, const toml::node* node, absl::string_view wanted) {
    Error(node, absl::StrCat("`", key, "` must be ", wanted, ", found ", TypeName(node->type())));
  }

  void Missing(absl::string_view key, absl::string_view wanted) {
    Error(nullptr, absl::StrCat("missing required key `", key, "` (", wanted, ")"));
  }

  // Collects every leaf key of the file that no getter asked for.
  void CollectUnknown(const toml::table& table, const std::string& prefix) {
    for (const auto& [name, node] : table) {
      std::string path = prefix.empty() ? std::string(name.str())
                                        : absl::StrCat(prefix, ".", std::string(name.str()));
      if (const toml::table* sub = node.as_table()) {
        if (sub->empty() && known.count(path) == 0) ReportUnknown(path, name);
        CollectUnknown(*sub, path);
        continue;
      }
      if (known.count(path) == 0) ReportUnknown(path, name);
    }
  }

  void ReportUnknown(const std::string& path, const toml::key& name) {
    std::string message = absl::StrCat("unknown key `", path, "`");
    std::string best;
    size_t best_distance = std::numeric_limits<size_t>::max();
    for (const std::string& candidate : asked) {
      if (known.count(candidate) != 0) continue;
      size_t distance = EditDistance(path, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = candidate;
      }
    }
    if (!best.empty() && best_distance <= std::max<size_t>(2, path.size() / 4)) {
      absl::StrAppend(&message, "; did you mean `", best, "`?");
    } else {
      absl::StrAppend(&message, "; remove it or check the documentation for the keys this file takes");
    }
    ConfigError error;
    error.line = name.source().begin.line;
    error.column = name.source().begin.column;
    error.message = std::move(message);
    errors.push_back(std::move(error));
  }
};

ConfigReader::ConfigReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
ConfigReader::ConfigReader(ConfigReader&&) noexcept = default;
ConfigReader& ConfigReader::operator=(ConfigReader&&) noexcept = default;
ConfigReader::~ConfigReader() = default;

absl::StatusOr<ConfigReader> ConfigReader::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string reason = std::strerror(err);
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat("config file `", path, "` does not exist"));
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot read config file `", path, "`: ", reason,
                       "; check its owner and mode"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read config file `", path, "`: ", reason));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return FromString(text.str(), path);
}

absl::StatusOr<ConfigReader> ConfigReader::FromString(absl::string_view text,
                                                      absl::string_view source_name) {
  auto state = std::make_unique<State>();
  state->source_name = std::string(source_name);
  // toml++ reports syntax errors by exception; this is its one boundary.
  try {
    state->root = toml::parse(std::string_view(text.data(), text.size()),
                              std::string_view(source_name.data(), source_name.size()));
  } catch (const toml::parse_error& error) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_name, ":", error.source().begin.line, ":", error.source().begin.column,
        ": TOML syntax error: ", std::string(error.description())));
  }
  return ConfigReader(std::move(state));
}

const std::string& ConfigReader::source_name() const { return state_->source_name; }

std::string ConfigReader::RequireString(absl::string_view key) {
  const toml::node* node = state_->Find(key);
  if (node == nullptr) {
    state_->Missing(key, "a string");
    return {};
  }
  if (!node->is_string()) {
    state_->WrongType(key, node, "a string");
    return {};
  }
  return std::string(node->as_string()->get());
}

std::optional<std::string> ConfigReader::GetOptionalString(absl::string_view key) {
  const toml::node* node = state_->Find(key);
  if (node == nullptr) return std::nullopt;
  if (!node->is_string()) {
    state_->WrongType(key, node, "a string");
    return std::nullopt;
  }
  return std::string(node->as_string()->get());
}

std::string ConfigReader::GetString(absl::string_view key, absl::string_view fallback) {
  std::optional<std::string> value = GetOptionalString(key);
  return value.has_value() ? *value : std::string(fallback);
}

namespace {

std::string RangeText(int64_t min, int64_t max) {
  if (max == std::numeric_limits<int64_t>::max()) return absl::StrCat("at least ", min);
  return absl::StrCat("between ", min, " and ", max);
}

std::string RangeText(double min, double max) {
  if (std::isinf(max)) return absl::StrCat("at least ", min);
  return absl::StrCat("between ", min, " and ", max);
}

}  // namespace

int64_t ConfigReader::RequireInt(absl::string_view key, int64_t min, int64_t max) {
  const toml::node* node = state_->Find(key);
  if (node == nullptr) {
    state_->Missing(key, absl::StrCat("an integer ", RangeText(min, max)));
    return 0;
  }
  if (!node->is_integer()) {
    state_->WrongType(key, node, "an integer");
    return 0;
  }
  int64_t value = node->as_integer()->get();
  if (value < min || value > max) {
    state_->Error(node, absl::StrCat("`", key, "` is ", value, " but must be ", RangeText(min, max)));
    return 0;
  }
  return value;
}

int64_t ConfigReader::GetInt(absl::string_view key, int64_t fallback, int64_t min, int64_t max) {
  if (!Has(key)) return fallback;
  return RequireInt(key, min, max);
}

double ConfigReader::RequireDouble(absl::string_view key, double min, double max) {
  const toml::node* node = state_->Find(key);
  if (node == nullptr) {
    state_->Missing(key, absl::StrCat("a number ", RangeText(min, max)));
    return 0;
  }
  double value = 0;
  if (node->is_floating_point()) {
    value = node->as_floating_point()->get();
  } else if (node->is_integer()) {
    value = static_cast<double>(node->as_integer()->get());
  } else {
    state_->WrongType(key, node, "a number");
    return 0;
  }
  if (!std::isfinite(value) || value < min || value > max) {
    state_->Error(node, absl::StrCat("`", key, "` is ", value, " but must be ", RangeText(min, max)));
    return 0;
  }
  return value;
}

double ConfigReader::GetDouble(absl::string_view key, double fallback, double min, double max) {
  if (!Has(key)) return fallback;
  return RequireDouble(key, min, max);
}

bool ConfigReader::GetBool(absl::string_view key, bool fallback) {
  const toml::node* node = state_->Find(key);
  if (node == nullptr) return fallback;
  if (!node->is_boolean()) {
    state_->WrongType(key, node, "a boolean (true or false)");
    return fallback;
  }
  return node->as_boolean()->get();
}

std::vector<std::string> ConfigReader::GetStringList(absl::string_view key) {
  std::vector<std::string> values;
  const toml::node* node = state_->Find(key);
  if (node == nullptr) return values;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    state_->WrongType(key, node, "an array of strings");
    return values;
  }
  for (const toml::node& element : *array) {
    if (!element.is_string()) {
      state_->Error(&element, absl::StrCat("`", key, "` must hold only strings, found ",
                                           TypeName(element.type())));
      continue;
    }
    values.push_back(std::string(element.as_string()->get()));
  }
  return values;
}

std::vector<int64_t> ConfigReader::GetIntList(absl::string_view key, int64_t min, int64_t max) {
  std::vector<int64_t> values;
  const toml::node* node = state_->Find(key);
  if (node == nullptr) return values;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    state_->WrongType(key, node, "an array of integers");
    return values;
  }
  for (const toml::node& element : *array) {
    if (!element.is_integer()) {
      state_->Error(&element, absl::StrCat("`", key, "` must hold only integers, found ",
                                           TypeName(element.type())));
      continue;
    }
    const int64_t value = element.as_integer()->get();
    if (value < min || value > max) {
      state_->Error(&element, absl::StrCat("`", key, "` values must be between ", min, " and ",
                                           max, ", found ", value));
      continue;
    }
    values.push_back(value);
  }
  return values;
}

bool ConfigReader::Has(absl::string_view key) {
  return state_->Find(key) != nullptr;
}

std::vector<std::string> ConfigReader::TableNames(absl::string_view key) {
  std::vector<std::string> names;
  const toml::node* node = state_->Find(key);
  if (node == nullptr) return names;
  const toml::table* table = node->as_table();
  if (table == nullptr) {
    state_->WrongType(key, node, "a table");
    return names;
  }
  for (const auto& [name, child] : *table) {
    std::string path = absl::StrCat(key, ".", std::string(name.str()));
    if (!child.is_table()) {
      state_->Error(&child, absl::StrCat("`", path, "` must be a table ([", path, "]), found ",
                                         TypeName(child.type())));
      state_->known.insert(path);
      continue;
    }
    state_->known.insert(path);
    names.emplace_back(name.str());
  }
  return names;
}

void ConfigReader::AddError(absl::string_view key, absl::string_view message) {
  const toml::node* node =
      state_->root.at_path(std::string_view(key.data(), key.size())).node();
  state_->Error(node, absl::StrCat("`", key, "`: ", message));
}

absl::Status ConfigReader::Finish() {
  state_->CollectUnknown(state_->root, "");
  if (state_->errors.empty()) return absl::OkStatus();
  std::vector<ConfigError> errors = state_->errors;
  std::stable_sort(errors.begin(), errors.end(), [](const ConfigError& a, const ConfigError& b) {
    // Errors with a line come first, in file order; then the rest as found.
    if ((a.line == 0) != (b.line == 0)) return a.line != 0;
    if (a.line != b.line) return a.line < b.line;
    return a.column < b.column;
  });
  std::vector<std::string> lines;
  lines.reserve(errors.size());
  for (const ConfigError& error : errors) {
    if (error.line == 0) {
      lines.push_back(absl::StrCat(state_->source_name, ": ", error.message));
    } else {
      lines.push_back(absl::StrCat(state_->source_name, ":", error.line, ":", error.column, ": ",
                                   error.message));
    }
  }
  // Finish reports once; a second call would report unknown keys twice.
  state_->errors.clear();
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

}  // namespace tessera
