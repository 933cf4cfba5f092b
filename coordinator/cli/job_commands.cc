// `tessera job ...`: list, show, watch, approve, reject and stop jobs (and,
// in a build with libtorch, submit them: model_commands.cc).
#include "coordinator/cli/job_commands.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "coordinator/cli/admin_client.h"
#include "coordinator/cli/commands.h"
#include "coordinator/cli/table.h"
#include "coordinator/strategy/strategy_config.h"

namespace tessera::cli {
namespace {

using nlohmann::json;
using tessera::v1::GetJobResponse;
using tessera::v1::JobSummary;
using tessera::v1::RoundSummary;

constexpr int kStageCount = 6;  // STAGE_TRAIN .. STAGE_UNMASK

// ------------------------------------------------------------ JSON access

// `spec_json` parsed; an empty object when it is not a JSON object.
json ParseObject(const std::string& text) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : json::object();
}

// The value at `path` in `root`, or null when any step is missing.
const json& At(const json& root, std::initializer_list<const char*> path) {
  static const json kNull;
  const json* node = &root;
  for (const char* key : path) {
    if (!node->is_object()) return kNull;
    auto it = node->find(key);
    if (it == node->end()) return kNull;
    node = &*it;
  }
  return *node;
}

// A JSON value for people: strings as they are, numbers in %g, lists joined
// with `-`, and "-" for nothing.
std::string Text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return absl::StrCat(value.get<int64_t>());
  if (value.is_number()) return absl::StrFormat("%g", value.get<double>());
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_array()) {
    std::vector<std::string> parts;
    for (const json& item : value) parts.push_back(Text(item));
    return parts.empty() ? "-" : absl::StrJoin(parts, "-");
  }
  return "-";
}

std::string TimeText(int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

std::string Rfc3339(int64_t unix_ms) {
  if (unix_ms == 0) return "";
  return absl::FormatTime(absl::RFC3339_sec, absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

std::string DurationText(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  // Rounds of small models finish within a second: show milliseconds there.
  return absl::FormatDuration(
      absl::Trunc(d, d < absl::Seconds(1) ? absl::Milliseconds(1) : absl::Seconds(1)));
}

std::string Plural(int64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// -------------------------------------------------------- tables and lines

// "label        value" with the label column 14 wide.
void AddLine(std::string& out, int indent, absl::string_view label, absl::string_view value) {
  absl::StrAppend(&out, std::string(static_cast<size_t>(indent), ' '),
                  absl::StrFormat("%-14s %s\n", label, value));
}

std::string StageName(const tessera::v1::JobProgress& progress) {
  if (!progress.stage_name().empty()) return progress.stage_name();
  switch (progress.stage()) {
    case tessera::v1::STAGE_TRAIN:
      return "train";
    case tessera::v1::STAGE_ADVERTISE_KEYS:
      return "advertise keys";
    case tessera::v1::STAGE_SHARE_KEYS:
      return "share keys";
    case tessera::v1::STAGE_MASKED_INPUT:
      return "masked input";
    case tessera::v1::STAGE_CONSISTENCY_CHECK:
      return "consistency check";
    case tessera::v1::STAGE_UNMASK:
      return "unmask";
    default:
      return "starting";
  }
}

std::string RoundsText(const JobSummary& summary) {
  return absl::StrCat(
      summary.rounds_completed(), "/",
      summary.rounds_total() == 0 ? std::string("?") : absl::StrCat(summary.rounds_total()));
}

// "round 3/20" or "statistics round" (round 0 standardises the features).
std::string RoundLabel(uint32_t round, const JobSummary& summary) {
  if (round == 0) return "statistics round";
  return absl::StrCat(
      "round ", round, "/",
      summary.rounds_total() == 0 ? std::string("?") : absl::StrCat(summary.rounds_total()));
}

// "loss 0.6931, accuracy 0.512, auc 0.55" from a round's metrics; "" when
// it has none of them.
std::string MetricsText(const json& metrics) {
  std::vector<std::string> parts;
  if (metrics.contains("loss") && metrics["loss"].is_number()) {
    parts.push_back(absl::StrFormat("loss %.4f", metrics["loss"].get<double>()));
  }
  if (metrics.contains("accuracy") && metrics["accuracy"].is_number()) {
    parts.push_back(absl::StrFormat("accuracy %.3f", metrics["accuracy"].get<double>()));
  }
  if (metrics.contains("auc") && metrics["auc"].is_number()) {
    parts.push_back(absl::StrFormat("auc %.3f", metrics["auc"].get<double>()));
  }
  return absl::StrJoin(parts, ", ");
}

int IncludedCount(const RoundSummary& round) {
  int included = 0;
  for (const auto& p : round.participants()) included += p.status() == "included" ? 1 : 0;
  return included;
}

std::string ParticipantsText(const RoundSummary& round) {
  std::vector<std::string> parts;
  for (const auto& p : round.participants()) {
    std::string part = absl::StrCat(p.site_id(), " ", p.status());
    if (!p.detail().empty()) absl::StrAppend(&part, " (", p.detail(), ")");
    parts.push_back(std::move(part));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, ", ");
}

// ------------------------------------------------------------ job settings

std::string ModelText(const json& spec, uint64_t parameter_count) {
  const std::string kind = Text(At(spec, {"model", "kind"}));
  std::string text;
  if (kind == "logistic") {
    text = "built-in logistic regression";
  } else if (kind == "mlp") {
    text = absl::StrCat("built-in multilayer perceptron, hidden layers ",
                        Text(At(spec, {"model", "hidden"})), " (ReLU)");
  } else if (kind == "torchscript") {
    text = "TorchScript module supplied by the ML lead";
  } else {
    text = kind;
  }
  if (parameter_count > 0) absl::StrAppend(&text, ", ", parameter_count, " parameters");
  return text;
}

std::string ColumnText(const json& column) {
  std::string text = Text(column.value("type", json()));
  const bool has_min = column.contains("min");
  const bool has_max = column.contains("max");
  if (has_min || has_max) {
    absl::StrAppend(&text, ", ", has_min ? Text(column["min"]) : std::string("any"), " to ",
                    has_max ? Text(column["max"]) : std::string("any"));
  }
  if (column.contains("categories") && column["categories"].is_array()) {
    std::vector<std::string> categories;
    for (const json& c : column["categories"]) categories.push_back(Text(c));
    absl::StrAppend(&text, ": ", absl::StrJoin(categories, ", "));
  }
  if (column.contains("default"))
    absl::StrAppend(&text, " (default ", Text(column["default"]), ")");
  return text;
}

std::string PrivacyText(const json& spec) {
  const json& privacy = At(spec, {"privacy"});
  const std::string mode = Text(At(privacy, {"mode"}));
  if (mode == "none") {
    return "NONE - no differential privacy: the model is not protected against revealing "
           "individual patients' records";
  }
  std::string text;
  if (mode == "record") {
    text = "record-level differential privacy (DP-SGD inside each trust)";
  } else if (mode == "site") {
    text = "site-level distributed differential privacy (each trust adds noise to its update)";
  } else {
    text = mode;
  }
  std::vector<std::string> parts;
  if (privacy.contains("epsilon")) {
    parts.push_back(absl::StrCat("target epsilon ", Text(privacy["epsilon"]), " per trust"));
  }
  if (privacy.contains("noise_multiplier")) {
    parts.push_back(absl::StrCat("noise multiplier ", Text(privacy["noise_multiplier"])));
  }
  parts.push_back(absl::StrCat("delta ", Text(At(privacy, {"delta"}))));
  parts.push_back(absl::StrCat("clip norm ", Text(At(privacy, {"clip_norm"}))));
  return absl::StrCat(text, ": ", absl::StrJoin(parts, ", "));
}

std::string StrategyText(const json& spec) {
  namespace strategy = coordinator::strategy;
  const json& s = At(spec, {"strategy"});
  auto kind = strategy::ParseStrategyName(Text(At(s, {"name"})));
  if (!kind.ok()) return Text(At(s, {"name"}));
  strategy::StrategyConfig config = strategy::DefaultStrategyConfig(*kind);
  config.averaging = Text(At(s, {"averaging"})) == "uniform" ? strategy::Averaging::kUniform
                                                             : strategy::Averaging::kWeighted;
  auto read = [&s](const char* key, double& field) {
    if (s.contains(key) && s[key].is_number()) field = s[key].get<double>();
  };
  read("server_learning_rate", config.server_learning_rate);
  read("momentum", config.momentum);
  read("beta1", config.beta1);
  read("beta2", config.beta2);
  read("tau", config.tau);
  read("proximal_mu", config.proximal_mu);
  return strategy::DescribeStrategyConfig(config);
}

std::string NextStep(const GetJobResponse& job) {
  const std::string& state = job.summary().state();
  const std::string& id = job.summary().job_id();
  if (state == "pending approval") {
    return absl::StrCat("a governance member approves it with `tessera job approve ", id,
                        "` or rejects it with `tessera job reject ", id, " --reason TEXT`");
  }
  if (state == "completed") {
    return absl::StrCat("export the model with `tessera model export ", id, " --out model.pt`");
  }
  if (state == "approved" || state == "running") {
    return absl::StrCat("follow it with `tessera job watch ", id, "`");
  }
  return "";
}

}  // namespace

bool IsFinalJobState(absl::string_view state) {
  return state == "completed" || state == "stopped" || state == "failed" || state == "rejected";
}

// ------------------------------------------------------------------ list

json JobSummaryJson(const JobSummary& summary) {
  return {{"job_id", summary.job_id()},
          {"name", summary.name()},
          {"state", summary.state()},
          {"state_reason", summary.state_reason()},
          {"rounds_completed", summary.rounds_completed()},
          {"rounds_total", summary.rounds_total()},
          {"privacy_mode", summary.privacy_mode()},
          {"submitted_by", summary.submitted_by()},
          {"submitted", Rfc3339(summary.submitted_unix_ms())},
          {"waiting_reason", summary.waiting_reason()}};
}

json JobListJson(const tessera::v1::ListJobsResponse& jobs) {
  json list = json::array();
  for (const JobSummary& summary : jobs.jobs()) list.push_back(JobSummaryJson(summary));
  return {{"jobs", list}};
}

std::string FormatJobTable(const tessera::v1::ListJobsResponse& jobs) {
  if (jobs.jobs().empty()) {
    return "no jobs yet; submit one with `tessera job submit job.toml`\n";
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "STATE", "ROUNDS", "PRIVACY", "SUBMITTED BY", "WAITING FOR / REASON"}};
  for (const JobSummary& s : jobs.jobs()) {
    std::string note = !s.waiting_reason().empty() ? s.waiting_reason() : s.state_reason();
    rows.push_back({s.job_id(), s.name(), s.state(), RoundsText(s),
                    s.privacy_mode().empty() ? "-" : s.privacy_mode(),
                    s.submitted_by().empty() ? "-" : s.submitted_by(), note.empty() ? "-" : note});
  }
  return FormatTable(rows);
}

// ------------------------------------------------------------------ show

std::string FormatPlannedSpend(const GetJobResponse& job);

std::string FormatJobSettings(const GetJobResponse& job, int indent) {
  const json spec = ParseObject(job.spec_json());
  std::string out;
  const std::string description = Text(At(spec, {"job", "description"}));
  if (!description.empty() && description != "-") AddLine(out, indent, "description", description);
  AddLine(out, indent, "model", ModelText(spec, job.parameter_count()));
  AddLine(out, indent, "model sha256", job.model_sha256().empty() ? "-" : job.model_sha256());
  AddLine(out, indent, "dataset", Text(At(spec, {"job", "dataset"})));
  const json& features = At(spec, {"schema", "features"});
  if (features.is_array()) {
    AddLine(out, indent, "data columns",
            absl::StrCat(Plural(static_cast<int64_t>(features.size()), "feature", "features"),
                         ", in model input order:"));
    for (const json& column : features) {
      AddLine(out, indent, "",
              absl::StrCat("  ", Text(column.value("name", json())), ": ", ColumnText(column)));
    }
  }
  const json& label = At(spec, {"schema", "label"});
  if (!label.is_null()) {
    AddLine(out, indent, "label",
            absl::StrCat(Text(label.value("name", json())), ": ", ColumnText(label)));
  }
  const std::string missing = Text(At(spec, {"schema", "missing"}));
  AddLine(out, indent, "missing values",
          missing == "impute" ? "imputed"
          : missing == "skip" ? "the record is skipped"
                              : missing);
  AddLine(out, indent, "privacy", PrivacyText(spec));
  const json& training = At(spec, {"training"});
  AddLine(out, indent, "training",
          absl::StrCat(Text(At(training, {"optimizer"})), ", learning rate ",
                       Text(At(training, {"learning_rate"})), ", ",
                       Text(At(training, {"local_epochs"})), " local epoch(s), batch size ",
                       Text(At(training, {"batch_size"})), ", hold-out fraction ",
                       Text(At(spec, {"split", "holdout_fraction"})), " (seed ",
                       Text(At(spec, {"split", "seed"})), ")"));
  const json& rounds = At(spec, {"rounds"});
  AddLine(out, indent, "rounds",
          absl::StrCat(Text(At(rounds, {"count"})), " rounds of ", Text(At(rounds, {"min_sites"})),
                       " to ", Text(At(rounds, {"max_sites"})), " trusts, stage timeout ",
                       Text(At(rounds, {"stage_timeout_seconds"})), " s, up to ",
                       Text(At(rounds, {"max_attempts"})), " attempts per round"));
  AddLine(out, indent, "strategy", StrategyText(spec));
  const json& secagg = At(spec, {"secure_aggregation"});
  const json& neighbours = At(secagg, {"neighbours"});
  AddLine(out, indent, "secure agg.",
          absl::StrCat("threshold ", Text(At(secagg, {"threshold"})), ", ",
                       neighbours.is_number() && neighbours.get<int64_t>() != 0
                           ? absl::StrCat(Text(neighbours), " neighbours per trust")
                           : std::string("complete graph"),
                       ", ", Text(At(secagg, {"bit_width"})), "-bit"));
  AddLine(out, indent, "job sha256", job.spec_sha256().empty() ? "-" : job.spec_sha256());
  return out;
}

std::string FormatJob(const GetJobResponse& job, absl::Time now) {
  const JobSummary& s = job.summary();
  std::string out = absl::StrCat("job ", s.job_id(), "  ", s.name(), "\n");
  std::string state = s.state();
  if (!s.state_reason().empty()) absl::StrAppend(&state, " (", s.state_reason(), ")");
  AddLine(out, 0, "state", state);
  AddLine(out, 0, "rounds", absl::StrCat(RoundsText(s), " completed"));
  if (!s.waiting_reason().empty()) AddLine(out, 0, "waiting for", s.waiting_reason());
  AddLine(out, 0, "submitted",
          absl::StrCat(TimeText(s.submitted_unix_ms()), " by ",
                       s.submitted_by().empty() ? "-" : s.submitted_by()));
  if (job.decided_unix_ms() != 0 || !job.decided_by().empty()) {
    std::string decision = absl::StrCat(job.approved() ? "approved" : "rejected", " by ",
                                        job.decided_by(), " on ", TimeText(job.decided_unix_ms()));
    if (!job.decision_reason().empty()) absl::StrAppend(&decision, ": ", job.decision_reason());
    AddLine(out, 0, "governance", decision);
  } else {
    AddLine(out, 0, "governance", "not decided yet");
  }
  out += FormatJobSettings(job, 0);
  if (s.state() == "pending approval" || s.state() == "approved") out += FormatPlannedSpend(job);

  if (job.in_progress()) {
    const auto& p = job.progress();
    std::string progress =
        absl::StrCat(RoundLabel(p.round(), s), " attempt ", p.attempt(), ", stage ", StageName(p),
                     ": ", p.sites_reported(), " of ", p.sites_selected(), " trusts reported (",
                     p.sites_needed(), " needed)");
    if (p.stage_started_unix_ms() != 0) {
      absl::StrAppend(&progress, ", ",
                      DurationText(now - absl::FromUnixMillis(p.stage_started_unix_ms())),
                      " in stage");
    }
    if (p.stage_deadline_unix_ms() != 0) {
      absl::StrAppend(&progress, ", deadline in ",
                      DurationText(absl::FromUnixMillis(p.stage_deadline_unix_ms()) - now));
    }
    AddLine(out, 0, "in progress", progress);
    if (!p.waiting_for().empty()) {
      AddLine(out, 0, "waiting on", absl::StrJoin(p.waiting_for(), ", "));
    }
  }

  if (!job.rounds().empty()) {
    out += "\n";
    std::vector<std::vector<std::string>> rows = {
        {"ROUND", "ATTEMPT", "OUTCOME", "SITES", "LOSS", "ACCURACY", "AUC", "TOOK"}};
    for (const RoundSummary& r : job.rounds()) {
      const json metrics = ParseObject(r.metrics_json());
      auto cell = [&metrics](const char* key, int digits) {
        if (!metrics.contains(key) || !metrics[key].is_number()) return std::string("-");
        return absl::StrFormat("%.*f", digits, metrics[key].get<double>());
      };
      rows.push_back({r.round() == 0 ? std::string("0 (stats)") : absl::StrCat(r.round()),
                      absl::StrCat(r.attempt()), r.outcome(), absl::StrCat(IncludedCount(r)),
                      cell("loss", 4), cell("accuracy", 3), cell("auc", 3),
                      r.finished_unix_ms() == 0
                          ? std::string("-")
                          : DurationText(absl::FromUnixMillis(r.finished_unix_ms()) -
                                         absl::FromUnixMillis(r.started_unix_ms()))});
    }
    out += FormatTable(rows);
    out += "\nparticipants per attempt:\n";
    for (const RoundSummary& r : job.rounds()) {
      absl::StrAppend(&out, "  round ", r.round(), " attempt ", r.attempt(), ": ",
                      ParticipantsText(r), "\n");
      if (!r.reason().empty()) absl::StrAppend(&out, "    ", r.outcome(), ": ", r.reason(), "\n");
    }
    out +=
        "(metrics are those of the global model each round started from, on every trust's "
        "hold-out records)\n";
  }
  const std::string next = NextStep(job);
  if (!next.empty()) absl::StrAppend(&out, "\nnext: ", next, "\n");
  return out;
}

json JobJson(const GetJobResponse& job) {
  json rounds = json::array();
  for (const RoundSummary& r : job.rounds()) {
    json participants = json::array();
    for (const auto& p : r.participants()) {
      participants.push_back(
          {{"site_id", p.site_id()}, {"status", p.status()}, {"detail", p.detail()}});
    }
    rounds.push_back({{"round", r.round()},
                      {"attempt", r.attempt()},
                      {"outcome", r.outcome()},
                      {"reason", r.reason()},
                      {"started", Rfc3339(r.started_unix_ms())},
                      {"finished", Rfc3339(r.finished_unix_ms())},
                      {"participants", participants},
                      {"metrics", ParseObject(r.metrics_json())}});
  }
  json planned = json::array();
  for (const tessera::v1::PlannedSpend& p : job.planned()) {
    json entry = {{"site_id", p.site_id()},
                  {"record_count_bucket", p.record_count_bucket()},
                  {"epsilon", p.epsilon()},
                  {"delta", p.delta()},
                  {"note", p.note()}};
    if (p.budget_set()) {
      entry["budget"] = {{"epsilon", p.budget_epsilon()},
                         {"delta", p.budget_delta()},
                         {"spent", p.budget_spent()},
                         {"after", p.budget_after()}};
    } else {
      entry["budget"] = nullptr;
    }
    planned.push_back(std::move(entry));
  }
  json out = {{"summary", JobSummaryJson(job.summary())}, {"spec", ParseObject(job.spec_json())},
              {"spec_sha256", job.spec_sha256()},         {"model_sha256", job.model_sha256()},
              {"parameter_count", job.parameter_count()}, {"rounds", rounds},
              {"in_progress", job.in_progress()}, {"planned", planned}};
  if (job.decided_unix_ms() != 0 || !job.decided_by().empty()) {
    out["decision"] = {{"approved", job.approved()},
                       {"decided_by", job.decided_by()},
                       {"decided", Rfc3339(job.decided_unix_ms())},
                       {"reason", job.decision_reason()}};
  } else {
    out["decision"] = nullptr;
  }
  if (job.in_progress()) {
    const auto& p = job.progress();
    out["progress"] = {
        {"round", p.round()},
        {"attempt", p.attempt()},
        {"kind", p.kind() == tessera::v1::ROUND_KIND_STATISTICS ? "statistics" : "training"},
        {"stage", StageName(p)},
        {"sites_selected", p.sites_selected()},
        {"sites_reported", p.sites_reported()},
        {"sites_needed", p.sites_needed()},
        {"waiting_for", p.waiting_for()},
        {"stage_started", Rfc3339(p.stage_started_unix_ms())},
        {"stage_deadline", Rfc3339(p.stage_deadline_unix_ms())}};
  } else {
    out["progress"] = nullptr;
  }
  return out;
}

// --------------------------------------------------------------- approve

// What the job would spend at each connected trust, next to its budget.
std::string FormatPlannedSpend(const GetJobResponse& job) {
  if (job.planned().empty()) {
    return "\nPlanned privacy spend: no connected trust offers the job's dataset yet, so none "
           "can be shown.\n";
  }
  std::string out = absl::StrFormat(
      "\nPlanned privacy spend per trust (the whole job, at delta %g; record-level estimates use "
      "each trust's\nrecord count rounded to a coarse bucket):\n",
      job.planned(0).delta());
  absl::StrAppend(&out, absl::StrFormat("  %-16s %-9s %-9s %s\n", "TRUST", "RECORDS~", "EPSILON",
                                        "BUDGET (spent now -> after this job)"));
  for (const tessera::v1::PlannedSpend& p : job.planned()) {
    std::string budget = "no budget set";
    if (p.budget_set()) {
      budget = absl::StrFormat("%.3g at delta %g (%.3g -> %.3g)%s", p.budget_epsilon(),
                               p.budget_delta(), p.budget_spent(), p.budget_after(),
                               p.budget_after() > p.budget_epsilon()
                                   ? "  EXCEEDS: rounds past the budget will not include this trust"
                                   : "");
    }
    const std::string epsilon =
        !p.note().empty() && p.epsilon() == 0 ? std::string("?") : absl::StrFormat("%.3g", p.epsilon());
    absl::StrAppend(&out, absl::StrFormat("  %-16s %-9d %-9s %s\n", p.site_id(),
                                          p.record_count_bucket(), epsilon, budget));
    if (!p.note().empty()) absl::StrAppend(&out, "    note: ", p.note(), "\n");
  }
  return out;
}

std::string FormatApproval(const GetJobResponse& job) {
  const JobSummary& s = job.summary();
  std::string out = absl::StrCat("You are asked to approve job ", s.job_id(), " \"", s.name(),
                                 "\", submitted by ", s.submitted_by(), " on ",
                                 TimeText(s.submitted_unix_ms()), ".\n\n");
  out += FormatJobSettings(job, 2);
  out += FormatPlannedSpend(job);
  out +=
      "\nApproving records your name against the job sha256 above: the coordinator runs\n"
      "exactly these settings and this model, and any change needs a new approval.\n";
  const json spec = ParseObject(job.spec_json());
  if (Text(At(spec, {"privacy", "mode"})) == "none") {
    out +=
        "\nWARNING: this job trains WITHOUT differential privacy. A model trained this way "
        "can\nreveal information about individual patients. Approve it only if the board has\n"
        "agreed to that, with --allow-non-private.\n";
  }
  return out;
}

absl::Status CheckApprovable(const GetJobResponse& job, bool allow_non_private) {
  const JobSummary& s = job.summary();
  if (s.state() != "pending approval") {
    return absl::FailedPreconditionError(
        absl::StrCat("job `", s.job_id(), "` is ", s.state(),
                     "; only a job pending approval takes a governance decision"));
  }
  const json spec = ParseObject(job.spec_json());
  if (Text(At(spec, {"privacy", "mode"})) == "none" && !allow_non_private) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job `", s.job_id(),
        "` trains without differential privacy (privacy mode \"none\"); approve it only with "
        "--allow-non-private, if the board has agreed to that"));
  }
  return absl::OkStatus();
}

absl::Status Confirm(std::istream& in, std::ostream& out, bool interactive, bool assume_yes,
                     const std::string& action) {
  if (assume_yes) return absl::OkStatus();
  if (!interactive) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot ask to confirm (", action,
        "): standard input is not a terminal; review the job with `tessera job show` and "
        "pass --yes"));
  }
  out << "\n"
      << absl::AsciiStrToUpper(action.substr(0, 1)) << action.substr(1)
      << "? Type yes to confirm: " << std::flush;
  std::string answer;
  std::getline(in, answer);
  answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
  if (answer == "yes" || answer == "y") return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("not confirmed; nothing was sent (", action, ")"));
}

// ----------------------------------------------------------------- watch

absl::Status WatchOutcome(const JobSummary& summary) {
  if (summary.state() == "completed") return absl::OkStatus();
  std::string message = absl::StrCat("job `", summary.job_id(), "` ", summary.state());
  if (!summary.state_reason().empty()) absl::StrAppend(&message, ": ", summary.state_reason());
  return absl::AbortedError(message);
}

double JobFraction(const GetJobResponse& job) {
  const JobSummary& s = job.summary();
  if (s.state() == "completed") return 1.0;
  if (s.rounds_total() == 0) return 0.0;
  double done = s.rounds_completed();
  const auto& p = job.progress();
  if (job.in_progress() && p.kind() != tessera::v1::ROUND_KIND_STATISTICS && p.round() > 0) {
    const int stage = std::clamp(static_cast<int>(p.stage()), 1, kStageCount) - 1;
    const double within =
        p.sites_selected() == 0
            ? 0.0
            : std::min(1.0, static_cast<double>(p.sites_reported()) / p.sites_selected());
    done += (stage + within) / kStageCount;
  }
  return std::clamp(done / s.rounds_total(), 0.0, 1.0);
}

std::string ProgressBar(double fraction, int width) {
  fraction = std::isfinite(fraction) ? std::clamp(fraction, 0.0, 1.0) : 0.0;
  width = std::max(width, 1);
  const auto filled = static_cast<int>(std::floor(fraction * width));
  return absl::StrCat("[", std::string(static_cast<size_t>(filled), '#'),
                      std::string(static_cast<size_t>(width - filled), '.'), "]");
}

std::string LiveLine(const GetJobResponse& job, absl::Time now, size_t max_width) {
  const JobSummary& s = job.summary();
  std::string line;
  if (job.in_progress()) {
    const auto& p = job.progress();
    line = absl::StrCat(RoundLabel(p.round(), s), " | ", StageName(p), " | ", p.sites_reported(),
                        "/", p.sites_selected(), " trusts reported (need ", p.sites_needed(), ")");
    if (p.stage_started_unix_ms() != 0) {
      absl::StrAppend(&line, " | ",
                      DurationText(now - absl::FromUnixMillis(p.stage_started_unix_ms())),
                      " in stage");
    }
  } else {
    line = s.state();
    if (!s.waiting_reason().empty()) absl::StrAppend(&line, " | waiting for ", s.waiting_reason());
  }
  const double fraction = JobFraction(job);
  absl::StrAppend(&line, " ", ProgressBar(fraction, 20),
                  absl::StrFormat(" %3d%%", static_cast<int>(std::floor(fraction * 100))));
  if (line.size() > max_width) line.resize(max_width);
  return line;
}

std::vector<JobWatch::Event> JobWatch::Update(const GetJobResponse& job, absl::Time now) {
  const JobSummary& s = job.summary();
  std::vector<Event> events;
  const std::string clock = absl::FormatTime("%H:%M:%SZ", now, absl::UTCTimeZone());
  auto add = [&](std::string text, json fields) {
    fields["job_id"] = s.job_id();
    fields["time"] = absl::FormatTime(absl::RFC3339_sec, now, absl::UTCTimeZone());
    events.push_back({absl::StrCat(clock, " ", text), std::move(fields)});
  };

  if (first_ || s.state() != state_) {
    std::string text = first_ ? absl::StrCat(s.job_id(), " (", s.name(), "): ", s.state())
                              : absl::StrCat("state: ", s.state());
    absl::StrAppend(&text, ", ", RoundsText(s), " rounds completed");
    if (!s.state_reason().empty() && IsFinalJobState(s.state())) {
      absl::StrAppend(&text, " (", s.state_reason(), ")");
    }
    add(text, {{"event", "state"},
               {"state", s.state()},
               {"state_reason", s.state_reason()},
               {"rounds_completed", s.rounds_completed()},
               {"rounds_total", s.rounds_total()}});
    state_ = s.state();
  }
  if (s.waiting_reason() != waiting_) {
    if (!s.waiting_reason().empty()) {
      add(absl::StrCat("waiting for ", s.waiting_reason()),
          {{"event", "waiting"}, {"waiting_reason", s.waiting_reason()}});
    }
    waiting_ = s.waiting_reason();
  }

  // Round attempts recorded since the last poll, oldest first; on the first
  // poll only the latest.
  std::vector<const RoundSummary*> fresh;
  for (const RoundSummary& r : job.rounds()) {
    if (rounds_seen_.insert({r.round(), r.attempt()}).second) fresh.push_back(&r);
  }
  if (first_ && fresh.size() > 1) fresh.erase(fresh.begin(), fresh.end() - 1);
  for (const RoundSummary* r : fresh) {
    const json metrics = ParseObject(r->metrics_json());
    std::string text = absl::StrCat(RoundLabel(r->round(), s), " attempt ", r->attempt(), " ",
                                    r->outcome(), " with ", IncludedCount(*r), " trusts");
    const std::string m = MetricsText(metrics);
    if (!m.empty()) absl::StrAppend(&text, ": ", m);
    if (!r->reason().empty()) absl::StrAppend(&text, " (", r->reason(), ")");
    add(text, {{"event", "round"},
               {"round", r->round()},
               {"attempt", r->attempt()},
               {"outcome", r->outcome()},
               {"reason", r->reason()},
               {"sites", IncludedCount(*r)},
               {"metrics", metrics}});
  }

  if (job.in_progress()) {
    const auto& p = job.progress();
    const std::tuple<uint32_t, uint32_t, int> stage{p.round(), p.attempt(),
                                                    static_cast<int>(p.stage())};
    if (!in_progress_ || stage != stage_) {
      add(absl::StrCat(RoundLabel(p.round(), s), " attempt ", p.attempt(), ": ", StageName(p), " (",
                       p.sites_selected(), " trusts selected, ", p.sites_needed(), " needed)"),
          {{"event", "stage"},
           {"round", p.round()},
           {"attempt", p.attempt()},
           {"stage", StageName(p)},
           {"sites_selected", p.sites_selected()},
           {"sites_reported", p.sites_reported()},
           {"sites_needed", p.sites_needed()}});
      stage_ = stage;
    }
  }
  in_progress_ = job.in_progress();
  first_ = false;
  return events;
}

// --------------------------------------------------------------- commands

namespace {

struct JobOptions {
  std::string job_id;
  bool json = false;
  bool yes = false;
  bool allow_non_private = false;
  std::string reason;
};

absl::StatusOr<GetJobResponse> FetchJob(AdminClient& client, const std::string& job_id) {
  tessera::v1::GetJobRequest request;
  request.set_job_id(job_id);
  GetJobResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().GetJob(context.get(), request, &response);
  if (!status.ok()) return client.CallError(status);
  return response;
}

absl::Status RunList(const ConnectionOptions& connection, bool as_json) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  tessera::v1::ListJobsResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().ListJobs(context.get(), {}, &response);
  if (!status.ok()) return client.CallError(status);
  if (as_json) {
    std::cout << JobListJson(response).dump(2) << "\n";
  } else {
    std::cout << FormatJobTable(response);
  }
  return absl::OkStatus();
}

absl::Status RunShow(const ConnectionOptions& connection, const JobOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  TESSERA_ASSIGN_OR_RETURN(GetJobResponse job, FetchJob(client, options.job_id));
  if (options.json) {
    std::cout << JobJson(job).dump(2) << "\n";
  } else {
    std::cout << FormatJob(job, absl::Now());
  }
  return absl::OkStatus();
}

size_t TerminalWidth() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 10) {
    return size.ws_col - 1u;  // never the last column: some terminals wrap there
  }
  return 79;
}

// How long `job watch` keeps polling a coordinator it cannot reach (it may
// be restarting: jobs resume by themselves) before giving up.
constexpr absl::Duration kUnreachableLimit = absl::Minutes(2);

absl::Status RunWatch(const ConnectionOptions& connection, const JobOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  const bool live = !options.json && isatty(STDOUT_FILENO) != 0;
  JobWatch watch;
  absl::Time unreachable_since = absl::InfiniteFuture();
  bool line_shown = false;
  auto clear_line = [&] {
    if (line_shown) std::cout << "\r\x1b[K";
    line_shown = false;
  };
  while (true) {
    auto job = FetchJob(client, options.job_id);
    const absl::Time now = absl::Now();
    if (!job.ok()) {
      const absl::StatusCode code = job.status().code();
      if (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded) {
        clear_line();
        return job.status();
      }
      if (unreachable_since == absl::InfiniteFuture()) unreachable_since = now;
      if (now - unreachable_since > kUnreachableLimit) {
        clear_line();
        return Annotate(job.status(), absl::StrCat("gave up watching after ",
                                                   DurationText(now - unreachable_since)));
      }
      if (live) {
        clear_line();
        std::cout << "coordinator unreachable for " << DurationText(now - unreachable_since)
                  << "; retrying" << std::flush;
        line_shown = true;
      }
      absl::SleepFor(absl::Seconds(1));
      continue;
    }
    unreachable_since = absl::InfiniteFuture();
    for (const JobWatch::Event& event : watch.Update(*job, now)) {
      clear_line();
      std::cout << (options.json ? event.json.dump() : event.text) << "\n";
    }
    if (IsFinalJobState(job->summary().state())) {
      clear_line();
      std::cout << std::flush;
      return WatchOutcome(job->summary());
    }
    if (live) {
      clear_line();
      std::cout << LiveLine(*job, now, TerminalWidth());
      line_shown = true;
    }
    std::cout << std::flush;
    absl::SleepFor(absl::Seconds(1));
  }
}

absl::Status RunApprove(const ConnectionOptions& connection, const JobOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  TESSERA_ASSIGN_OR_RETURN(GetJobResponse job, FetchJob(client, options.job_id));
  std::cout << FormatApproval(job);
  TESSERA_RETURN_IF_ERROR(CheckApprovable(job, options.allow_non_private));
  TESSERA_RETURN_IF_ERROR(Confirm(std::cin, std::cout, isatty(STDIN_FILENO) != 0, options.yes,
                                  absl::StrCat("approve job ", options.job_id)));
  tessera::v1::DecideJobRequest request;
  request.set_job_id(options.job_id);
  // The hash of exactly what was shown: if the job changed since, the
  // coordinator refuses the decision.
  request.set_spec_sha256(job.spec_sha256());
  request.set_approve(true);
  request.set_allow_non_private(options.allow_non_private);
  tessera::v1::DecideJobResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().DecideJob(context.get(), request, &response);
  if (!status.ok()) return client.CallError(status);
  std::cout << "job " << options.job_id << " is " << response.state()
            << "; it starts when enough trusts are connected (follow it with `tessera job watch "
            << options.job_id << "`)\n";
  return absl::OkStatus();
}

absl::Status RunReject(const ConnectionOptions& connection, const JobOptions& options) {
  if (absl::StripAsciiWhitespace(options.reason).empty()) {
    return absl::InvalidArgumentError(
        "--reason must say why, for the ML lead (e.g. --reason \"use privacy mode record\")");
  }
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  TESSERA_ASSIGN_OR_RETURN(GetJobResponse job, FetchJob(client, options.job_id));
  tessera::v1::DecideJobRequest request;
  request.set_job_id(options.job_id);
  request.set_spec_sha256(job.spec_sha256());
  request.set_approve(false);
  request.set_reason(options.reason);
  tessera::v1::DecideJobResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().DecideJob(context.get(), request, &response);
  if (!status.ok()) return client.CallError(status);
  std::cout << "job " << options.job_id << " is " << response.state() << "\n";
  return absl::OkStatus();
}

absl::Status RunStop(const ConnectionOptions& connection, const JobOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  tessera::v1::StopJobRequest request;
  request.set_job_id(options.job_id);
  request.set_reason(options.reason);
  tessera::v1::StopJobResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().StopJob(context.get(), request, &response);
  if (!status.ok()) return client.CallError(status);
  std::cout << "job " << options.job_id << " is " << response.state()
            << "; rounds already completed are kept and can be exported\n";
  return absl::OkStatus();
}

CLI::App* AddJobCommand(CLI::App* group, const std::string& name, const std::string& description,
                        ConnectionOptions& connection, JobOptions& options) {
  CLI::App* command = group->add_subcommand(name, description);
  command->add_option("ID", options.job_id, "The job's id (see `tessera job list`)")->required();
  AddConnectionOptions(command, connection);
  return command;
}

}  // namespace

void AddJobCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection) {
  static JobOptions options;
  CLI::App* job = AddCommandGroup(app, "job", "Federated training jobs: submit, follow, approve.");
#ifdef TESSERA_CLI_WITH_TORCH
  AddJobSubmitCommand(job, result, connection);
#endif

  CLI::App* list = job->add_subcommand("list",
                                       "List the jobs and their state (ml-lead, governance, "
                                       "operator, auditor).");
  AddConnectionOptions(list, connection);
  list->add_flag("--json", options.json, "Print JSON");
  list->callback(result.Bind([&connection] { return RunList(connection, options.json); }));

  CLI::App* show = AddJobCommand(job, "show",
                                 "Show a job: its settings, governance decision, every round "
                                 "with its participants and metrics, and the round in progress.",
                                 connection, options);
  show->add_flag("--json", options.json, "Print JSON");
  show->callback(result.Bind([&connection] { return RunShow(connection, options); }));

  CLI::App* watch = AddJobCommand(
      job, "watch",
      "Follow a job until it ends: a live line on a terminal, one line per change when piped.",
      connection, options);
  watch->add_flag("--json", options.json, "Print one JSON object per change");
  watch->footer(
      "\nExits 0 when the job completes; 1 when it is stopped, fails or is rejected (the message "
      "says why); 2 usage error; 3 when the coordinator stays unreachable for 2 minutes; 4 not "
      "allowed (certificate or role).");
  watch->callback(result.Bind([&connection] { return RunWatch(connection, options); }));

  CLI::App* approve =
      AddJobCommand(job, "approve",
                    "Governance: show what a job would do and approve it (asks for confirmation).",
                    connection, options);
  approve->add_flag("--allow-non-private", options.allow_non_private,
                    "Approve a job without differential privacy (privacy mode \"none\")");
  approve->add_flag("--yes", options.yes,
                    "Do not ask for confirmation (needed when standard input is not a terminal)");
  approve->callback(result.Bind([&connection] { return RunApprove(connection, options); }));

  CLI::App* reject =
      AddJobCommand(job, "reject", "Governance: reject a job, saying why.", connection, options);
  reject->add_option("--reason", options.reason, "Why, for the ML lead")->required();
  reject->callback(result.Bind([&connection] { return RunReject(connection, options); }));

  CLI::App* stop =
      AddJobCommand(job, "stop", "Stop a job; its completed rounds are kept.", connection, options);
  stop->add_option("--reason", options.reason, "Why (recorded in the audit log)");
  stop->callback(result.Bind([&connection] { return RunStop(connection, options); }));
}

}  // namespace tessera::cli
