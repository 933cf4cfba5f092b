#include "coordinator/job/job_spec.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace tessera::coordinator {
namespace {

bool IsName(absl::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

void RequireName(ConfigReader& reader, absl::string_view key, const std::string& value) {
  if (!value.empty() && !IsName(value)) {
    reader.AddError(key, "must be 1 to 64 letters, digits, `.`, `_` or `-`");
  }
}

// Reads an enumerated string key; records an error listing the choices.
template <typename Enum>
Enum ReadChoice(ConfigReader& reader, absl::string_view key, std::optional<std::string> fallback,
                std::initializer_list<std::pair<const char*, Enum>> choices) {
  const std::string value = fallback.has_value() ? reader.GetString(key, *fallback)
                                                 : reader.RequireString(key);
  std::string names;
  for (const auto& [name, kind] : choices) {
    if (value == name) return kind;
    absl::StrAppend(&names, names.empty() ? "" : ", ", name);
  }
  if (!value.empty()) {
    reader.AddError(key, absl::StrCat("must be one of ", names, ", not `", value, "`"));
  }
  return choices.begin()->second;
}

// The secure-aggregation threshold t must satisfy k/2 < t <= k for every
// neighbour count k a round of this job can have (RoundContext enforces it
// per round; refusing here tells the ML lead before anything runs).
void CheckThreshold(ConfigReader& reader, const JobSpec& spec) {
  const bool complete = spec.secagg_neighbours == 0;
  const int64_t k_min = complete ? spec.min_sites - 1 : spec.secagg_neighbours;
  const int64_t k_max = complete ? spec.max_sites - 1 : spec.secagg_neighbours;
  const int64_t t = spec.secagg_threshold;
  if (t <= k_min && 2 * t > k_max) return;
  const std::string graph =
      complete ? absl::StrCat("with ", spec.min_sites, " to ", spec.max_sites,
                              " sites on the complete graph each site has ", k_min, " to ", k_max,
                              " neighbours")
               : absl::StrCat("each site has ", k_max, " neighbours");
  reader.AddError("secure_aggregation.threshold",
                  absl::StrCat("t = ", t, " does not fit: ", graph, ", and t must be more than "
                               "half of ", k_max, " and at most ", k_min,
                               "; change the threshold, narrow rounds.min_sites..max_sites, or "
                               "set secure_aggregation.neighbours"));
}

void ReadPrivacy(ConfigReader& reader, JobSpec& spec) {
  spec.privacy_mode = ReadChoice<PrivacyMode>(
      reader, "privacy.mode", std::nullopt,
      {{"record", PrivacyMode::kRecord}, {"site", PrivacyMode::kSite}, {"none", PrivacyMode::kNone}});
  const bool has_epsilon = reader.Has("privacy.epsilon");
  const bool has_noise = reader.Has("privacy.noise_multiplier");
  if (spec.privacy_mode == PrivacyMode::kNone) {
    for (const char* key : {"privacy.epsilon", "privacy.delta", "privacy.noise_multiplier",
                            "privacy.clip_norm"}) {
      if (reader.Has(key)) reader.AddError(key, "means nothing with privacy.mode = \"none\"; remove it");
    }
    return;
  }
  if (has_epsilon == has_noise) {
    reader.AddError("privacy.mode", "needs exactly one of privacy.epsilon (a target) or "
                                    "privacy.noise_multiplier (fixed noise)");
  }
  if (has_epsilon) spec.target_epsilon = reader.GetDouble("privacy.epsilon", 1.0, 1e-3, 100.0);
  if (has_noise) spec.noise_multiplier = reader.GetDouble("privacy.noise_multiplier", 1.0, 1e-3, 1e3);
  spec.delta = reader.GetDouble("privacy.delta", 1e-5, 1e-12, 1e-2);
  spec.clip_norm = reader.GetDouble("privacy.clip_norm", 1.0, 1e-6, 1e6);
}

nlohmann::json ColumnJson(const agent::data::ColumnSpec& column) {
  nlohmann::json json = {{"name", column.name},
                         {"type", std::string(agent::data::ColumnTypeName(column.type))}};
  if (std::isfinite(column.min)) json["min"] = column.min;
  if (std::isfinite(column.max)) json["max"] = column.max;
  if (!column.categories.empty()) json["categories"] = column.categories;
  if (column.default_value.has_value()) json["default"] = *column.default_value;
  return json;
}

}  // namespace

absl::string_view ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kLogistic: return "logistic";
    case ModelKind::kMlp: return "mlp";
    case ModelKind::kTorchScript: return "torchscript";
  }
  return "unknown";
}

absl::string_view OptimizerKindName(OptimizerKind kind) {
  return kind == OptimizerKind::kAdam ? "adam" : "sgd";
}

absl::string_view PrivacyModeName(PrivacyMode mode) {
  switch (mode) {
    case PrivacyMode::kRecord: return "record";
    case PrivacyMode::kSite: return "site";
    case PrivacyMode::kNone: return "none";
  }
  return "unknown";
}

absl::StatusOr<JobSpec> ParseJobSpec(ConfigReader& reader) {
  JobSpec spec;
  spec.name = reader.RequireString("job.name");
  RequireName(reader, "job.name", spec.name);
  spec.description = reader.GetString("job.description", "");
  spec.dataset = reader.RequireString("job.dataset");
  RequireName(reader, "job.dataset", spec.dataset);

  spec.model_kind = ReadChoice<ModelKind>(reader, "model.kind", std::nullopt,
                                          {{"logistic", ModelKind::kLogistic},
                                           {"mlp", ModelKind::kMlp},
                                           {"torchscript", ModelKind::kTorchScript}});
  spec.hidden_layers = reader.GetIntList("model.hidden", 1, 4096);
  spec.model_file = reader.GetString("model.file", "");
  if (spec.model_kind == ModelKind::kMlp && spec.hidden_layers.empty()) {
    reader.AddError("model.kind", "an mlp needs model.hidden, e.g. hidden = [32, 16]");
  }
  if (spec.model_kind != ModelKind::kMlp && reader.Has("model.hidden")) {
    reader.AddError("model.hidden", "is only for kind = \"mlp\"");
  }
  if (spec.model_kind == ModelKind::kTorchScript && spec.model_file.empty()) {
    reader.AddError("model.kind", "a torchscript model needs model.file, the scripted model");
  }
  if (spec.model_kind != ModelKind::kTorchScript && reader.Has("model.file")) {
    reader.AddError("model.file", "is only for kind = \"torchscript\"");
  }

  spec.schema = agent::data::ParseSchema(reader, "schema");
  spec.split = agent::data::ParseSplit(reader, "split");

  spec.optimizer = ReadChoice<OptimizerKind>(reader, "training.optimizer", "sgd",
                                             {{"sgd", OptimizerKind::kSgd},
                                              {"adam", OptimizerKind::kAdam}});
  spec.learning_rate = reader.GetDouble("training.learning_rate", 0.05, 1e-9, 10.0);
  spec.local_epochs = reader.GetInt("training.local_epochs", 1, 1, 1000);
  spec.batch_size = reader.GetInt("training.batch_size", 32, 1, 1'000'000);
  spec.strategy = strategy::ParseStrategyConfig(reader, "strategy");

  spec.rounds = reader.GetInt("rounds.count", 10, 1, 100'000);
  spec.min_sites = reader.GetInt("rounds.min_sites", 3, 3, 65535);
  spec.max_sites = reader.GetInt("rounds.max_sites", std::max<int64_t>(10, spec.min_sites), 3, 65535);
  if (spec.max_sites < spec.min_sites) {
    reader.AddError("rounds.max_sites", absl::StrCat("must be at least rounds.min_sites (",
                                                     spec.min_sites, ")"));
  }
  spec.stage_timeout = absl::Seconds(reader.GetInt("rounds.stage_timeout_seconds", 60, 1, 86400));
  spec.max_attempts = reader.GetInt("rounds.max_attempts", 3, 1, 100);

  ReadPrivacy(reader, spec);

  spec.secagg_threshold = reader.GetInt("secure_aggregation.threshold", 2, 1, 65534);
  spec.secagg_neighbours = reader.GetInt("secure_aggregation.neighbours", 0, 0, 65534);
  spec.secagg_bit_width = reader.GetInt("secure_aggregation.bit_width", 32, 1, 32);
  if (spec.secagg_neighbours != 0 &&
      (spec.secagg_neighbours < 2 || spec.secagg_neighbours >= spec.min_sites)) {
    reader.AddError("secure_aggregation.neighbours",
                    absl::StrCat("must be 0 (complete graph) or between 2 and rounds.min_sites - 1 (",
                                 spec.min_sites - 1, ")"));
  } else if (spec.max_sites >= spec.min_sites) {
    CheckThreshold(reader, spec);
  }

  TESSERA_RETURN_IF_ERROR(reader.Finish());
  absl::Status strategy_status = strategy::ValidateStrategyConfig(spec.strategy);
  if (!strategy_status.ok()) return Annotate(strategy_status, absl::StrCat(reader.source_name(), ": [strategy]"));
  absl::Status schema = agent::data::ValidateSchema(spec.schema);
  if (!schema.ok()) return Annotate(schema, absl::StrCat(reader.source_name(), ": [schema]"));
  return spec;
}

absl::StatusOr<JobSpec> LoadJobSpec(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::FromFile(path));
  return ParseJobSpec(reader);
}

std::string CanonicalJson(const JobSpec& spec) {
  nlohmann::json features = nlohmann::json::array();
  for (const auto& column : spec.schema.features) features.push_back(ColumnJson(column));
  nlohmann::json privacy = {{"mode", std::string(PrivacyModeName(spec.privacy_mode))}};
  if (spec.privacy_mode != PrivacyMode::kNone) {
    privacy["delta"] = spec.delta;
    privacy["clip_norm"] = spec.clip_norm;
    if (spec.target_epsilon) privacy["epsilon"] = *spec.target_epsilon;
    if (spec.noise_multiplier) privacy["noise_multiplier"] = *spec.noise_multiplier;
  }
  nlohmann::json model = {{"kind", std::string(ModelKindName(spec.model_kind))}};
  if (!spec.hidden_layers.empty()) model["hidden"] = spec.hidden_layers;
  nlohmann::json json = {
      {"job", {{"name", spec.name}, {"description", spec.description}, {"dataset", spec.dataset}}},
      {"model", model},
      {"schema",
       {{"features", features},
        {"label", ColumnJson(spec.schema.label)},
        {"missing", spec.schema.missing_policy == agent::data::MissingPolicy::kImpute ? "impute"
                                                                                       : "skip"},
        {"missing_values", spec.schema.missing_values}}},
      {"split", {{"holdout_fraction", spec.split.holdout_fraction}, {"seed", spec.split.seed}}},
      {"training",
       {{"optimizer", std::string(OptimizerKindName(spec.optimizer))},
        {"learning_rate", spec.learning_rate},
        {"local_epochs", spec.local_epochs},
        {"batch_size", spec.batch_size}}},
      {"strategy",
       {{"name", std::string(strategy::StrategyName(spec.strategy.kind))},
        {"averaging", std::string(strategy::AveragingName(spec.strategy.averaging))},
        {"server_learning_rate", spec.strategy.server_learning_rate},
        {"momentum", spec.strategy.momentum},
        {"beta1", spec.strategy.beta1},
        {"beta2", spec.strategy.beta2},
        {"tau", spec.strategy.tau},
        {"proximal_mu", spec.strategy.proximal_mu}}},
      {"rounds",
       {{"count", spec.rounds},
        {"min_sites", spec.min_sites},
        {"max_sites", spec.max_sites},
        {"stage_timeout_seconds", absl::ToInt64Seconds(spec.stage_timeout)},
        {"max_attempts", spec.max_attempts}}},
      {"privacy", privacy},
      {"secure_aggregation",
       {{"threshold", spec.secagg_threshold},
        {"neighbours", spec.secagg_neighbours},
        {"bit_width", spec.secagg_bit_width}}}};
  return json.dump();
}

}  // namespace tessera::coordinator
