#include "coordinator/job_runner.h"

#include <malloc.h>

#include <algorithm>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/data/statistics.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "common/flat_params.h"
#include "common/logging.h"
#include "common/status.h"
#include "coordinator/budgets.h"
#include "coordinator/job/capabilities.h"
#include "coordinator/job/job_json.h"
#include "coordinator/job/round_id.h"
#include "coordinator/strategy/aggregate_layout.h"
#include "coordinator/strategy/server_optimizer.h"
#include "crypto/random.h"
#include "crypto/sha256.h"
#include "model/roc_auc.h"
#include "nlohmann/json.hpp"

namespace tessera::coordinator {

namespace secagg = crypto::secagg;
using tessera::v1::RoundKind;

struct JobRunner::ActiveRound {
  JobRecord job;
  JobSpec spec;
  RoundKind kind = RoundKind::ROUND_KIND_UNSPECIFIED;
  uint32_t round = 0;
  uint32_t attempt = 0;
  std::vector<std::string> participants;
  std::string seed;  // 32 bytes of public randomness
  std::unique_ptr<SecureRound> secure;
  std::optional<AggregateCodec> codec;
  std::optional<strategy::AggregateLayout> layout;  // training rounds
  std::optional<CheckpointRecord> checkpoint;       // the global model the round starts from
  absl::Time started;
  absl::Time stage_started;
  std::map<std::string, ParticipantRecord> refused;
  std::map<std::string, uint64_t> record_buckets;  // site -> record-count bucket of the dataset
  std::map<std::string, ParticipantRecord> excluded;  // eligible but over their budget
};

namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("rounds"); }

AuditEvent CoordinatorEvent(absl::Time now, const std::string& action, const std::string& subject,
                            const nlohmann::json& details) {
  return {now, "coordinator", "coordinator", action, subject, details.dump()};
}

tessera::v1::RoundRef RefOf(const std::string& job_id, uint32_t round, uint32_t attempt,
                            tessera::v1::Stage stage) {
  tessera::v1::RoundRef ref;
  ref.set_job_id(job_id);
  ref.set_round(round);
  ref.set_attempt(attempt);
  ref.set_stage(stage);
  return ref;
}

// The record count the coordinator plans `site`'s record-level privacy
// with: its dataset's coarse bucket (at least 1).
int64_t RecordsOf(const std::map<std::string, uint64_t>& buckets, const std::string& site) {
  auto it = buckets.find(site);
  return std::max<int64_t>(1, it == buckets.end() ? 1 : static_cast<int64_t>(it->second));
}

std::string DescribeRound(const std::string& job_id, uint32_t round, uint32_t attempt) {
  return absl::StrCat("job `", job_id, "` round ", round, " attempt ", attempt);
}

// A write the storage could not take now but may later: the disk is full
// (SQLITE_FULL, ENOSPC) or the database is locked by another writer.
bool IsStorageUnavailable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted ||
         status.code() == absl::StatusCode::kUnavailable;
}

}  // namespace

tessera::v1::Stage ToProtoStage(SecAggStage stage) {
  switch (stage) {
    case SecAggStage::kAdvertiseKeys: return tessera::v1::STAGE_ADVERTISE_KEYS;
    case SecAggStage::kShareKeys: return tessera::v1::STAGE_SHARE_KEYS;
    case SecAggStage::kMaskedInput: return tessera::v1::STAGE_MASKED_INPUT;
    case SecAggStage::kConsistencyCheck: return tessera::v1::STAGE_CONSISTENCY_CHECK;
    case SecAggStage::kUnmask: return tessera::v1::STAGE_UNMASK;
    case SecAggStage::kDone:
    case SecAggStage::kAborted: break;
  }
  return tessera::v1::STAGE_UNSPECIFIED;
}

std::optional<SecAggStage> FromProtoStage(tessera::v1::Stage stage) {
  switch (stage) {
    case tessera::v1::STAGE_ADVERTISE_KEYS: return SecAggStage::kAdvertiseKeys;
    case tessera::v1::STAGE_SHARE_KEYS: return SecAggStage::kShareKeys;
    case tessera::v1::STAGE_MASKED_INPUT: return SecAggStage::kMaskedInput;
    case tessera::v1::STAGE_CONSISTENCY_CHECK: return SecAggStage::kConsistencyCheck;
    case tessera::v1::STAGE_UNMASK: return SecAggStage::kUnmask;
    default: return std::nullopt;
  }
}

JobRunner::JobRunner(Store& store, ObjectStore& objects, Mailboxes& mailboxes,
                     SiteRegistry& registry, Revocations& revocations,
                     std::shared_ptr<const secagg::PeerAuthenticator> authenticator,
                     const Clock& clock, JobRunnerOptions options)
    : store_(store),
      objects_(objects),
      mailboxes_(mailboxes),
      registry_(registry),
      revocations_(revocations),
      authenticator_(std::move(authenticator)),
      clock_(clock),
      options_(options) {}

JobRunner::~JobRunner() { Stop(); }

void JobRunner::Start() { thread_ = std::thread([this] { Loop(); }); }

void JobRunner::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void JobRunner::Wake() {
  absl::MutexLock lock(&mutex_);
  wake_ = true;
}

void JobRunner::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mutex_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return wake_ || stopping_; };
      mutex_.AwaitWithTimeout(absl::Condition(&woken), options_.tick);
      if (stopping_) return;
      wake_ = false;
    }
    Tick(clock_.Now());
  }
}

void JobRunner::Tick(absl::Time now) {
  absl::MutexLock lock(&mutex_);
  if (active_ != nullptr) {
    DriveRound(now);
    if (active_ != nullptr) return;
    // The round is over: give the memory of its messages back to the
    // system (glibc keeps freed blocks otherwise, and the coordinator's
    // footprint would grow with the number of sites, not the model), and
    // start the next round now rather than at the next tick.
    malloc_trim(0);
  }
  auto jobs = store_.ListJobs();
  if (!jobs.ok()) {
    Log()->error("jobs not read from the store error=\"{}\"", std::string(jobs.status().message()));
    return;
  }
  if (now < storage_retry_at_) {
    // Paused for the storage: every runnable job says why it does not move.
    for (const JobRecord& job : *jobs) {
      if (job.state == JobState::kApproved || job.state == JobState::kRunning) {
        waiting_[job.job_id] = storage_error_;
      }
    }
    return;
  }
  if (absl::Status recorded = RecordPendingAborts(); !recorded.ok()) {
    PauseForStorage(recorded, now);
    return;
  }
  // Oldest first: ListJobs is newest first.
  for (auto it = jobs->rbegin(); it != jobs->rend(); ++it) {
    if (it->state != JobState::kApproved && it->state != JobState::kRunning) continue;
    if (TryStartRound(*it, now)) return;
  }
}

bool JobRunner::TryStartRound(const JobRecord& job, absl::Time now) {
  auto started = StartRound(job, now);
  if (!started.ok()) {
    if (IsStorageUnavailable(started.status())) {
      // Not the job's fault: it waits, and no other job starts either.
      PauseForStorage(started.status(), now);
      return true;
    }
    FailJob(job.job_id, std::string(started.status().message()), now);
    return false;
  }
  if (storage_backoff_ > absl::ZeroDuration()) {
    Log()->info("storage writable again; rounds are scheduled again");
    storage_backoff_ = absl::ZeroDuration();
    storage_error_.clear();
  }
  return *started;
}

void JobRunner::PauseForStorage(const absl::Status& error, absl::Time now) {
  const std::string reason = absl::StrCat(
      "paused: the coordinator cannot write its state (", error.message(),
      "); rounds resume by themselves once its storage takes writes again");
  if (reason != storage_error_) {
    Log()->error("rounds paused: storage not writable error=\"{}\"", std::string(error.message()));
  }
  storage_error_ = reason;
  storage_backoff_ = storage_backoff_ == absl::ZeroDuration()
                         ? kStorageRetryFirst
                         : std::min(2 * storage_backoff_, kStorageRetryMax);
  storage_retry_at_ = now + storage_backoff_;
  for (auto& [job_id, waiting] : waiting_) waiting = reason;
  if (active_ != nullptr) waiting_[active_->job.job_id] = reason;
}

absl::Status JobRunner::RecordPendingAborts() {
  while (!pending_aborts_.empty()) {
    const auto& [record, audit] = pending_aborts_.front();
    absl::Status recorded = store_.RecordAbortedAttempt(record, audit);
    if (!recorded.ok() && IsStorageUnavailable(recorded)) return recorded;
    if (!recorded.ok()) {
      Log()->error("aborted attempt not recorded job={} round={} attempt={} error=\"{}\"",
                   record.job_id, record.round, record.attempt, std::string(recorded.message()));
    } else {
      Log()->info("aborted attempt recorded late job={} round={} attempt={}", record.job_id,
                  record.round, record.attempt);
    }
    pending_aborts_.erase(pending_aborts_.begin());
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> JobRunner::StartRound(const JobRecord& job, absl::Time now) {
  TESSERA_ASSIGN_OR_RETURN(JobSpec spec, JobSpecFromJson(job.spec_json));
  const bool needs_statistics =
      !agent::data::NumericFeatureNames(spec.schema).empty() && job.standardization_json.empty();
  if (!needs_statistics && job.rounds_completed >= spec.rounds) {
    TESSERA_RETURN_IF_ERROR(store_.SetJobState(
        job.job_id, JobState::kCompleted, "",
        CoordinatorEvent(now, "job.completed", job.job_id, {{"rounds", job.rounds_completed}})));
    waiting_.erase(job.job_id);
    Log()->info("job completed job={} rounds={}", job.job_id, job.rounds_completed);
    return false;
  }
  const uint32_t round = needs_statistics ? 0 : static_cast<uint32_t>(job.rounds_completed + 1);

  // Eligible: connected, not revoked, offering the job's dataset, able to
  // do what the job needs.
  const std::vector<std::string> required = RequiredCapabilities(spec);
  std::vector<std::string> eligible;
  std::vector<std::string> incapable;  // "site (lacks x, y)"
  std::map<std::string, uint64_t> buckets;
  for (const SiteState& site : registry_.List()) {
    if (!site.connected) continue;
    if (revocations_.RevokedAt(site.report.certificate_serial).has_value()) continue;
    for (const DatasetSummary& dataset : site.report.datasets) {
      if (dataset.name != spec.dataset) continue;
      const std::vector<std::string> missing =
          MissingCapabilities(required, site.report.capabilities);
      if (!missing.empty()) {
        incapable.push_back(
            absl::StrCat(site.site_id, " (agent ", site.report.agent_version.empty()
                                                       ? std::string("of unknown version")
                                                       : site.report.agent_version,
                         " lacks ", absl::StrJoin(missing, ", "), ")"));
        continue;
      }
      eligible.push_back(site.site_id);
      buckets[site.site_id] = dataset.record_count_bucket;
    }
  }
  // Governance's budgets: a site whose remaining budget cannot cover this
  // round is passed over (the statistics round releases no model update).
  std::map<std::string, ParticipantRecord> over_budget;
  if (!needs_statistics) {
    TESSERA_ASSIGN_OR_RETURN(over_budget, OverBudget(spec, job.dimension, buckets));
    eligible.erase(std::remove_if(eligible.begin(), eligible.end(),
                                  [&](const std::string& site) { return over_budget.count(site); }),
                   eligible.end());
  }
  if (static_cast<int64_t>(eligible.size()) < spec.min_sites) {
    std::string reason = absl::StrCat("waiting for sites: ", eligible.size(),
                                      " connected site(s) offer dataset `", spec.dataset,
                                      "`", over_budget.empty() ? "" : " within their privacy budget",
                                      "; the job needs at least ", spec.min_sites);
    if (!incapable.empty()) {
      absl::StrAppend(&reason, "; passed over until their agent is upgraded: ",
                      absl::StrJoin(incapable, "; "));
    }
    if (!over_budget.empty()) {
      std::vector<std::string> why;
      for (const auto& [site, record] : over_budget) why.push_back(record.detail);
      absl::StrAppend(&reason, "; passed over for their privacy budget: ", absl::StrJoin(why, "; "));
    }
    if (waiting_[job.job_id] != reason) Log()->info("job waiting job={} reason=\"{}\"", job.job_id, reason);
    waiting_[job.job_id] = std::move(reason);
    return false;
  }
  waiting_.erase(job.job_id);

  // Attempts a stop or crash of the coordinator cut short are recorded as
  // aborted, and count against max_attempts like any other: a round that
  // brings the coordinator down every time must not do so for ever.
  TESSERA_ASSIGN_OR_RETURN(std::vector<RoundRecord> interrupted,
                           store_.InterruptedAttempts(job.job_id));
  for (RoundRecord& record : interrupted) {
    if (record.round != round) continue;
    record.outcome = "aborted";
    record.reason = "the coordinator stopped during this attempt";
    record.finished_at = now;
    record.metrics_json = "{}";
    TESSERA_RETURN_IF_ERROR(store_.RecordAbortedAttempt(
        record, CoordinatorEvent(now, "round.aborted", job.job_id,
                                 {{"round", record.round},
                                  {"attempt", record.attempt},
                                  {"reason", record.reason}})));
    Log()->warn("interrupted attempt recorded job={} round={} attempt={}", job.job_id,
                record.round, record.attempt);
  }
  TESSERA_ASSIGN_OR_RETURN(std::vector<RoundRecord> history, store_.ListRounds(job.job_id));
  int64_t failed = 0;
  std::string last_reason;
  for (const RoundRecord& record : history) {
    // An attempt lost because its result could not be stored says nothing
    // about the round.
    if (record.round == round && record.outcome == "aborted" &&
        !absl::StartsWith(record.reason, kStorageAbortReason)) {
      ++failed;
      last_reason = record.reason;
    }
  }
  if (failed >= spec.max_attempts) {
    return absl::AbortedError(absl::StrCat("round ", round, " failed ", spec.max_attempts,
                                           " times; the last attempt: ", last_reason));
  }

  if (job.state == JobState::kApproved) {
    TESSERA_RETURN_IF_ERROR(store_.SetJobState(
        job.job_id, JobState::kRunning, "",
        CoordinatorEvent(now, "job.started", job.job_id, nlohmann::json::object())));
  }

  auto active = std::make_unique<ActiveRound>();
  active->job = job;
  active->spec = spec;
  active->kind = needs_statistics ? tessera::v1::ROUND_KIND_STATISTICS
                                  : tessera::v1::ROUND_KIND_TRAINING;
  active->round = round;

  // A random subset of at most max_sites, drawn from the OS generator.
  std::array<uint8_t, 32> seed{};
  TESSERA_RETURN_IF_ERROR(crypto::RandomBytes(absl::MakeSpan(seed)));
  std::seed_seq shuffle_seed(seed.begin(), seed.end());
  std::mt19937_64 shuffle(shuffle_seed);
  std::shuffle(eligible.begin(), eligible.end(), shuffle);
  if (static_cast<int64_t>(eligible.size()) > spec.max_sites) {
    eligible.resize(static_cast<size_t>(spec.max_sites));
  }
  std::sort(eligible.begin(), eligible.end());
  active->participants = eligible;
  for (const std::string& site : eligible) active->record_buckets[site] = buckets[site];
  active->excluded = std::move(over_budget);
  // The round's writes that may fail for want of space (the global
  // parameters served to the sites) come before the attempt is reserved,
  // so that a full disk leaves no attempt behind that never ran.
  std::string parameters_sha;
  if (!needs_statistics) {
    TESSERA_ASSIGN_OR_RETURN(CheckpointRecord checkpoint, store_.LatestCheckpoint(job.job_id));
    active->checkpoint = std::move(checkpoint);
    // The object store serves the parameters to the sites by hash.
    TESSERA_ASSIGN_OR_RETURN(parameters_sha, objects_.Put(active->checkpoint->parameters));
  }
  // The attempt number is reserved durably before any site hears of it, so
  // it is never reused after a crash.
  TESSERA_ASSIGN_OR_RETURN(int64_t attempt,
                           store_.StartAttempt(job.job_id, round, active->participants, now));
  active->attempt = static_cast<uint32_t>(attempt);
  // Fresh public randomness for this attempt (neighbour graph, rotation).
  TESSERA_RETURN_IF_ERROR(crypto::RandomBytes(absl::MakeSpan(seed)));
  active->seed.assign(seed.begin(), seed.end());

  if (needs_statistics) {
    const auto values =
        static_cast<int64_t>(3 * agent::data::NumericFeatureNames(spec.schema).size());
    TESSERA_ASSIGN_OR_RETURN(AggregateCodec codec, AggregateCodec::ForStatistics(spec, values));
    active->codec = std::move(codec);
  } else {
    TESSERA_ASSIGN_OR_RETURN(strategy::AggregateLayout layout,
                             TrainingLayout(spec, job.dimension));
    TESSERA_ASSIGN_OR_RETURN(AggregateCodec codec, AggregateCodec::ForTraining(spec, layout));
    active->layout = std::move(layout);
    active->codec = std::move(codec);
  }

  const secagg::RoundParameters parameters =
      SecAggParameters(spec, job.job_id, round, active->attempt, active->participants,
                       active->seed, active->codec->word_count());
  TESSERA_ASSIGN_OR_RETURN(
      active->secure,
      SecureRound::Create({parameters, authenticator_, now}, spec.stage_timeout, now));
  active->started = now;
  active->stage_started = now;

  // The task, the same for every participant.
  tessera::v1::GetWorkResponse work;
  tessera::v1::Task& task = *work.mutable_task();
  *task.mutable_round() = RefOf(job.job_id, round, active->attempt, tessera::v1::STAGE_TRAIN);
  task.set_kind(active->kind);
  task.set_dataset(spec.dataset);
  TESSERA_ASSIGN_OR_RETURN(uint64_t model_size, objects_.Size(job.model_sha256));
  task.mutable_model()->set_sha256_hex(job.model_sha256);
  task.mutable_model()->set_size_bytes(model_size);
  if (active->checkpoint.has_value()) {
    task.mutable_global_parameters()->set_sha256_hex(parameters_sha);
    task.mutable_global_parameters()->set_size_bytes(active->checkpoint->parameters.size());
  }
  task.set_job_json(job.spec_json);
  for (const std::string& site : active->participants) task.add_participants(site);
  task.set_round_seed(active->seed);
  task.set_stage_deadline_unix_ms(absl::ToUnixMillis(active->secure->stage_deadline()));
  task.set_standardization_json(job.standardization_json);
  for (const std::string& site : active->participants) mailboxes_.Post(site, work);

  Log()->info("round started job={} round={} attempt={} kind={} sites={} vector_words={}",
              job.job_id, round, active->attempt, needs_statistics ? "statistics" : "training",
              absl::StrJoin(active->participants, ","), parameters.vector_length);
  active_ = std::move(active);
  return true;
}

void JobRunner::PostStageInputs(const std::vector<StageDelivery>& deliveries) {
  for (const StageDelivery& delivery : deliveries) {
    tessera::v1::GetWorkResponse work;
    tessera::v1::StageInput& input = *work.mutable_stage_input();
    *input.mutable_round() =
        RefOf(active_->job.job_id, active_->round, active_->attempt, ToProtoStage(delivery.stage));
    input.set_payload(delivery.payload.data(), delivery.payload.size());
    input.set_stage_deadline_unix_ms(absl::ToUnixMillis(active_->secure->stage_deadline()));
    mailboxes_.Post(delivery.site_id, std::move(work));
  }
}

void JobRunner::DriveRound(absl::Time now) {
  ActiveRound& active = *active_;
  const SecAggStage before = active.secure->stage();
  auto deliveries = active.secure->Advance(now);
  if (!deliveries.ok()) {
    AbortRound(std::string(deliveries.status().message()), now);
    return;
  }
  const SecAggStage stage = active.secure->stage();
  if (stage != before) {
    active.stage_started = now;
    Log()->info("stage closed job={} round={} attempt={} closed=\"{}\" next=\"{}\"",
                active.job.job_id, active.round, active.attempt, SecAggStageName(before),
                SecAggStageName(stage));
  }
  if (stage == SecAggStage::kAborted) {
    AbortRound(std::string(active.secure->abort_status().message()), now);
    return;
  }
  PostStageInputs(*deliveries);
  if (stage != SecAggStage::kDone) return;
  absl::Status finished = FinishRound(now);
  if (!finished.ok()) {
    if (IsStorageUnavailable(finished)) {
      // Nothing of the round is stored (one transaction); it is run again
      // once the storage takes writes.
      AbortRound(absl::StrCat(kStorageAbortReason, ": ", finished.message()), now);
      PauseForStorage(finished, now);
      return;
    }
    AbortRound(std::string(finished.message()), now);
    return;
  }
  active_.reset();
}

absl::Status JobRunner::FinishRound(absl::Time now) {
  return active_->kind == tessera::v1::ROUND_KIND_STATISTICS ? FinishStatistics(now)
                                                             : FinishTraining(now);
}

RoundRecord JobRunner::RecordOf(const std::string& outcome, const std::string& reason,
                                absl::Time now, const std::vector<std::string>& included) const {
  const ActiveRound& active = *active_;
  RoundRecord record;
  record.job_id = active.job.job_id;
  record.round = active.round;
  record.attempt = active.attempt;
  record.outcome = outcome;
  record.reason = reason;
  record.started_at = active.started;
  record.finished_at = now;
  record.metrics_json = "{}";
  for (const std::string& site : active.participants) {
    ParticipantRecord participant{site, "dropped", ""};
    if (auto it = active.refused.find(site); it != active.refused.end()) {
      participant = it->second;
    } else if (std::find(included.begin(), included.end(), site) != included.end()) {
      participant.status = "included";
    } else if (outcome == "aborted") {
      participant.status = "excluded";
      participant.detail = "the attempt was aborted";
    } else if (auto missed = active.secure->missed().find(site);
               missed != active.secure->missed().end()) {
      // Why the site is not in the sum, for `tessera job show`: it was
      // late, cut off or gone at this stage (what it sent after is refused).
      participant.detail = absl::StrCat("sent no `", SecAggStageName(missed->second),
                                        "` message before the stage deadline");
    }
    record.participants.push_back(std::move(participant));
  }
  for (const auto& [site, participant] : active.excluded) record.participants.push_back(participant);
  return record;
}

absl::StatusOr<std::map<std::string, ParticipantRecord>> JobRunner::OverBudget(
    const JobSpec& spec, int64_t dimension, const std::map<std::string, uint64_t>& buckets) {
  std::map<std::string, ParticipantRecord> over;
  if (spec.privacy_mode == PrivacyMode::kNone) return over;  // approved explicitly; nothing to account
  TESSERA_ASSIGN_OR_RETURN(std::vector<BudgetRecord> budgets, store_.ListBudgets());
  const bool budgeted = std::any_of(budgets.begin(), budgets.end(), [&](const BudgetRecord& b) {
    return b.dataset == spec.dataset && buckets.count(b.site_id) > 0;
  });
  if (!budgeted) return over;
  TESSERA_ASSIGN_OR_RETURN(std::vector<LedgerRecord> ledger, store_.ListLedger(""));
  TESSERA_ASSIGN_OR_RETURN(std::vector<SpendSummary> spend, SummarizeSpend(budgets, ledger, ""));
  for (const SpendSummary& summary : spend) {
    if (summary.dataset != spec.dataset || !summary.budget || buckets.count(summary.site_id) == 0) {
      continue;
    }
    TESSERA_ASSIGN_OR_RETURN(
        privacy::PrivacyLedger round,
        RoundEvents(spec, dimension, RecordsOf(buckets, summary.site_id)));
    TESSERA_ASSIGN_OR_RETURN(BudgetVerdict verdict, CheckBudget(summary, round));
    if (!verdict.allowed) over[summary.site_id] = {summary.site_id, "excluded", verdict.reason};
  }
  return over;
}

absl::Status JobRunner::FinishStatistics(absl::Time now) {
  ActiveRound& active = *active_;
  const secagg::AggregateResult& result = active.secure->result();
  std::vector<double> sums;
  TESSERA_RETURN_IF_ERROR(active.codec->DecodeStatistics(result.sum, &sums));
  Eigen::VectorXd aggregated = Eigen::Map<const Eigen::VectorXd>(
      sums.data(), static_cast<Eigen::Index>(sums.size()));
  TESSERA_ASSIGN_OR_RETURN(agent::data::Standardization standardization,
                           agent::data::StandardizationFromSums(active.spec.schema, aggregated));
  const nlohmann::json json = {{"columns", standardization.columns},
                               {"mean", standardization.mean},
                               {"stddev", standardization.stddev}};
  RoundRecord record = RecordOf("completed", "", now, result.included_sites);
  record.metrics_json =
      nlohmann::json{{"sites", result.included_sites.size()}}.dump();
  TESSERA_RETURN_IF_ERROR(store_.CommitStatistics(
      record, json.dump(),
      CoordinatorEvent(now, "round.completed", active.job.job_id,
                       {{"round", 0}, {"attempt", active.attempt}, {"kind", "statistics"},
                        {"sites", result.included_sites}})));
  Log()->info("statistics round completed job={} attempt={} sites={}", active.job.job_id,
              active.attempt, result.included_sites.size());
  return absl::OkStatus();
}

absl::Status JobRunner::FinishTraining(absl::Time now) {
  ActiveRound& active = *active_;
  const JobSpec& spec = active.spec;
  const secagg::AggregateResult& result = active.secure->result();
  const auto sites = static_cast<int64_t>(result.included_sites.size());

  std::vector<float> values;
  TESSERA_RETURN_IF_ERROR(
      active.codec->Decode(result.sum, RotationSeed(active.seed), &values));
  const strategy::AggregateLayout& layout = *active.layout;
  TESSERA_ASSIGN_OR_RETURN(strategy::AggregatedUpdate update,
                           strategy::ReadAggregatedUpdate(layout, values, sites));

  TESSERA_ASSIGN_OR_RETURN(strategy::ServerOptimizer optimizer,
                           strategy::ServerOptimizer::Create(spec.strategy, active.job.dimension));
  if (!active.checkpoint->optimizer_state.empty()) {
    TESSERA_RETURN_IF_ERROR(optimizer.RestoreState(active.checkpoint->optimizer_state));
  }
  TESSERA_ASSIGN_OR_RETURN(Eigen::VectorXf global,
                           ParametersFromBytes(active.checkpoint->parameters, active.job.dimension));
  TESSERA_ASSIGN_OR_RETURN(ModelSpec flat_spec,
                           ModelSpec::Create({{"parameters", {active.job.dimension}}}));
  TESSERA_ASSIGN_OR_RETURN(FlatParams start, FlatParams::FromValues(flat_spec, std::move(global)));
  TESSERA_ASSIGN_OR_RETURN(FlatParams next, optimizer.Step(start, update));

  // Federation-wide metrics of the global model the round started from, on
  // every site's hold-out split.
  nlohmann::json metrics = {{"sites", sites}};
  TESSERA_ASSIGN_OR_RETURN(float count, layout.ReadSlot(values, strategy::kEvalCountSlot));
  TESSERA_ASSIGN_OR_RETURN(float loss_sum, layout.ReadSlot(values, strategy::kEvalLossSumSlot));
  TESSERA_ASSIGN_OR_RETURN(float correct, layout.ReadSlot(values, strategy::kEvalCorrectSlot));
  metrics["examples"] = std::llround(count);
  if (count > 0.5f) {
    metrics["loss"] = loss_sum / count;
    if (spec.schema.label.type == agent::data::ColumnType::kBinary) metrics["accuracy"] = correct / count;
  }
  if (layout.Has(strategy::kEvalHistogramPositiveBlock)) {
    TESSERA_ASSIGN_OR_RETURN(auto positives,
                             layout.ReadBlock(values, strategy::kEvalHistogramPositiveBlock));
    TESSERA_ASSIGN_OR_RETURN(auto negatives,
                             layout.ReadBlock(values, strategy::kEvalHistogramNegativeBlock));
    std::vector<int64_t> pos, neg;
    for (float v : positives) pos.push_back(std::max<int64_t>(0, std::llround(v)));
    for (float v : negatives) neg.push_back(std::max<int64_t>(0, std::llround(v)));
    auto auc = model::RocAucFromHistograms(neg, pos);
    if (auc.ok()) metrics["auc"] = *auc;
  }

  RoundCommit commit;
  commit.round = RecordOf("completed", "", now, result.included_sites);
  commit.round.metrics_json = metrics.dump();
  commit.checkpoint.job_id = active.job.job_id;
  commit.checkpoint.round = active.round;
  commit.checkpoint.parameters = ParameterBytes(next.values());
  commit.checkpoint.parameters_sha256 =
      crypto::Sha256Hex(commit.checkpoint.parameters);
  commit.checkpoint.optimizer_state = optimizer.SerializeState();
  commit.checkpoint.created_at = now;
  // What each included site released, for the central ledger. Site-level
  // DP is the same event for every site; record-level depends on the site's
  // record count, which the coordinator knows only as a coarse bucket (the
  // site's own ledger and receipt carry the exact values).
  std::map<int64_t, nlohmann::json> events_by_bucket;
  for (const std::string& site : result.included_sites) {
    const int64_t records = RecordsOf(active.record_buckets, site);
    auto known = events_by_bucket.find(records);
    if (known == events_by_bucket.end()) {
      // An estimate that cannot be made is recorded as such (null): the
      // round itself, and the site's own ledger, stand.
      auto events = RoundEvents(spec, active.job.dimension, records);
      known = events_by_bucket
                  .emplace(records, events.ok() ? nlohmann::json::parse(agent::EventsToJson(*events))
                                                : nlohmann::json(nullptr))
                  .first;
    }
    nlohmann::json event = {{"mode", std::string(PrivacyModeName(spec.privacy_mode))},
                            {"events", known->second}};
    if (spec.privacy_mode == PrivacyMode::kRecord) {
      event["estimated_from_record_count_bucket"] = records;
    }
    LedgerRecord entry;
    entry.job_id = active.job.job_id;
    entry.round = active.round;
    entry.site_id = site;
    entry.dataset = spec.dataset;
    entry.recorded_at = now;
    entry.event_json = event.dump();
    commit.ledger.push_back(std::move(entry));
  }
  commit.audit = CoordinatorEvent(now, "round.completed", active.job.job_id,
                                  {{"round", active.round},
                                   {"attempt", active.attempt},
                                   {"sites", result.included_sites},
                                   {"parameters_sha256", commit.checkpoint.parameters_sha256}});
  commit.keep_checkpoints = options_.keep_checkpoints;
  TESSERA_RETURN_IF_ERROR(store_.CommitRound(commit));
  Log()->info("round completed job={} round={} attempt={} sites={} metrics={}", active.job.job_id,
              active.round, active.attempt, sites, metrics.dump());
  return absl::OkStatus();
}

void JobRunner::AbortRound(const std::string& reason, absl::Time now) {
  ActiveRound& active = *active_;
  Log()->warn("round aborted job={} round={} attempt={} reason=\"{}\"", active.job.job_id,
              active.round, active.attempt, reason);
  RoundRecord record = RecordOf("aborted", reason, now, {});
  AuditEvent audit =
      CoordinatorEvent(now, "round.aborted", active.job.job_id,
                       {{"round", active.round}, {"attempt", active.attempt}, {"reason", reason}});
  absl::Status recorded = store_.RecordAbortedAttempt(record, audit);
  if (!recorded.ok() && IsStorageUnavailable(recorded)) {
    // Recorded with its reason once the storage takes writes (before the
    // next attempt starts), rather than later taken for a crash.
    Log()->error("aborted attempt to be recorded later job={} error=\"{}\"", active.job.job_id,
                 std::string(recorded.message()));
    pending_aborts_.emplace_back(std::move(record), std::move(audit));
  } else if (!recorded.ok()) {
    Log()->error("aborted attempt not recorded job={} error=\"{}\"", active.job.job_id,
                 std::string(recorded.message()));
  }
  tessera::v1::GetWorkResponse work;
  *work.mutable_aborted()->mutable_round() =
      RefOf(active.job.job_id, active.round, active.attempt, tessera::v1::STAGE_UNSPECIFIED);
  work.mutable_aborted()->set_reason(reason);
  for (const std::string& site : active.participants) mailboxes_.Post(site, work);
  active_.reset();
}

void JobRunner::FailJob(const std::string& job_id, const std::string& reason, absl::Time now) {
  Log()->error("job failed job={} reason=\"{}\"", job_id, reason);
  waiting_.erase(job_id);
  absl::Status status = store_.SetJobState(
      job_id, JobState::kFailed, reason,
      CoordinatorEvent(now, "job.failed", job_id, {{"reason", reason}}));
  if (!status.ok()) {
    Log()->error("job state not recorded job={} error=\"{}\"", job_id,
                 std::string(status.message()));
  }
}

absl::StatusOr<bool> JobRunner::Submit(const std::string& site,
                                       const tessera::v1::StageSubmission& submission,
                                       absl::string_view payload) {
  absl::MutexLock lock(&mutex_);
  const tessera::v1::RoundRef& ref = submission.round();
  if (active_ == nullptr || ref.job_id() != active_->job.job_id ||
      ref.round() != active_->round || ref.attempt() != active_->attempt) {
    return absl::FailedPreconditionError(absl::StrCat(
        DescribeRound(ref.job_id(), ref.round(), ref.attempt()), " is not in progress"));
  }
  ActiveRound& active = *active_;
  if (std::find(active.participants.begin(), active.participants.end(), site) ==
      active.participants.end()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "`", site, "` is not a participant of ",
        DescribeRound(ref.job_id(), ref.round(), ref.attempt())));
  }
  if (submission.has_refusal()) {
    const bool duplicate = active.refused.count(site) > 0;
    active.refused[site] = {site, "refused", submission.refusal().message()};
    active.secure->Drop(site);
    wake_ = true;
    if (!duplicate) {
      Log()->warn("task refused job={} round={} site={} reason=\"{}\"", active.job.job_id,
                  active.round, site, submission.refusal().message());
      absl::Status audited = store_.AppendAudit(
          {clock_.Now(), site, "site", "task.refused", active.job.job_id,
           nlohmann::json{{"round", active.round},
                          {"attempt", active.attempt},
                          {"reason", tessera::v1::Refusal::Reason_Name(submission.refusal().reason())},
                          {"message", submission.refusal().message()}}
               .dump()})
                                .status();
      if (!audited.ok()) {
        Log()->error("refusal not audited error=\"{}\"", std::string(audited.message()));
      }
    }
    return duplicate;
  }
  std::optional<SecAggStage> stage = FromProtoStage(ref.stage());
  if (!stage.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a submission must name a secure-aggregation stage, not ",
                     tessera::v1::Stage_Name(ref.stage())));
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(payload.data());
  TESSERA_ASSIGN_OR_RETURN(SecureRound::SubmitResult result,
                           active.secure->Submit(site, *stage, crypto::ByteSpan(bytes, payload.size())));
  wake_ = true;
  return result.duplicate;
}

std::optional<tessera::v1::JobProgress> JobRunner::Progress(const std::string& job_id) const {
  absl::MutexLock lock(&mutex_);
  if (active_ == nullptr || active_->job.job_id != job_id) return std::nullopt;
  const ActiveRound& active = *active_;
  tessera::v1::JobProgress progress;
  progress.set_round(active.round);
  progress.set_attempt(active.attempt);
  progress.set_kind(active.kind);
  progress.set_stage(ToProtoStage(active.secure->stage()));
  progress.set_stage_name(SecAggStageName(active.secure->stage()));
  progress.set_sites_selected(static_cast<uint32_t>(active.participants.size()));
  const std::vector<std::string> pending = active.secure->PendingSites();
  for (const std::string& site : pending) {
    if (active.refused.count(site) == 0) progress.add_waiting_for(site);
  }
  progress.set_sites_reported(static_cast<uint32_t>(active.secure->accepted_count()));
  progress.set_sites_needed(static_cast<uint32_t>(active.spec.secagg_threshold));
  progress.set_stage_started_unix_ms(absl::ToUnixMillis(active.stage_started));
  progress.set_stage_deadline_unix_ms(absl::ToUnixMillis(active.secure->stage_deadline()));
  return progress;
}

std::string JobRunner::WaitingReason(const std::string& job_id) const {
  absl::MutexLock lock(&mutex_);
  auto it = waiting_.find(job_id);
  return it == waiting_.end() ? "" : it->second;
}

absl::Status JobRunner::StopJob(const std::string& job_id, const std::string& reason,
                                const AuditEvent& audit) {
  absl::MutexLock lock(&mutex_);
  TESSERA_RETURN_IF_ERROR(store_.SetJobState(job_id, JobState::kStopped, reason, audit));
  waiting_.erase(job_id);
  if (active_ != nullptr && active_->job.job_id == job_id) {
    AbortRound(absl::StrCat("the job was stopped: ", reason), clock_.Now());
  }
  return absl::OkStatus();
}

}  // namespace tessera::coordinator
