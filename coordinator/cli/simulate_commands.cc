// `tessera simulate` (a real federation on 127.0.0.1, one site per CSV
// file) and `tessera synthetic-cohorts` (the demo's synthetic trusts).
// See simulate_data.h, simulate_federation.h, simulate_evaluation.h and
// simulate_report.h for the parts, and docs/ml-lead-guide.md for the
// user's view.
#include "coordinator/cli/simulate_commands.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/config.h"
#include "common/files.h"
#include "common/flat_params.h"
#include "common/status.h"
#include "coordinator/cli/admin_client.h"
#include "coordinator/cli/commands.h"
#include "coordinator/cli/job_commands.h"
#include "coordinator/cli/model_commands.h"
#include "coordinator/cli/simulate_cohorts.h"
#include "coordinator/cli/simulate_data.h"
#include "coordinator/cli/simulate_dropouts.h"
#include "coordinator/cli/simulate_evaluation.h"
#include "coordinator/cli/simulate_federation.h"
#include "coordinator/cli/simulate_report.h"
#include "coordinator/job/round_plan.h"
#include "nlohmann/json.hpp"
#include "privacy/random.h"
#include "transport/object_transfer.h"

namespace tessera::cli {
namespace {

using nlohmann::json;

// ------------------------------------------------------------ Ctrl-C

std::atomic<int> g_stop_signal{0};

extern "C" void OnStopSignal(int signal_number) { g_stop_signal.store(signal_number); }

bool StopRequested() { return g_stop_signal.load() != 0; }

// Catches SIGINT, SIGTERM and SIGHUP while a simulation runs, so that it
// can stop its processes and remove its files; restores the previous
// handlers on destruction.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    struct sigaction action {};
    action.sa_handler = OnStopSignal;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &action, &previous_[i]);
  }
  ~StopSignals() {
    for (size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &previous_[i], nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  static constexpr std::array<int, 3> kSignals = {SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> previous_{};
};

absl::Status Cancelled() {
  return absl::CancelledError(absl::StrCat(
      "stopped by ", g_stop_signal.load() == SIGINT ? "Ctrl-C" : "a signal",
      "; the federation's processes were stopped and its files (keys included) removed"));
}

// ------------------------------------------------------------ output

// Progress goes to stdout, or to stderr under --json (stdout then holds
// only the result). The live line only on a terminal.
class Progress {
 public:
  explicit Progress(bool to_stderr)
      : out_(to_stderr ? std::cerr : std::cout),
        fd_(to_stderr ? STDERR_FILENO : STDOUT_FILENO),
        live_(::isatty(fd_) != 0) {}
  void Line(const std::string& text) {
    Clear();
    out_ << text << "\n" << std::flush;
  }
  void Live(const std::string& text) {
    if (!live_) return;
    Clear();
    out_ << text << std::flush;
    shown_ = true;
  }
  void Clear() {
    if (shown_) out_ << "\r\x1b[K";
    shown_ = false;
  }
  // The terminal's width less one (some terminals wrap in the last column).
  size_t width() const {
    winsize size{};
    if (::ioctl(fd_, TIOCGWINSZ, &size) == 0 && size.ws_col > 10) return size.ws_col - 1u;
    return 79;
  }

 private:
  std::ostream& out_;
  int fd_;
  bool live_;
  bool shown_ = false;
};

// ------------------------------------------------------------ dropouts

// The dropout controller's hands: the federation's agent processes.
class FederationControl final : public AgentControl {
 public:
  explicit FederationControl(SimulatedFederation& federation) : federation_(federation) {}
  absl::Status Pause(const std::string& site) override { return federation_.PauseAgent(site); }
  absl::Status Resume(const std::string& site) override { return federation_.ResumeAgent(site); }
  absl::Status KillAndRestart(const std::string& site) override {
    TESSERA_RETURN_IF_ERROR(federation_.KillAgent(site));
    return federation_.StartAgent(site);
  }

 private:
  SimulatedFederation& federation_;
};

RoundObservation Observe(const tessera::v1::GetJobResponse& job) {
  RoundObservation observation;
  observation.final = IsFinalJobState(job.summary().state());
  observation.in_progress = job.in_progress();
  observation.round = job.progress().round();
  observation.attempt = job.progress().attempt();
  observation.stage = static_cast<int>(job.progress().stage());
  observation.pending.assign(job.progress().waiting_for().begin(),
                             job.progress().waiting_for().end());
  for (const tessera::v1::RoundSummary& r : job.rounds()) {
    if (r.outcome() == "completed") {
      observation.last_completed_round =
          std::max<int64_t>(observation.last_completed_round, r.round());
    }
  }
  return observation;
}

// ------------------------------------------------------------ the job

absl::StatusOr<tessera::v1::GetJobResponse> FetchJob(AdminClient& client, const std::string& id) {
  tessera::v1::GetJobRequest request;
  request.set_job_id(id);
  tessera::v1::GetJobResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().GetJob(context.get(), request, &response);
  if (!status.ok()) return client.CallError(status);
  return response;
}

// The global parameters after `round`, from the coordinator's checkpoint.
absl::StatusOr<Eigen::VectorXf> FetchParameters(AdminClient& client, const std::string& job_id,
                                                int64_t round) {
  tessera::v1::GetModelRequest request;
  request.set_job_id(job_id);
  request.set_round(static_cast<uint32_t>(round));
  tessera::v1::GetModelResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().GetModel(context.get(), request, &response);
  if (!status.ok()) return client.CallError(status);
  TESSERA_ASSIGN_OR_RETURN(std::string bytes, transport::DownloadObject(
                                                  [&client](grpc::ClientContext* c,
                                                            const tessera::v1::DownloadRequest& r) {
                                                    return client.stub().DownloadObject(c, r);
                                                  },
                                                  response.parameters(), absl::Seconds(30)));
  return ParametersFromBytes(bytes);
}

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.empty() ? text : line;
}

// `tessera job submit`, as the ML lead would run it; returns the job id.
absl::StatusOr<std::string> Submit(SimulatedFederation& federation, const std::string& job_file) {
  TESSERA_ASSIGN_OR_RETURN(RunResult submitted,
                           federation.Cli({"job", "submit", job_file, "--json"}, "ml-lead",
                                          absl::Minutes(2), StopRequested));
  const size_t brace = submitted.output.find('{');
  const json receipt = json::parse(
      brace == std::string::npos ? std::string() : submitted.output.substr(brace), nullptr, false);
  if (submitted.exit_code != 0 || receipt.is_discarded() || !receipt.contains("job_id")) {
    return absl::InternalError(
        absl::StrCat("`tessera job submit` failed: ", FirstLine(submitted.output)));
  }
  return receipt["job_id"].get<std::string>();
}

struct WatchState {
  std::set<std::pair<uint32_t, uint32_t>> seen;  // (round, attempt)
  std::map<uint32_t, int64_t> first_start_ms;    // round -> first attempt's start
  std::map<uint32_t, int64_t> attempts;
  bool approved = false;
};

// Follows the job to its end: prints each round with the metrics of the
// model after it, kills and restarts agents as planned, and fills
// `result.rounds`, `statistics_seconds` and `dropouts`.
//
// `approval` is `tessera job approve`, started just before: the job starts
// the moment it is approved, and the first round must be watched from its
// start for its dropouts.
absl::Status FollowJob(SimulatedFederation& federation, const EvaluationData& data,
                       const std::string& model_bytes, DropoutController& dropouts,
                       AgentControl& control, Subprocess& approval, Progress& progress,
                       SimulationResult& result) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client,
                           AdminClient::Connect(federation.Connection("ml-lead")));
  WatchState state;
  absl::Time unreachable_since = absl::InfiniteFuture();
  while (true) {
    const absl::Duration poll = dropouts.idle() ? absl::Milliseconds(100) : absl::Milliseconds(15);
    if (StopRequested()) return Cancelled();
    if (approval.running()) {
      if (std::optional<RunResult> approved = approval.Poll(); approved.has_value()) {
        if (approved->exit_code != 0) {
          return absl::InternalError(
              absl::StrCat("`tessera job approve` failed: ", approved->output));
        }
      }
    }
    auto fetched = FetchJob(client, result.job_id);
    const absl::Time now = absl::Now();
    if (!fetched.ok()) {
      if (unreachable_since == absl::InfiniteFuture()) unreachable_since = now;
      if (now - unreachable_since > absl::Seconds(30)) {
        return Annotate(fetched.status(), "following the job");
      }
      absl::SleepFor(poll);
      continue;
    }
    unreachable_since = absl::InfiniteFuture();
    const tessera::v1::GetJobResponse& job = *fetched;
    if (!state.approved && !job.decided_by().empty()) {
      state.approved = true;
      progress.Line(
          absl::StrCat("job ", result.job_id, " approved by ", job.decided_by(), " (governance)"));
    }

    // Dropouts first: between rounds there are only ~200 ms to set up the next one.
    const size_t dropped_before = dropouts.events().size();
    TESSERA_RETURN_IF_ERROR(dropouts.Step(Observe(job), control));
    for (size_t i = dropped_before; i < dropouts.events().size(); ++i) {
      const DropoutEvent& d = dropouts.events()[i];
      progress.Line(absl::StrCat(
          "  dropout: killed the agent of ", d.site, " in round ", d.round, " at `", d.stage, "`",
          d.before_message ? "" : " (after its message)", ", and started it again"));
    }

    for (const tessera::v1::RoundSummary& r : job.rounds()) {
      if (!state.seen.insert({r.round(), r.attempt()}).second) continue;
      if (state.first_start_ms.count(r.round()) == 0) {
        state.first_start_ms[r.round()] = r.started_unix_ms();
      }
      ++state.attempts[r.round()];
      if (r.outcome() != "completed") {
        progress.Line(absl::StrCat(
            r.round() == 0 ? std::string("statistics round") : absl::StrCat("round ", r.round()),
            " attempt ", r.attempt(), " ", r.outcome(), ": ", r.reason(),
            "; it is retried with fresh keys"));
        continue;
      }
      const double seconds =
          static_cast<double>(r.finished_unix_ms() - state.first_start_ms[r.round()]) / 1000;
      if (r.round() == 0) {
        result.statistics_seconds = seconds;
        progress.Line(absl::StrFormat(
            "statistics round  means and standard deviations of %d numeric features from all "
            "sites  %.2f s",
            data.standardization().columns.size(), seconds));
        continue;
      }
      RoundResult round;
      round.round = r.round();
      round.attempts = state.attempts[r.round()];
      round.seconds = seconds;
      for (const auto& participant : r.participants()) {
        (participant.status() == "included" ? round.included : round.dropped)
            .push_back(participant.site_id());
      }
      TESSERA_ASSIGN_OR_RETURN(Eigen::VectorXf parameters,
                               FetchParameters(client, result.job_id, r.round()));
      TESSERA_ASSIGN_OR_RETURN(round.evaluation, data.Evaluate(model_bytes, parameters));
      progress.Line(RoundLine(round, result.options.rounds, result.sites.size()));
      result.rounds.push_back(std::move(round));
    }

    const bool final_state = IsFinalJobState(job.summary().state());
    if (final_state) {
      progress.Clear();
      if (job.summary().state() == "completed") return absl::OkStatus();
      return absl::AbortedError(
          absl::StrCat("the job ", job.summary().state(), ": ", job.summary().state_reason()));
    }
    progress.Live(LiveLine(job, now, progress.width()));
    absl::SleepFor(poll);
  }
}

// ------------------------------------------------------------ simulate

absl::Status RunSimulate(SimulationOptions options) {
  const absl::Time started = absl::Now();
  TESSERA_RETURN_IF_ERROR(ValidateOptions(options));
  TESSERA_ASSIGN_OR_RETURN(SimulationData data, LoadSimulationData(options.data, options.label));
  TESSERA_ASSIGN_OR_RETURN(
      SecAggPlan plan,
      PlanSecureAggregation(static_cast<int64_t>(data.sites.size()), options.secagg_threshold));
  const std::string job_toml = SimulationJobToml(options, data, plan);
  TESSERA_ASSIGN_OR_RETURN(ConfigReader reader,
                           ConfigReader::FromString(job_toml, "simulation job"));
  auto parsed = coordinator::ParseJobSpec(reader);
  if (!parsed.ok()) return Annotate(parsed.status(), "the simulation's settings");
  const coordinator::JobSpec spec = *parsed;
  TESSERA_ASSIGN_OR_RETURN(JobModel job_model, BuildJobModel(spec, "job.toml"));
  TESSERA_ASSIGN_OR_RETURN(EvaluationData evaluation, EvaluationData::Load(spec, data.sites));

  SimulationResult result;
  result.options = options;
  result.plan = plan;
  result.model_description = job_model.description;
  for (size_t i = 0; i < data.sites.size(); ++i) {
    result.sites.push_back({data.sites[i].site, data.sites[i].path, data.sites[i].records,
                            evaluation.TrainingRecords({i}), evaluation.HoldoutRecords(i)});
  }

  Progress progress(options.json);
  TESSERA_ASSIGN_OR_RETURN(FederationBinaries binaries, FederationBinaries::Find());
  StopSignals signals;
  FederationSettings settings;
  for (const SiteFile& site : data.sites) settings.sites.push_back({site.site, site.path});
  settings.allow_non_private = options.privacy == "none";
  settings.policy_delta = options.delta.value_or(kDefaultDelta);
  progress.Line(absl::StrFormat(
      "starting a federation on 127.0.0.1: a throwaway PKI, tessera-coordinator and %d "
      "tessera-agent processes (%s)",
      data.sites.size(), absl::StrJoin(data.sites, ", ", [](std::string* out, const SiteFile& s) {
        absl::StrAppend(out, s.site, " ", s.records);
      })));
  auto started_federation =
      SimulatedFederation::Start(binaries, settings, absl::Seconds(60), StopRequested);
  if (!started_federation.ok()) {
    if (StopRequested()) return Cancelled();
    return started_federation.status();
  }
  SimulatedFederation& federation = **started_federation;

  // Dropouts in training rounds; the first is set up before the job is
  // approved, as it starts at once.
  std::vector<std::string> site_ids;
  for (const SiteFile& site : data.sites) site_ids.push_back(site.site);
  const bool has_statistics = !evaluation.standardization().columns.empty();
  DropoutController dropouts(
      PlanDropouts(site_ids, 1, options.rounds, options.dropout, options.seed ^ 0x64726f70ULL),
      site_ids, has_statistics ? 0 : 1);
  FederationControl control(federation);
  TESSERA_RETURN_IF_ERROR(dropouts.Step(RoundObservation{}, control));

  const std::string job_file = federation.dir() + "/job.toml";
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(job_file, job_toml, 0644));
  auto job_id = Submit(federation, job_file);
  if (!job_id.ok()) return StopRequested() ? Cancelled() : job_id.status();
  result.job_id = *job_id;
  progress.Line(absl::StrFormat("job %s submitted by the ML lead: %s, %d rounds", result.job_id,
                                job_model.description, options.rounds));
  std::vector<std::string> approve = {"job", "approve", result.job_id, "--yes"};
  if (options.privacy == "none") approve.push_back("--allow-non-private");
  TESSERA_ASSIGN_OR_RETURN(Subprocess approval, federation.StartCli(approve, "governance"));
  absl::Status followed = FollowJob(federation, evaluation, job_model.model_bytes, dropouts,
                                    control, approval, progress, result);
  result.dropouts = dropouts.events();
  if (absl::Status resumed = dropouts.ResumeAll(control); followed.ok()) followed = resumed;
  if (!followed.ok()) {
    if (followed.code() == absl::StatusCode::kAborted) {
      return Annotate(
          followed,
          absl::StrCat("the federation's last log lines:", federation.CoordinatorLogTail(5), "\n"));
    }
    return followed;
  }

  if (options.privacy != "none") {
    for (const SiteFile& site : data.sites) {
      TESSERA_ASSIGN_OR_RETURN(double epsilon, federation.EpsilonSpent(site.site));
      result.epsilon.push_back(epsilon);
    }
  }
  if (!options.report_dir.empty()) {
    const std::filesystem::path dir = std::filesystem::absolute(options.report_dir);
    result.report_dir = dir.string();
    TESSERA_RETURN_IF_ERROR(federation.CopyLogs((dir / "logs").string()));
    TESSERA_ASSIGN_OR_RETURN(
        RunResult exported,
        federation.Cli({"model", "export", result.job_id, "--out", (dir / "model.pt").string()},
                       "ml-lead", absl::Minutes(1), StopRequested));
    if (exported.exit_code != 0) {
      return absl::InternalError(absl::StrCat("`tessera model export` failed: ", exported.output));
    }
    // The governance board's report, made as a board member would make it:
    // from the coordinator, with every receipt and the audit chain checked
    // against the federation CA.
    for (const auto& [format, file] : {std::pair<std::string, std::string>{"html", "governance-report.html"},
                                       {"json", "governance-report.json"}}) {
      TESSERA_ASSIGN_OR_RETURN(
          RunResult reported,
          federation.Cli({"budget", "report", "--job", result.job_id, "--format", format, "--out",
                          (dir / file).string()},
                         "governance", absl::Minutes(1), StopRequested));
      if (reported.exit_code != 0) {
        return absl::InternalError(
            absl::StrCat("`tessera budget report` failed: ", reported.output));
      }
    }
    const json standardization = {{"columns", evaluation.standardization().columns},
                                  {"mean", evaluation.standardization().mean},
                                  {"stddev", evaluation.standardization().stddev}};
    TESSERA_RETURN_IF_ERROR(WriteFileAtomically((dir / "standardization.json").string(),
                                                standardization.dump(2) + "\n", 0644));
    TESSERA_RETURN_IF_ERROR(WriteFileAtomically((dir / "job.toml").string(), job_toml, 0644));
  }
  TESSERA_RETURN_IF_ERROR(federation.Stop());
  if (StopRequested()) return Cancelled();

  if (options.compare) {
    progress.Line(
        "training the baselines on the same splits: centralised on the pooled "
        "training records, and each site alone");
    std::vector<size_t> all;
    for (size_t i = 0; i < data.sites.size(); ++i) all.push_back(i);
    const uint64_t seed = options.seed * 1000003;
    TESSERA_ASSIGN_OR_RETURN(
        Eigen::VectorXf centralised,
        evaluation.TrainBaseline(job_model.model_bytes, job_model.initial_parameters, all,
                                 std::nullopt, seed));
    TESSERA_ASSIGN_OR_RETURN(result.centralised,
                             evaluation.Evaluate(job_model.model_bytes, centralised));
    if (spec.privacy_mode == coordinator::PrivacyMode::kRecord) {
      TESSERA_ASSIGN_OR_RETURN(coordinator::RecordLevelPlan dp,
                               coordinator::PlanRecordLevel(spec, evaluation.TrainingRecords(all)));
      result.centralised_dp_noise = dp.noise_multiplier;
      TESSERA_ASSIGN_OR_RETURN(
          Eigen::VectorXf private_model,
          evaluation.TrainBaseline(job_model.model_bytes, job_model.initial_parameters, all,
                                   dp.noise_multiplier, seed + 1));
      TESSERA_ASSIGN_OR_RETURN(result.centralised_dp,
                               evaluation.Evaluate(job_model.model_bytes, private_model));
    }
    for (size_t i = 0; i < data.sites.size(); ++i) {
      if (StopRequested()) return Cancelled();
      TESSERA_ASSIGN_OR_RETURN(
          Eigen::VectorXf local,
          evaluation.TrainBaseline(job_model.model_bytes, job_model.initial_parameters, {i},
                                   std::nullopt, seed + 2 + i));
      TESSERA_ASSIGN_OR_RETURN(ModelEvaluation local_evaluation,
                               evaluation.Evaluate(job_model.model_bytes, local));
      result.local.push_back(std::move(local_evaluation));
    }
  }
  result.seconds = absl::ToDoubleSeconds(absl::Now() - started);
  if (!options.report_dir.empty()) {
    TESSERA_RETURN_IF_ERROR(WriteSimulationReport(result.report_dir, result));
  }
  if (options.json) {
    std::cout << SimulationJson(result).dump(2) << "\n";
  } else {
    std::cout << "\n" << SimulationSummary(result, /*with_rounds=*/false);
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------ cohorts

struct CohortOptions {
  std::string out;
  uint64_t seed = 1;
  double scale = 1;
  bool json = false;
};

absl::Status RunCohorts(const CohortOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(std::vector<WrittenCohort> cohorts,
                           WriteCohorts(options.out, options.seed, options.scale, DemoTrusts()));
  if (options.json) {
    json files = json::array();
    for (const WrittenCohort& c : cohorts) {
      files.push_back({{"site", c.profile.site},
                       {"name", c.profile.name},
                       {"path", c.path},
                       {"records", c.records},
                       {"admitted", c.admitted},
                       {"mean_risk", c.mean_risk}});
    }
    std::cout << json{{"cohorts", files}, {"seed", options.seed}}.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << "synthetic cohorts (not patient data; seed " << options.seed << ") in "
            << options.out << ":\n";
  for (const WrittenCohort& c : cohorts) {
    std::cout << absl::StrFormat(
        "  %-10s %-30s %5d records, mean age %2.0f, %4.1f%% admitted\n", c.profile.site + ".csv",
        c.profile.name, c.records, c.profile.mean_age,
        100.0 * static_cast<double>(c.admitted) / static_cast<double>(c.records));
  }
  std::cout << "try: tessera simulate --label admitted --compare";
  for (const WrittenCohort& c : cohorts) std::cout << " --data " << c.path;
  std::cout << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddSimulateCommands(CLI::App& app, CommandResult& result) {
  static SimulationOptions options;
  static std::optional<int64_t> threshold;
  static std::optional<double> epsilon;
  static std::optional<double> delta;
  CLI::App* simulate = app.add_subcommand(
      "simulate",
      "Try a job on this machine: a real federation (throwaway PKI, a coordinator and one agent "
      "per CSV file), the job submitted, approved and followed, then everything removed.");
  simulate
      ->add_option("--data", options.data,
                   "A site's records: a CSV file with a header row (repeat, at least 3)")
      ->required();
  simulate->add_option("--label", options.label, "The binary column to predict")->required();
  simulate
      ->add_option("--model", options.model,
                   "logistic, mlp, or a TorchScript file (.pt) scripted in PyTorch")
      ->capture_default_str();
  simulate->add_option("--hidden", options.hidden, "mlp: hidden layer widths, e.g. --hidden 32,16")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{1}, int64_t{4096}))
      ->capture_default_str();
  simulate->add_option("--rounds", options.rounds, "Training rounds")
      ->check(CLI::Range(int64_t{1}, int64_t{10000}))
      ->capture_default_str();
  simulate->add_option("--local-epochs", options.local_epochs, "Epochs each site trains per round")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}))
      ->capture_default_str();
  simulate->add_option("--optimizer", options.optimizer, "sgd or adam")
      ->check(CLI::IsMember({"sgd", "adam"}))
      ->capture_default_str();
  simulate->add_option("--learning-rate", options.learning_rate, "The sites' learning rate")
      ->check(CLI::Range(1e-9, 10.0))
      ->capture_default_str();
  simulate
      ->add_option("--batch-size", options.batch_size,
                   "Records per step (DP-SGD: the expected lot size)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
      ->capture_default_str();
  simulate
      ->add_option("--holdout", options.holdout, "Each site's hold-out fraction, for evaluation")
      ->capture_default_str();
  simulate
      ->add_option("--privacy", options.privacy,
                   "record (DP-SGD in each site), site (noise on each site's update) or none")
      ->check(CLI::IsMember({"record", "site", "none"}))
      ->capture_default_str();
  simulate->add_option("--epsilon", epsilon,
                       "Target epsilon per site for the whole job (default 3)");
  simulate->add_option("--delta", delta, "Delta of the privacy guarantee (default 1e-5)");
  simulate->add_option("--clip-norm", options.clip_norm, "DP clip norm")
      ->check(CLI::Range(1e-6, 1e6))
      ->capture_default_str();
  simulate->add_option("--secagg-threshold", threshold,
                       "Neighbours of each site that must survive a round (default: the "
                       "smallest that fits, more than half of the other sites)");
  simulate
      ->add_option("--dropout", options.dropout,
                   "Probability that each site drops out of each round at a random stage "
                   "(its agent is killed and restarted)")
      ->capture_default_str();
  simulate
      ->add_option("--seed", options.seed,
                   "Seed of the split, the initial model, the dropouts and the baselines")
      ->capture_default_str();
  simulate
      ->add_option("--stage-timeout", options.stage_timeout_seconds,
                   "Seconds a round waits for a silent site")
      ->check(CLI::Range(int64_t{1}, int64_t{3600}))
      ->capture_default_str();
  simulate->add_flag("--compare", options.compare,
                     "Also train centralised on the pooled records and each site alone, and "
                     "compare all of them on every site's hold-out records");
  simulate->add_option("--report", options.report_dir,
                       "Write result.json, summary.txt, the model and the logs into this folder");
  simulate->add_flag("--json", options.json,
                     "Print one JSON object at the end (progress goes to stderr)");
  simulate->footer(
      "\nExits 0 when every round completed; 1 when the job failed, the input is wrong or it was "
      "stopped (Ctrl-C: the processes are stopped and the temporary files, keys included, "
      "removed); 2 usage error.");
  simulate->callback(result.Bind([] {
    SimulationOptions run = options;
    run.secagg_threshold = threshold;
    run.epsilon = epsilon;
    run.delta = delta;
    return RunSimulate(std::move(run));
  }));

  static CohortOptions cohorts;
  CLI::App* synthetic = app.add_subcommand(
      "synthetic-cohorts",
      "Write synthetic cohorts for five NHS trusts (not patient data), to try `tessera simulate`.");
  synthetic->add_option("--out", cohorts.out, "The folder to write into")->required();
  synthetic->add_option("--seed", cohorts.seed, "Seed of the generator")->capture_default_str();
  synthetic->add_option("--scale", cohorts.scale, "Multiply every trust's size by this")
      ->capture_default_str();
  synthetic->add_flag("--json", cohorts.json, "Print JSON");
  synthetic->callback(result.Bind([] { return RunCohorts(cohorts); }));
}

}  // namespace tessera::cli
