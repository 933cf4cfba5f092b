#include "coordinator/strategy/strategy_config.h"

#include <array>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera::coordinator::strategy {
namespace {

constexpr std::array<StrategyKind, 6> kAllKinds = {
    StrategyKind::kFedAvg,     StrategyKind::kFedAvgM, StrategyKind::kFedProx,
    StrategyKind::kFedAdagrad, StrategyKind::kFedAdam, StrategyKind::kFedYogi};

bool AppliesToAll(StrategyKind) { return true; }
bool AppliesToFedAvgM(StrategyKind kind) { return kind == StrategyKind::kFedAvgM; }
bool AppliesToFedProx(StrategyKind kind) { return kind == StrategyKind::kFedProx; }
bool AppliesToSecondMomentDecay(StrategyKind kind) {
  return kind == StrategyKind::kFedAdam || kind == StrategyKind::kFedYogi;
}

// One numeric parameter: its key, where it lives, its range and which
// strategies read it. The TOML reader, the validator and the description all
// walk this one table.
struct Parameter {
  const char* key;
  double StrategyConfig::*field;
  double min;
  double max;
  bool max_excluded;  // decay rates must stay below 1
  bool required;      // no default (FedProx's mu)
  bool (*applies)(StrategyKind);
};

constexpr std::array<Parameter, 6> kParameters = {{
    {"server_learning_rate", &StrategyConfig::server_learning_rate, kMinServerLearningRate,
     kMaxServerLearningRate, false, false, AppliesToAll},
    {"momentum", &StrategyConfig::momentum, 0.0, 1.0, true, false, AppliesToFedAvgM},
    {"beta1", &StrategyConfig::beta1, 0.0, 1.0, true, false, IsAdaptive},
    {"beta2", &StrategyConfig::beta2, 0.0, 1.0, true, false, AppliesToSecondMomentDecay},
    {"tau", &StrategyConfig::tau, kMinTau, kMaxTau, false, false, IsAdaptive},
    {"proximal_mu", &StrategyConfig::proximal_mu, kMinProximalMu, kMaxProximalMu, false, true,
     AppliesToFedProx},
}};

std::string RangeText(const Parameter& parameter) {
  return absl::StrCat(parameter.max_excluded ? "at least " : "between ", parameter.min,
                      parameter.max_excluded ? " and below " : " and ", parameter.max);
}

bool InRange(const Parameter& parameter, double value) {
  return std::isfinite(value) && value >= parameter.min &&
         (parameter.max_excluded ? value < parameter.max : value <= parameter.max);
}

std::string KindsUsing(const Parameter& parameter) {
  std::vector<absl::string_view> names;
  for (StrategyKind kind : kAllKinds) {
    if (parameter.applies(kind)) names.push_back(StrategyName(kind));
  }
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::string_view StrategyName(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::kFedAvg:
      return "fedavg";
    case StrategyKind::kFedAvgM:
      return "fedavgm";
    case StrategyKind::kFedProx:
      return "fedprox";
    case StrategyKind::kFedAdagrad:
      return "fedadagrad";
    case StrategyKind::kFedAdam:
      return "fedadam";
    case StrategyKind::kFedYogi:
      return "fedyogi";
  }
  return "unknown";
}

absl::StatusOr<StrategyKind> ParseStrategyName(absl::string_view name) {
  std::vector<absl::string_view> known;
  for (StrategyKind kind : kAllKinds) {
    if (StrategyName(kind) == name) return kind;
    known.push_back(StrategyName(kind));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown strategy \"", name, "\"; expected one of ", absl::StrJoin(known, ", ")));
}

bool IsAdaptive(StrategyKind kind) {
  return kind == StrategyKind::kFedAdagrad || kind == StrategyKind::kFedAdam ||
         kind == StrategyKind::kFedYogi;
}

absl::string_view AveragingName(Averaging averaging) {
  return averaging == Averaging::kWeighted ? "weighted" : "uniform";
}

StrategyConfig DefaultStrategyConfig(StrategyKind kind) {
  StrategyConfig config;
  config.kind = kind;
  if (IsAdaptive(kind)) config.server_learning_rate = 0.01;
  return config;
}

absl::Status ValidateStrategyConfig(const StrategyConfig& config) {
  for (const Parameter& parameter : kParameters) {
    const double value = config.*parameter.field;
    if (parameter.applies(config.kind)) {
      if (!InRange(parameter, value)) {
        return absl::InvalidArgumentError(absl::StrCat(StrategyName(config.kind), " parameter `",
                                                       parameter.key, "` is ", value,
                                                       " but must be ", RangeText(parameter)));
      }
    }
  }
  if (config.kind != StrategyKind::kFedProx && config.proximal_mu != 0.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("proximal_mu is ", config.proximal_mu, " but the strategy is ",
                     StrategyName(config.kind), "; the proximal term belongs to fedprox"));
  }
  return absl::OkStatus();
}

StrategyConfig ParseStrategyConfig(ConfigReader& reader, absl::string_view table) {
  const std::string name_key = absl::StrCat(table, ".name");
  StrategyKind kind = StrategyKind::kFedAvg;
  absl::StatusOr<StrategyKind> parsed = ParseStrategyName(reader.GetString(name_key, "fedavg"));
  if (parsed.ok()) {
    kind = *parsed;
  } else {
    reader.AddError(name_key, parsed.status().message());
  }
  StrategyConfig config = DefaultStrategyConfig(kind);

  const std::string averaging_key = absl::StrCat(table, ".averaging");
  const std::string averaging = reader.GetString(averaging_key, "weighted");
  if (averaging == "uniform") {
    config.averaging = Averaging::kUniform;
  } else if (averaging != "weighted") {
    reader.AddError(averaging_key, absl::StrCat("unknown averaging \"", averaging,
                                                "\"; expected \"weighted\" or \"uniform\""));
  }

  for (const Parameter& parameter : kParameters) {
    const std::string key = absl::StrCat(table, ".", parameter.key);
    if (!parameter.applies(kind)) {
      if (reader.Has(key)) {
        reader.AddError(key, absl::StrCat("does not apply to ", StrategyName(kind), "; only to ",
                                          KindsUsing(parameter)));
      }
      continue;
    }
    double& value = config.*parameter.field;
    // The reader's own range check includes both ends; an excluded upper end
    // is checked here. Out-of-range values come back as 0, which is inside
    // every range with an excluded end, so no problem is reported twice.
    value = parameter.required ? reader.RequireDouble(key, parameter.min, parameter.max)
                               : reader.GetDouble(key, value, parameter.min, parameter.max);
    if (parameter.max_excluded && value >= parameter.max) {
      reader.AddError(key, absl::StrCat("must be below ", parameter.max));
    }
  }
  return config;
}

std::string DescribeStrategyConfig(const StrategyConfig& config) {
  std::string text = absl::StrCat(StrategyName(config.kind), " (", AveragingName(config.averaging));
  for (const Parameter& parameter : kParameters) {
    if (parameter.applies(config.kind)) {
      absl::StrAppend(&text, ", ", parameter.key, "=", config.*parameter.field);
    }
  }
  text += ')';
  return text;
}

}  // namespace tessera::coordinator::strategy
