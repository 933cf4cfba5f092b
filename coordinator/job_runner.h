// The coordinator's round orchestration: it takes approved jobs from the
// store and runs their rounds, one round at a time across the federation.
//
// For a job it runs, in order:
//   * a statistics round (round 0) when the job has numeric features: sites
//     securely sum their feature counts, sums and sums of squares, and the
//     federation-wide means and standard deviations are stored with the job
//     and sent with every training task;
//   * training rounds 1..R: select eligible connected sites (not revoked,
//     offering the job's dataset, with the capabilities the job needs and
//     — where governance set a budget — enough budget left for the round;
//     coordinator/budgets.h), post each the task (global parameters by
//     hash), relay the secure-aggregation stages through the sites'
//     mailboxes with the job's stage deadline, decode the sum, apply the
//     strategy and commit the round (checkpoint, round record, central
//     ledger, audit entry) in one SQLite transaction.
// An attempt that cannot finish (too few survivors, a failed decode) is
// recorded with its reason and retried with fresh keys, up to the job's
// max_attempts; then the job fails with that reason. A job waiting for
// sites says what it waits for (WaitingReason).
//
// After a restart the runner resumes every running job from its last
// committed round: the round that was in flight is lost and run again as a
// new attempt.
//
// When the coordinator's storage cannot be written (the disk is full:
// RESOURCE_EXHAUSTED, or the database is locked: UNAVAILABLE) the runner
// stops scheduling rounds rather than failing the job: the round that
// could not be committed is aborted (nothing of it is stored: the commit is
// one transaction), every runnable job says why it waits (WaitingReason),
// and the runner tries again with a backoff (kStorageRetryFirst doubling
// up to kStorageRetryMax) until the storage takes writes again. Attempts
// lost that way do not count against the job's max_attempts: they say
// nothing about the round.
//
// Threading: Tick() does the work; Start() runs it on one background thread
// (the round strand) every `tick` and whenever Wake() is called. Submit(),
// Progress(), WaitingReason() and StopJob() are called from gRPC threads;
// every method is thread-safe (one mutex around the round state).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/job/job_spec.h"
#include "coordinator/job/round_plan.h"
#include "coordinator/mailboxes.h"
#include "coordinator/object_store.h"
#include "coordinator/revocations.h"
#include "coordinator/round/secure_round.h"
#include "coordinator/site_registry.h"
#include "coordinator/store.h"
#include "crypto/secagg/authentication.h"
#include "tessera.pb.h"

namespace tessera::coordinator {

struct JobRunnerOptions {
  // Checkpoints kept per job (0: all); the initial one is always kept.
  int64_t keep_checkpoints = 0;
  // How often the round strand looks at deadlines and new jobs.
  absl::Duration tick = absl::Milliseconds(200);
};

class JobRunner {
 public:
  // How long the runner waits before trying the storage again after a
  // write failed for want of space (or a lock), doubling each time.
  static constexpr absl::Duration kStorageRetryFirst = absl::Milliseconds(250);
  static constexpr absl::Duration kStorageRetryMax = absl::Seconds(5);
  // The reason of an attempt aborted because its result could not be
  // stored (followed by the storage's error).
  static constexpr absl::string_view kStorageAbortReason =
      "the coordinator could not store the round's result";

  JobRunner(Store& store, ObjectStore& objects, Mailboxes& mailboxes, SiteRegistry& registry,
            Revocations& revocations,
            std::shared_ptr<const crypto::secagg::PeerAuthenticator> authenticator,
            const Clock& clock, JobRunnerOptions options);
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;
  ~JobRunner();

  // Runs Tick on a background thread until Stop().
  void Start();
  void Stop();
  // Makes the background thread tick now (a submission arrived, a job was
  // approved).
  void Wake();

  // One step at `now`: advances the running round (closing stages whose
  // messages are in or whose deadline passed, finishing or aborting it), or
  // starts the next round of the oldest runnable job. Errors are recorded
  // with the job (and logged), never thrown back.
  void Tick(absl::Time now);

  // `site`'s message for the round in progress. Returns true for a
  // duplicate. FAILED_PRECONDITION when the message names no round in
  // progress (an old round or attempt, or a stage that is over);
  // PERMISSION_DENIED when `site` is not a participant; the secure round's
  // errors (INVALID_ARGUMENT, UNAUTHENTICATED, ...) for a bad payload.
  // `payload` is the inline payload or the bytes of the uploaded object.
  absl::StatusOr<bool> Submit(const std::string& site, const tessera::v1::StageSubmission& submission,
                              absl::string_view payload);

  // The round in progress of `job_id`, if any.
  std::optional<tessera::v1::JobProgress> Progress(const std::string& job_id) const;
  // What a runnable job is waiting for ("" when nothing).
  std::string WaitingReason(const std::string& job_id) const;

  // Stops `job_id` (its round in progress is aborted and its sites told).
  // Errors as Store::SetJobState.
  absl::Status StopJob(const std::string& job_id, const std::string& reason,
                       const AuditEvent& audit);

 private:
  struct ActiveRound;

  void Loop();
  // Starts the next round of `job` when it can; returns false (and records
  // why in waiting_) when it cannot start now.
  bool TryStartRound(const JobRecord& job, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::StatusOr<bool> StartRound(const JobRecord& job, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void DriveRound(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status FinishRound(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status FinishStatistics(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status FinishTraining(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Records the attempt as aborted, tells its sites and clears it.
  void AbortRound(const std::string& reason, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void FailJob(const std::string& job_id, const std::string& reason, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Stops scheduling until `now` + the backoff, with `error` (a storage
  // write that failed) as every runnable job's waiting reason.
  void PauseForStorage(const absl::Status& error, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Records the aborted attempts whose record could not be written when
  // they ended; the first error (nothing more is tried after it).
  absl::Status RecordPendingAborts() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  RoundRecord RecordOf(const std::string& outcome, const std::string& reason, absl::Time now,
                       const std::vector<std::string>& included) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void PostStageInputs(const std::vector<StageDelivery>& deliveries)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The sites among `buckets` (site -> record-count bucket) whose
  // governance budget for the job's dataset cannot cover one more round,
  // each with the reason, recorded as "excluded".
  absl::StatusOr<std::map<std::string, ParticipantRecord>> OverBudget(
      const JobSpec& spec, int64_t dimension, const std::map<std::string, uint64_t>& buckets)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  Store& store_;
  ObjectStore& objects_;
  Mailboxes& mailboxes_;
  SiteRegistry& registry_;
  Revocations& revocations_;
  std::shared_ptr<const crypto::secagg::PeerAuthenticator> authenticator_;
  const Clock& clock_;
  const JobRunnerOptions options_;

  mutable absl::Mutex mutex_;
  std::unique_ptr<ActiveRound> active_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, std::string> waiting_ ABSL_GUARDED_BY(mutex_);
  // Storage pause (see the top of this file): no round starts before
  // storage_retry_at_; storage_backoff_ is the next wait (0: not paused).
  absl::Time storage_retry_at_ ABSL_GUARDED_BY(mutex_) = absl::InfinitePast();
  absl::Duration storage_backoff_ ABSL_GUARDED_BY(mutex_) = absl::ZeroDuration();
  std::string storage_error_ ABSL_GUARDED_BY(mutex_);
  // Aborted attempts (with their audit event) not yet on record.
  std::vector<std::pair<RoundRecord, AuditEvent>> pending_aborts_ ABSL_GUARDED_BY(mutex_);
  bool wake_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

// The proto Stage of a secure-aggregation stage, and back (nullopt for the
// train stage and unknown values).
tessera::v1::Stage ToProtoStage(SecAggStage stage);
std::optional<SecAggStage> FromProtoStage(tessera::v1::Stage stage);

}  // namespace tessera::coordinator
