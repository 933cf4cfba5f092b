#include "agent/task_runner.h"

#include <algorithm>
#include <functional>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/local_round.h"
#include "agent/round/local_policy.h"
#include "agent/round/secagg_session.h"
#include "common/files.h"
#include "common/flat_params.h"
#include "common/logging.h"
#include "common/status.h"
#include "coordinator/job/job_json.h"
#include "coordinator/job/round_id.h"
#include "coordinator/job/round_plan.h"
#include "crypto/sha256.h"
#include "governance/receipt.h"
#include "grpcpp/grpcpp.h"
#include "privacy/random.h"
#include "transport/object_transfer.h"
#include "transport/peer.h"

namespace tessera::agent {

namespace secagg = crypto::secagg;
using coordinator::JobSpec;
using coordinator::PrivacyMode;
using tessera::v1::Refusal;

namespace {

constexpr absl::Duration kLongPoll = absl::Seconds(30);
constexpr absl::Duration kCallDeadline = absl::Seconds(30);
constexpr absl::Duration kTransferDeadline = absl::Seconds(120);

// Payloads above this travel with Upload (the coordinator accepts 16 MiB
// messages).
constexpr size_t kInlinePayloadBytes = 8u << 20;

std::shared_ptr<spdlog::logger> Log() { return Logger("agent"); }

// The coordinator refuses a caller past its per-caller rate limit with
// RESOURCE_EXHAUSTED ("slow down and retry"); short rounds that follow each
// other at once can get there. Such a call is repeated after pauses that
// double from 100 ms (6.3 s in all, far inside a stage's deadline), so a
// busy federation slows down instead of dropping this site from the round.
constexpr int kRateLimitedRetries = 6;
constexpr absl::Duration kFirstRateLimitPause = absl::Milliseconds(100);

template <typename T>
absl::StatusOr<T> RetryWhileRateLimited(const std::function<absl::StatusOr<T>()>& call) {
  absl::Duration pause = kFirstRateLimitPause;
  for (int retry = 0;; ++retry) {
    absl::StatusOr<T> result = call();
    if (result.ok() || result.status().code() != absl::StatusCode::kResourceExhausted ||
        retry == kRateLimitedRetries) {
      return result;
    }
    Log()->info("rate limited by the coordinator; retrying in {} ms",
                absl::ToInt64Milliseconds(pause));
    absl::SleepFor(pause);
    pause *= 2;
  }
}

std::string KeyOf(const tessera::v1::RoundRef& ref) {
  return absl::StrCat(ref.job_id(), "/", ref.round(), "/", ref.attempt());
}

std::optional<SecAggInput> InputOf(tessera::v1::Stage stage) {
  switch (stage) {
    case tessera::v1::STAGE_SHARE_KEYS: return SecAggInput::kKeyList;
    case tessera::v1::STAGE_MASKED_INPUT: return SecAggInput::kShareRelay;
    case tessera::v1::STAGE_CONSISTENCY_CHECK: return SecAggInput::kSurvivorSet;
    case tessera::v1::STAGE_UNMASK: return SecAggInput::kUnmaskRequest;
    default: return std::nullopt;
  }
}

Refusal::Reason ReasonOf(PolicyVerdict verdict) {
  switch (verdict) {
    case PolicyVerdict::kModelNotApproved: return Refusal::MODEL_NOT_APPROVED;
    case PolicyVerdict::kPrivacyTooWeak: return Refusal::PRIVACY_TOO_WEAK;
    case PolicyVerdict::kBudgetExceeded: return Refusal::PRIVACY_BUDGET_EXCEEDED;
    case PolicyVerdict::kAllowed: break;
  }
  return Refusal::INTERNAL_ERROR;
}

// Record-level DP: what DP-SGD reports it applied must be what the round
// was checked against the policy with, and what the ledger and the receipt
// will state. INTERNAL otherwise (the update is then never sent).
absl::Status CheckAppliedAsPlanned(const RoundPrivacy& privacy, double sampling_rate, int64_t steps,
                                   const TrainingRoundOutput& output) {
  if (privacy.kind != PrivacyKind::kRecord) return absl::OkStatus();
  if (!output.dp.has_value()) {
    return absl::InternalError(
        "training ran without DP-SGD in a record-level round; the update is not sent");
  }
  const model::DpSgdReport& applied = *output.dp;
  if (applied.noise_multiplier != privacy.noise_multiplier ||
      applied.clip_norm != privacy.clip_norm || applied.sampling_rate != sampling_rate ||
      applied.steps != steps) {
    return absl::InternalError(absl::StrCat(
        "DP-SGD applied noise multiplier ", applied.noise_multiplier, ", clip norm ",
        applied.clip_norm, ", sampling rate ", applied.sampling_rate, " over ", applied.steps,
        " steps, but the round was checked with ", privacy.noise_multiplier, ", ",
        privacy.clip_norm, ", ", sampling_rate, " and ", steps, "; the update is not sent"));
  }
  return absl::OkStatus();
}

}  // namespace

bool RoundOutlived(absl::Time heard_at, absl::Duration stage_timeout, absl::Time now) {
  // The stage the round waits in closes stage_timeout after the input that
  // opened it; six more allow for a coordinator that restarts meanwhile.
  return now - heard_at > 7 * stage_timeout;
}

struct TaskRunner::Round {
  tessera::v1::Task task;
  JobSpec spec;
  data::DatasetConfig dataset;
  std::optional<coordinator::AggregateCodec> codec;
  std::optional<coordinator::strategy::AggregateLayout> layout;
  std::unique_ptr<SecAggSession> session;
  // Training rounds.
  std::string model_bytes;
  Eigen::VectorXf global;
  std::optional<LocalData> data;
  std::optional<double> dp_noise_multiplier;
  RoundPrivacy privacy;
  // What the receipt states besides `privacy`: record level, the Poisson
  // sampling rate q and the DP-SGD steps of the round; site level, 1 and 1;
  // none, 0 and 0.
  double sampling_rate = 0;
  int64_t steps = 0;
  // Signed once the round is in the ledger; sent with the masked input.
  std::optional<tessera::v1::SignedReceipt> receipt;
  PolicyDecision decision;
  tessera::v1::Stage last_stage = tessera::v1::STAGE_ADVERTISE_KEYS;
  // When the task or the last stage input arrived, on THIS server's clock.
  // How long the round has been quiet is measured from it, never from the
  // coordinator's stage_deadline_unix_ms: the two clocks need not agree.
  absl::Time heard_at = absl::Now();
};

TaskRunner::TaskRunner(const AgentConfig& config, PrivacyLedgerStore& ledger, std::string site_id,
                       std::string certificate_pem, std::unique_ptr<crypto::Signer> signer,
                       std::shared_ptr<const secagg::PeerAuthenticator> authenticator,
                       std::unique_ptr<tessera::v1::Federation::Stub> stub)
    : config_(config),
      ledger_(ledger),
      site_id_(std::move(site_id)),
      certificate_pem_(std::move(certificate_pem)),
      signer_(std::move(signer)),
      authenticator_(std::move(authenticator)),
      stub_(std::move(stub)),
      backoff_(absl::Seconds(1), config.retry_max, std::random_device{}()) {}

TaskRunner::~TaskRunner() = default;

absl::StatusOr<std::unique_ptr<TaskRunner>> TaskRunner::Create(
    const AgentConfig& config, PrivacyLedgerStore& ledger, std::shared_ptr<grpc::Channel> channel) {
  TESSERA_ASSIGN_OR_RETURN(std::string certificate_pem,
                           ReadFileToString(config.tls.cert_file, "site certificate"));
  TESSERA_ASSIGN_OR_RETURN(std::string ca_pem,
                           ReadFileToString(config.tls.ca_file, "CA certificate"));
  TESSERA_ASSIGN_OR_RETURN(std::string key_pem,
                           ReadFileToString(config.tls.key_file, "site private key"));
  auto signer = crypto::PrivateKeySigner::FromPem(key_pem);
  std::fill(key_pem.begin(), key_pem.end(), '\0');
  if (!signer.ok()) return Annotate(signer.status(), config.tls.key_file);
  TESSERA_ASSIGN_OR_RETURN(transport::PeerIdentity identity,
                           transport::IdentityFromCertificatePem(certificate_pem));
  TESSERA_ASSIGN_OR_RETURN(auto authenticator,
                           secagg::PeerAuthenticator::Create({ca_pem, "site"}));
  return std::unique_ptr<TaskRunner>(new TaskRunner(
      config, ledger, identity.id, std::move(certificate_pem), std::move(*signer),
      std::move(authenticator), tessera::v1::Federation::NewStub(channel)));
}

absl::Status TaskRunner::Run(absl::Notification& stop) {
  while (!stop.HasBeenNotified()) {
    tessera::v1::GetWorkRequest request;
    for (const auto& [key, round] : rounds_) {
      tessera::v1::RoundRef* ref = request.add_in_progress();
      *ref = round->task.round();
      ref->set_stage(round->last_stage);
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kLongPoll));
    tessera::v1::GetWorkResponse work;
    grpc::Status status = stub_->GetWork(&context, request, &work);
    if (!status.ok()) {
      absl::Status error = transport::FromGrpcStatus(status);
      if (error.code() == absl::StatusCode::kPermissionDenied ||
          error.code() == absl::StatusCode::kUnauthenticated) {
        return Annotate(error, absl::StrCat("coordinator ", config_.coordinator_address,
                                            " refused this agent"));
      }
      if (error.code() != absl::StatusCode::kDeadlineExceeded) {
        const absl::Duration wait = backoff_.NextDelay();
        Log()->debug("work poll failed retry_in={} error=\"{}\"", absl::FormatDuration(wait),
                     std::string(error.message()));
        stop.WaitForNotificationWithTimeout(wait);
      }
      continue;
    }
    backoff_.Reset();
    if (work.has_task()) {
      HandleTask(work.task());
    } else if (work.has_stage_input()) {
      HandleStageInput(work.stage_input());
    } else if (work.has_aborted()) {
      const std::string key = KeyOf(work.aborted().round());
      if (rounds_.erase(key) > 0) {
        Log()->warn("round aborted by the coordinator job={} round={} attempt={} reason=\"{}\"",
                    work.aborted().round().job_id(), work.aborted().round().round(),
                    work.aborted().round().attempt(), work.aborted().reason());
      }
    }
    // A round that has heard nothing for several stage timeouts will not
    // come back. Measured on this server's clock alone: comparing it with
    // the coordinator's absolute deadline made an agent whose clock ran a
    // few minutes ahead forget every round as soon as it was given.
    const absl::Time now = absl::Now();
    for (auto it = rounds_.begin(); it != rounds_.end();) {
      if (RoundOutlived(it->second->heard_at, it->second->spec.stage_timeout, now)) {
        Log()->info("round forgotten after its deadlines job={} round={}",
                    it->second->task.round().job_id(), it->second->task.round().round());
        it = rounds_.erase(it);
      } else {
        ++it;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TaskRunner::Fetch(const tessera::v1::ObjectRef& ref) {
  return RetryWhileRateLimited<std::string>([&] {
    return transport::DownloadObject(
        [this](grpc::ClientContext* context, const tessera::v1::DownloadRequest& request) {
          return stub_->Download(context, request);
        },
        ref, kTransferDeadline);
  });
}

void TaskRunner::Refuse(const tessera::v1::RoundRef& ref, Refusal::Reason reason,
                        const std::string& message) {
  Log()->warn("task refused job={} round={} attempt={} reason={} detail=\"{}\"", ref.job_id(),
              ref.round(), ref.attempt(), Refusal::Reason_Name(reason), message);
  tessera::v1::StageSubmission submission;
  *submission.mutable_round() = ref;
  submission.mutable_refusal()->set_reason(reason);
  submission.mutable_refusal()->set_message(message);
  absl::Status sent = Submit(submission);
  if (!sent.ok()) {
    Log()->warn("refusal not delivered job={} error=\"{}\"", ref.job_id(),
                std::string(sent.message()));
  }
}

absl::Status TaskRunner::Submit(const tessera::v1::StageSubmission& submission) {
  // A lost acknowledgement is retried: the coordinator answers a repeated
  // submission as a duplicate.
  return RetryWhileRateLimited<bool>([&]() -> absl::StatusOr<bool> {
    absl::Status last;
    for (int attempt = 0; attempt < 3; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + kCallDeadline));
      tessera::v1::StageSubmissionResponse response;
      grpc::Status status = stub_->SubmitStage(&context, submission, &response);
      if (status.ok()) return true;
      last = transport::FromGrpcStatus(status);
      if (last.code() != absl::StatusCode::kUnavailable &&
          last.code() != absl::StatusCode::kDeadlineExceeded) {
        break;
      }
    }
    return last;
  }).status();
}

absl::Status TaskRunner::Send(const tessera::v1::RoundRef& ref, const std::vector<uint8_t>& payload,
                              const tessera::v1::SignedReceipt* receipt) {
  tessera::v1::StageSubmission submission;
  *submission.mutable_round() = ref;
  if (receipt != nullptr) *submission.mutable_receipt() = *receipt;
  const absl::string_view bytes(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (payload.size() > kInlinePayloadBytes) {
    TESSERA_ASSIGN_OR_RETURN(
        tessera::v1::UploadResponse uploaded,
        RetryWhileRateLimited<tessera::v1::UploadResponse>([&] {
          return transport::UploadObject(
              [this](grpc::ClientContext* context, tessera::v1::UploadResponse* response) {
                return stub_->Upload(context, response);
              },
              bytes, &ref, kTransferDeadline);
        }));
    *submission.mutable_uploaded() = uploaded.object();
  } else {
    submission.set_payload(bytes.data(), bytes.size());
  }
  return Submit(submission);
}

void TaskRunner::HandleTask(const tessera::v1::Task& task) {
  const tessera::v1::RoundRef& ref = task.round();
  const std::string key = KeyOf(ref);
  if (rounds_.count(key) > 0) return;  // the same task again, while the round runs
  Log()->info("task received job={} round={} attempt={} kind={} dataset={}", ref.job_id(),
              ref.round(), ref.attempt(), tessera::v1::RoundKind_Name(task.kind()),
              task.dataset());
  tessera::v1::RoundRef advertise = ref;
  advertise.set_stage(tessera::v1::STAGE_ADVERTISE_KEYS);
  // Before anything else: a replayed task must not reach the data.
  if (absl::Status fresh = CheckNotReplayed(ref); !fresh.ok()) {
    Refuse(advertise,
           fresh.code() == absl::StatusCode::kFailedPrecondition ? Refusal::ROUND_REPLAYED
                                                                   : Refusal::INTERNAL_ERROR,
           std::string(fresh.message()));
    return;
  }
  auto round = std::make_unique<Round>();
  round->task = task;
  Refusal::Reason reason = Refusal::INTERNAL_ERROR;
  absl::Status started = StartRound(task, *round, &reason);
  // Once its keys may have left, the attempt counts as taken part in,
  // whatever happens to it next.
  if (round->session != nullptr) {
    started_[ref.job_id()].push_back(RoundAttempt{ref.round(), ref.attempt()});
  }
  if (!started.ok()) {
    Refuse(advertise, reason, std::string(started.message()));
    return;
  }
  rounds_[key] = std::move(round);
}

absl::Status TaskRunner::CheckNotReplayed(const tessera::v1::RoundRef& ref) {
  std::vector<RoundAttempt> done = started_[ref.job_id()];
  absl::StatusOr<std::vector<Participation>> recorded = ledger_.List();
  if (!recorded.ok()) {
    return absl::InternalError(absl::StrCat("the privacy ledger cannot be read: ",
                                            recorded.status().message()));
  }
  for (const Participation& participation : *recorded) {
    if (participation.job_id == ref.job_id()) {
      done.push_back(RoundAttempt{participation.round, participation.attempt});
    }
  }
  return CheckTaskIsNew(done, RoundAttempt{ref.round(), ref.attempt()});
}

absl::Status TaskRunner::StartRound(const tessera::v1::Task& task, Round& round,
                                    Refusal::Reason* reason) {
  const tessera::v1::RoundRef& ref = task.round();
  *reason = Refusal::INTERNAL_ERROR;
  TESSERA_ASSIGN_OR_RETURN(round.spec, coordinator::JobSpecFromJson(task.job_json()));
  const JobSpec& spec = round.spec;
  *reason = Refusal::DATA_UNAVAILABLE;
  if (task.dataset() != spec.dataset) {
    return absl::InvalidArgumentError(absl::StrCat("the task names dataset `", task.dataset(),
                                                   "` but its job uses `", spec.dataset, "`"));
  }
  auto dataset = std::find_if(config_.datasets.begin(), config_.datasets.end(),
                              [&](const data::DatasetConfig& d) { return d.name == spec.dataset; });
  if (dataset == config_.datasets.end()) {
    return absl::NotFoundError(
        absl::StrCat("this site offers no dataset called `", spec.dataset, "`"));
  }
  round.dataset = *dataset;
  *reason = Refusal::INTERNAL_ERROR;
  if (task.round_seed().size() != 32) {
    return absl::InvalidArgumentError("the task's round seed is not 32 bytes");
  }
  std::vector<std::string> participants(task.participants().begin(), task.participants().end());
  if (std::find(participants.begin(), participants.end(), site_id_) == participants.end()) {
    return absl::InvalidArgumentError("this site is not among the task's participants");
  }
  // The trust's own list of approved models applies to every round kind.
  const std::string& model_sha = task.model().sha256_hex();
  if (!config_.policy.approved_models.empty() &&
      std::find(config_.policy.approved_models.begin(), config_.policy.approved_models.end(),
                model_sha) == config_.policy.approved_models.end()) {
    *reason = Refusal::MODEL_NOT_APPROVED;
    return absl::PermissionDeniedError(absl::StrCat(
        "model ", model_sha, " is not in this trust's approved_models list"));
  }

  uint64_t vector_length = 0;
  if (task.kind() == tessera::v1::ROUND_KIND_STATISTICS) {
    const auto values =
        static_cast<int64_t>(3 * data::NumericFeatureNames(spec.schema).size());
    TESSERA_ASSIGN_OR_RETURN(auto codec, coordinator::AggregateCodec::ForStatistics(spec, values));
    round.codec = std::move(codec);
  } else if (task.kind() == tessera::v1::ROUND_KIND_TRAINING) {
    TESSERA_ASSIGN_OR_RETURN(round.model_bytes, Fetch(task.model()));
    TESSERA_ASSIGN_OR_RETURN(std::string parameters, Fetch(task.global_parameters()));
    TESSERA_ASSIGN_OR_RETURN(round.global, ParametersFromBytes(parameters));
    TESSERA_ASSIGN_OR_RETURN(auto layout,
                             coordinator::TrainingLayout(spec, round.global.size()));
    TESSERA_ASSIGN_OR_RETURN(auto codec, coordinator::AggregateCodec::ForTraining(spec, layout));
    round.layout = std::move(layout);
    round.codec = std::move(codec);
    TESSERA_ASSIGN_OR_RETURN(data::Standardization standardization,
                             ParseStandardization(spec, task.standardization_json()));
    *reason = Refusal::SCHEMA_MISMATCH;
    TESSERA_ASSIGN_OR_RETURN(LocalData local, LoadLocalData(round.dataset, spec, standardization));
    round.data = std::move(local);

    // What the round costs, checked against the policy and the ledger.
    *reason = Refusal::INTERNAL_ERROR;
    RoundPrivacy& privacy = round.privacy;
    privacy.dataset = spec.dataset;
    privacy.model_sha256 = model_sha;
    privacy.approved_by_federation = true;  // the coordinator only schedules approved jobs
    switch (spec.privacy_mode) {
      case PrivacyMode::kRecord: {
        TESSERA_ASSIGN_OR_RETURN(auto plan,
                                 coordinator::PlanRecordLevel(spec, round.data->training_records()));
        privacy.kind = PrivacyKind::kRecord;
        privacy.noise_multiplier = plan.noise_multiplier;
        privacy.clip_norm = plan.clip_norm;
        TESSERA_RETURN_IF_ERROR(privacy.events.Add(plan.step_event, plan.steps_per_round));
        round.dp_noise_multiplier = plan.noise_multiplier;
        round.sampling_rate = plan.sampling_rate;
        round.steps = plan.steps_per_round;
        break;
      }
      case PrivacyMode::kSite: {
        TESSERA_ASSIGN_OR_RETURN(auto plan, coordinator::PlanSiteLevel(spec, round.global.size()));
        privacy.kind = PrivacyKind::kSite;
        privacy.noise_multiplier = plan.noise_multiplier;
        privacy.clip_norm = spec.clip_norm;
        TESSERA_RETURN_IF_ERROR(privacy.events.Add(plan.round_event, 1));
        round.sampling_rate = 1;
        round.steps = 1;
        break;
      }
      case PrivacyMode::kNone:
        privacy.kind = PrivacyKind::kNone;
        break;
    }
    TESSERA_ASSIGN_OR_RETURN(privacy::PrivacyLedger spent, ledger_.Spent(spec.dataset));
    TESSERA_ASSIGN_OR_RETURN(round.decision, CheckRound(config_.policy, spent, privacy));
    if (round.decision.verdict != PolicyVerdict::kAllowed) {
      *reason = ReasonOf(round.decision.verdict);
      return absl::PermissionDeniedError(round.decision.reason);
    }
  } else {
    return absl::InvalidArgumentError("the task has no known round kind");
  }
  vector_length = round.codec->word_count();

  const secagg::RoundParameters parameters =
      coordinator::SecAggParameters(spec, ref.job_id(), ref.round(), ref.attempt(), participants,
                                    task.round_seed(), vector_length);
  secagg::ClientConfig client_config{parameters, site_id_, certificate_pem_, authenticator_,
                                     absl::Now()};
  TESSERA_ASSIGN_OR_RETURN(auto client, secagg::Client::Create(client_config, *signer_));
  round.session = std::make_unique<SecAggSession>(std::move(client));
  TESSERA_ASSIGN_OR_RETURN(std::vector<uint8_t> keys, round.session->Start());
  tessera::v1::RoundRef advertise = ref;
  advertise.set_stage(tessera::v1::STAGE_ADVERTISE_KEYS);
  return Send(advertise, keys);
}

absl::StatusOr<std::vector<uint32_t>> TaskRunner::Contribution(Round& round) {
  const tessera::v1::RoundRef& ref = round.task.round();
  std::vector<uint32_t> words;
  if (round.task.kind() == tessera::v1::ROUND_KIND_STATISTICS) {
    TESSERA_ASSIGN_OR_RETURN(data::LocalStatistics statistics,
                             RoundStatistics(round.dataset, round.spec));
    Log()->info("statistics computed job={} records_used={} rows_skipped={}", ref.job_id(),
                statistics.report.records_used(), statistics.report.records_skipped());
    TESSERA_RETURN_IF_ERROR(round.codec
                                ->EncodeStatistics(absl::MakeConstSpan(statistics.sums.data(),
                                                                      static_cast<size_t>(statistics.sums.size())),
                                                   &words)
                                .status());
    return words;
  }

  TrainingRoundInput input;
  input.model_bytes = round.model_bytes;
  input.global = round.global;
  input.dp_noise_multiplier = round.dp_noise_multiplier;
  input.seed = coordinator::RotationSeed(round.task.round_seed()) ^ std::random_device{}();
  TESSERA_ASSIGN_OR_RETURN(TrainingRoundOutput output,
                           RunTrainingRound(round.spec, *round.layout, *round.data, input));
  TESSERA_RETURN_IF_ERROR(
      CheckAppliedAsPlanned(round.privacy, round.sampling_rate, round.steps, output));

  // The ledger first: once the masked input is sent the privacy is spent.
  Participation participation;
  participation.job_id = ref.job_id();
  participation.round = ref.round();
  participation.attempt = ref.attempt();
  participation.dataset = round.spec.dataset;
  participation.recorded_at = absl::Now();
  participation.events = round.privacy.events;
  participation.epsilon_after = round.decision.epsilon_after;
  participation.delta = config_.policy.delta;
  TESSERA_RETURN_IF_ERROR(ledger_.Record(participation).status());
  // Then the receipt of what was recorded, signed before anything is sent.
  TESSERA_ASSIGN_OR_RETURN(round.receipt, SignRoundReceipt(round, participation));

  TESSERA_ASSIGN_OR_RETURN(auto rng, privacy::OsRandomSource::Create());
  TESSERA_ASSIGN_OR_RETURN(
      coordinator::AggregateCodec::EncodeReport report,
      round.codec->Encode(output.aggregate, coordinator::RotationSeed(round.task.round_seed()),
                          *rng, &words));
  Log()->info("update ready job={} round={} attempt={} steps={} update_norm={:.4g} clamped={} "
              "epsilon_after={:.4g}",
              ref.job_id(), ref.round(), ref.attempt(), output.steps, output.update_norm,
              report.clamped, round.decision.epsilon_after);
  return words;
}

absl::StatusOr<tessera::v1::SignedReceipt> TaskRunner::SignRoundReceipt(
    const Round& round, const Participation& participation) const {
  tessera::v1::RoundReceipt receipt;
  receipt.set_job_id(participation.job_id);
  receipt.set_round(round.task.round().round());
  receipt.set_attempt(round.task.round().attempt());
  receipt.set_site_id(site_id_);
  // The job as the coordinator stores it: the SHA-256 of its canonical JSON,
  // which is what the task carries.
  receipt.set_spec_sha256(crypto::Sha256Hex(round.task.job_json()));
  receipt.set_model_sha256(round.task.model().sha256_hex());
  receipt.set_dataset(participation.dataset);
  receipt.set_privacy_mode(std::string(coordinator::PrivacyModeName(round.spec.privacy_mode)));
  receipt.set_noise_multiplier(round.privacy.noise_multiplier);
  receipt.set_clip_norm(round.privacy.clip_norm);
  receipt.set_sampling_rate(round.sampling_rate);
  receipt.set_steps(static_cast<uint64_t>(round.steps));
  receipt.set_events_json(EventsToJson(participation.events));
  receipt.set_epsilon_before(round.decision.epsilon_before);
  receipt.set_epsilon_after(participation.epsilon_after);
  receipt.set_delta(participation.delta);
  receipt.set_signed_unix_ms(absl::ToUnixMillis(absl::Now()));
  return governance::SignReceipt(receipt, *signer_, certificate_pem_);
}

void TaskRunner::HandleStageInput(const tessera::v1::StageInput& input) {
  const tessera::v1::RoundRef& ref = input.round();
  auto it = rounds_.find(KeyOf(ref));
  if (it == rounds_.end()) {
    Log()->debug("stage input for a round this agent does not hold job={} round={} attempt={}",
                 ref.job_id(), ref.round(), ref.attempt());
    return;
  }
  Round& round = *it->second;
  std::optional<SecAggInput> stage = InputOf(ref.stage());
  if (!stage.has_value()) {
    Log()->warn("stage input for an unknown stage job={} stage={}", ref.job_id(),
                tessera::v1::Stage_Name(ref.stage()));
    return;
  }
  round.task.set_stage_deadline_unix_ms(input.stage_deadline_unix_ms());
  round.last_stage = ref.stage();
  round.heard_at = absl::Now();
  const auto* bytes = reinterpret_cast<const uint8_t*>(input.payload().data());
  auto answer = round.session->Handle(
      *stage, crypto::ByteSpan(bytes, input.payload().size()),
      [this, &round]() { return Contribution(round); });
  if (!answer.ok()) {
    Log()->warn("round left job={} round={} attempt={} stage={} reason=\"{}\"", ref.job_id(),
                ref.round(), ref.attempt(), tessera::v1::Stage_Name(ref.stage()),
                std::string(answer.status().message()));
    rounds_.erase(it);
    return;
  }
  // The masked input of a training round goes with the round's receipt.
  const tessera::v1::SignedReceipt* receipt =
      ref.stage() == tessera::v1::STAGE_MASKED_INPUT && round.receipt.has_value() ? &*round.receipt
                                                                                  : nullptr;
  absl::Status sent = Send(ref, *answer, receipt);
  if (!sent.ok()) {
    Log()->warn("stage message not delivered job={} round={} stage={} error=\"{}\"", ref.job_id(),
                ref.round(), tessera::v1::Stage_Name(ref.stage()), std::string(sent.message()));
  }
  if (ref.stage() == tessera::v1::STAGE_UNMASK) {
    Log()->info("round finished here job={} round={} attempt={}", ref.job_id(), ref.round(),
                ref.attempt());
    rounds_.erase(it);
  }
}

}  // namespace tessera::agent
