// The coordinator's durable state in one SQLite database
// (<storage.dir>/coordinator.db, WAL mode, foreign keys on):
//
//   sites               every site enrolled or seen: certificate serial and
//                       expiry, when it was enrolled, when it was last heard from
//   audit_log           security- and governance-relevant events; each entry
//                       carries the SHA-256 of the previous one, so an altered,
//                       deleted or re-ordered entry breaks the chain
//                       (VerifyAuditChain)
//   jobs                submitted jobs: canonical spec and its hash, model and
//                       initial-parameter hashes, state, rounds completed, the
//                       statistics round's standardisation
//   approvals           every governance decision on a job (approve or reject),
//                       tied to the spec hash the board looked at
//   rounds              one row per attempt of a round (0 = statistics round),
//                       completed or aborted, with federation-wide metrics
//   round_participants  each site of an attempt: included, dropped, refused,
//                       excluded, and why
//   checkpoints         global parameters (and server optimiser state) after a
//                       round, with their SHA-256; round 0 is the initial model
//   ledger              the central privacy ledger: what each included site
//                       released in each training round
//   attempts            every attempt as it starts (before any site hears of
//                       it): attempt numbers are never reused, and an attempt
//                       that a crash cut short is found after a restart
//   budgets             governance's privacy budget per trust and dataset
//   receipts            the receipts sites signed for their rounds
//   audit_heads         audit-chain heads signed with the coordinator's key
//
// Schema version 1 held sites and audit_log; version 2 jobs to ledger;
// version 3 adds attempts; version 4 budgets, receipts and audit_heads.
// Open() migrates older files forward.
//
// Every method that changes jobs, rounds, checkpoints or the ledger does all
// its writes, and appends its audit event, in one SQLite transaction: either
// all of it is durable or none of it is (a crash never leaves a round without
// its audit entry or a checkpoint without its ledger rows).
//
// Thread-safety: all methods are thread-safe (one mutex around the
// connection; SQLite work here is short).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/sqlite.h"
#include "coordinator/audit_chain.h"  // AuditEvent, AuditEntry, AuditHeadRecord, AuditHash

namespace tessera::coordinator {

struct SiteRecord {
  std::string site_id;
  std::string certificate_serial;
  absl::Time certificate_expires;
  std::optional<absl::Time> enrolled_at;  // set when an operator registered it
  std::string enrolled_by;
  std::optional<absl::Time> last_seen;  // last time its heartbeat was recorded
};

// The result of walking the audit chain.
struct AuditCheck {
  int64_t entries = 0;
  std::string head_hash;             // hash of the last entry
  std::optional<int64_t> first_bad;  // sequence of the first entry that does not verify
  std::string problem;               // what is wrong with it
};

// A job's life: pending approval -> approved or rejected (RecordDecision);
// approved -> running -> completed; stopped or failed from any non-terminal
// state. Completed, stopped, failed and rejected are terminal.
enum class JobState {
  kPendingApproval,
  kApproved,
  kRunning,
  kCompleted,
  kStopped,
  kFailed,
  kRejected
};

// The state for people: "pending approval", "approved", "running",
// "completed", "stopped", "failed", "rejected".
absl::string_view JobStateName(JobState state);

struct NewJob {
  std::string job_id;  // caller-chosen, unique ("job-" + 12 hex)
  std::string name;
  std::string spec_json;                  // canonical JSON of the job (job_spec.h CanonicalJson)
  std::string spec_sha256;                // hex SHA-256 of spec_json (checked by the store)
  std::string model_sha256;               // object-store hex of the model file (TorchScript)
  std::string initial_parameters_sha256;  // object-store hex of the initial flat parameters
  int64_t dimension = 0;                  // number of model parameters
  std::string submitted_by;               // certificate identity
  absl::Time submitted_at;
};

struct ApprovalRecord {
  std::string approver;  // certificate identity of the governance member
  absl::Time decided_at;
  bool approved = false;           // false: rejected
  std::string reason;              // required for a rejection
  std::string spec_sha256;         // the spec the decision was about
  bool allow_non_private = false;  // explicit flag for privacy mode "none"
};

struct JobRecord {
  std::string job_id, name, spec_json, spec_sha256, model_sha256, initial_parameters_sha256;
  int64_t dimension = 0;
  std::string submitted_by;
  absl::Time submitted_at;
  JobState state = JobState::kPendingApproval;
  std::string state_reason;                // why it stopped / failed / was rejected, or what
                                           // it waits for
  std::optional<ApprovalRecord> decision;  // the latest approval or rejection
  int64_t rounds_completed = 0;            // highest committed training round (0: none)
  std::string standardization_json;        // set by CommitStatistics; empty before
  absl::Time updated_at;
};

struct ParticipantRecord {
  std::string site_id;
  std::string status;  // "included", "dropped", "refused", "excluded"
  std::string detail;  // e.g. the refusal reason or the stage it dropped in
};

struct RoundRecord {
  std::string job_id;
  int64_t round = 0;    // 0 = the statistics round, 1.. training rounds
  int64_t attempt = 1;  // 1.., unique within (job, round)
  std::string outcome;  // "completed" or "aborted"
  std::string reason;   // for aborted attempts
  absl::Time started_at, finished_at;
  std::vector<ParticipantRecord> participants;
  std::string metrics_json;  // federation-wide metrics (JSON object), may be "{}"
};

struct CheckpointRecord {
  std::string job_id;
  int64_t round = 0;
  std::string parameters;         // little-endian float32 bytes (4 * the job's dimension)
  std::string parameters_sha256;  // hex; the store recomputes and checks it
  std::string optimizer_state;    // ServerOptimizer::SerializeState bytes (may be empty)
  absl::Time created_at;
};

// The coordinator's central privacy ledger (each agent keeps its own too).
struct LedgerRecord {
  std::string job_id;
  int64_t round = 0;
  std::string site_id;
  std::string dataset;
  std::string event_json;  // the privacy event(s) of this round for this site, JSON
  absl::Time recorded_at;
};

// A governance board's privacy budget for one trust's dataset.
struct BudgetRecord {
  std::string site_id;
  std::string dataset;
  double epsilon = 0;  // >= 0
  double delta = 0;    // in (0, 1)
  std::string set_by;
  absl::Time set_at;
  std::string reason;
};

// A site's signed receipt for one attempt, as received (see
// tessera.v1.SignedReceipt); the store keeps the bytes, the report checks
// them.
struct ReceiptRecord {
  std::string job_id;
  int64_t round = 0;
  int64_t attempt = 1;
  std::string site_id;
  std::string receipt;    // serialized RoundReceipt
  std::string signature;
  std::string certificate_pem;
  absl::Time received_at;
};

struct RoundCommit {
  RoundRecord round;                 // outcome must be "completed"
  CheckpointRecord checkpoint;       // round == round.round
  std::vector<LedgerRecord> ledger;  // one per included site
  AuditEvent audit;
  int64_t keep_checkpoints = 0;  // 0: keep all; N: delete this job's checkpoints older than
                                 // the newest N (never round 0's initial one)
};

class Store {
 public:
  // Opens or creates the database; see Database::Open for the errors.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);

  // Opens an existing database read-only and never migrates it (for
  // `tessera-coordinator check`, which may run beside the service).
  // FAILED_PRECONDITION when it needs upgrading, is newer than this Tessera
  // or is not a coordinator database; see Database::Open for the others.
  static absl::StatusOr<std::unique_ptr<Store>> OpenReadOnly(const std::string& path);

  // Registers `site_id` as enrolled by `operator_id` with the given
  // certificate (re-enrolment replaces the certificate details).
  absl::Status RecordEnrolment(const std::string& site_id, const std::string& serial,
                               absl::Time expires, const std::string& operator_id, absl::Time now);

  // Records that `site_id` was heard from with this certificate.
  absl::Status RecordSeen(const std::string& site_id, const std::string& serial, absl::Time expires,
                          absl::Time now);

  // Every known site, sorted by id.
  absl::StatusOr<std::vector<SiteRecord>> ListSites();

  // Appends to the audit chain and returns the new entry.
  absl::StatusOr<AuditEntry> AppendAudit(const AuditEvent& event);

  // Audit entries with sequence > `after` and a time at or after `since`,
  // oldest first, at most `limit`.
  absl::StatusOr<std::vector<AuditEntry>> ReadAudit(int64_t after, int64_t limit,
                                                    absl::Time since = absl::InfinitePast());

  // The last audit entry (the chain's head), or nullopt when the log is
  // empty.
  absl::StatusOr<std::optional<AuditEntry>> LatestAudit();

  // Walks the whole chain: every entry's hash must match its contents and
  // the previous entry's hash, and sequences must have no gaps.
  absl::StatusOr<AuditCheck> VerifyAuditChain();

  // ---------------------------------------------------------------- Jobs
  //
  // Every mutating method below takes the audit event to append; it is
  // appended in the same transaction as the change, and only if the change
  // is made. A job's updated_at becomes the audit event's time.

  // Stores a new job in state "pending approval". Errors:
  //   INVALID_ARGUMENT  an empty id, name or submitter; dimension <= 0;
  //                     spec_sha256 is not the SHA-256 of spec_json; a model
  //                     or parameter hash that is not 64 lower-case hex digits;
  //   ALREADY_EXISTS    the job id is taken (nothing changes).
  absl::Status CreateJob(const NewJob& job, const AuditEvent& audit);

  // Stores the job's initial parameters as its round-0 checkpoint (no audit
  // entry: CreateJob's covers the job's inputs). Errors:
  //   INVALID_ARGUMENT  round is not 0; the bytes do not hash to
  //                     parameters_sha256, or not to the job's
  //                     initial_parameters_sha256; their size is not 4 * the
  //                     job's dimension;
  //   NOT_FOUND         no such job;
  //   ALREADY_EXISTS    the job already has its initial checkpoint.
  absl::Status SaveInitialCheckpoint(const CheckpointRecord& checkpoint);

  // The job; NOT_FOUND naming the id.
  absl::StatusOr<JobRecord> GetJob(const std::string& job_id);

  // Every job, newest submission first.
  absl::StatusOr<std::vector<JobRecord>> ListJobs();

  // Records a governance decision and sets the state to approved or
  // rejected (the reason becomes the state reason). Errors:
  //   INVALID_ARGUMENT     no approver, or a rejection without a reason;
  //   NOT_FOUND            no such job;
  //   FAILED_PRECONDITION  the job is not pending approval, or
  //                        decision.spec_sha256 differs from the job's (the
  //                        job changed since the board looked at it).
  // The store does not read the spec: checking that a job in privacy mode
  // "none" carries allow_non_private is the caller's.
  absl::Status RecordDecision(const std::string& job_id, const ApprovalRecord& decision,
                              const AuditEvent& audit);

  // Moves a job to `state` with `reason`. Legal moves: approved -> running;
  // any non-terminal state -> stopped or failed; running -> completed; a
  // non-terminal state to itself (updates the reason). Errors:
  //   INVALID_ARGUMENT     stopped or failed without a reason;
  //   NOT_FOUND            no such job;
  //   FAILED_PRECONDITION  any other move: terminal states (completed,
  //                        stopped, failed, rejected) never change, pending
  //                        approval -> running is refused, and approved or
  //                        rejected are reached only through RecordDecision.
  absl::Status SetJobState(const std::string& job_id, JobState state, const std::string& reason,
                           const AuditEvent& audit);

  // -------------------------------------------------------------- Rounds

  // The statistics round (round 0): stores the completed RoundRecord and
  // the standardisation JSON. Errors:
  //   INVALID_ARGUMENT     round.round != 0, outcome not "completed",
  //                        attempt < 1, empty standardisation, a participant
  //                        status outside the four, a site listed twice;
  //   NOT_FOUND            no such job;
  //   FAILED_PRECONDITION  the job is not running;
  //   ALREADY_EXISTS       the job already has its statistics round, or this
  //                        attempt number is taken (nothing changes).
  absl::Status CommitStatistics(const RoundRecord& round, const std::string& standardization_json,
                                const AuditEvent& audit);

  // One training round in ONE transaction: round record and participants,
  // checkpoint, ledger rows, the job's rounds_completed, the audit entry and
  // checkpoint pruning (keep_checkpoints N > 0 deletes the job's
  // checkpoints of rounds <= round - N, never round 0's). Errors:
  //   INVALID_ARGUMENT     round < 1, outcome not "completed", attempt < 1;
  //                        checkpoint for another job or round, bytes not
  //                        matching parameters_sha256 or not 4 * dimension
  //                        long; ledger rows for another job or round, for a
  //                        site that is not an included participant, twice for
  //                        a site, or missing for an included site; bad
  //                        participants (as CommitStatistics);
  //                        keep_checkpoints < 0;
  //   NOT_FOUND            no such job;
  //   ALREADY_EXISTS       that round is already committed, or this attempt
  //                        number is taken (nothing changes);
  //   FAILED_PRECONDITION  the job is not running, or
  //                        round != rounds_completed + 1.
  absl::Status CommitRound(const RoundCommit& commit);

  // An attempt that failed (outcome "aborted"), with its participants and
  // reason. Errors:
  //   INVALID_ARGUMENT     outcome not "aborted", no reason, round < 0,
  //                        attempt < 1, bad participants;
  //   NOT_FOUND            no such job;
  //   FAILED_PRECONDITION  the job never started (pending approval, approved,
  //                        rejected), or the round is not the one the job is
  //                        at (already committed, or beyond the next);
  //   ALREADY_EXISTS       this attempt number is taken.
  absl::Status RecordAbortedAttempt(const RoundRecord& round, const AuditEvent& audit);

  // Reserves the next attempt number of (job_id, round) — one more than any
  // attempt started or recorded before — and records that it starts now
  // with `participants`, durably, before any site hears of it. Errors:
  //   INVALID_ARGUMENT     round < 0, no participants;
  //   NOT_FOUND            no such job;
  //   FAILED_PRECONDITION  as RecordAbortedAttempt (the job never started
  //                        — approved jobs may start — or the round is not
  //                        the one the job is at).
  absl::StatusOr<int64_t> StartAttempt(const std::string& job_id, int64_t round,
                                       const std::vector<std::string>& participants,
                                       absl::Time started_at);

  // Attempts of the job that were started but never recorded as completed
  // or aborted: the coordinator stopped during them. Outcome "" and every
  // participant "dropped"; ordered by (round, attempt). NOT_FOUND for an
  // unknown job.
  absl::StatusOr<std::vector<RoundRecord>> InterruptedAttempts(const std::string& job_id);

  // Every attempt of the job, ordered by (round, attempt); NOT_FOUND for an
  // unknown job.
  absl::StatusOr<std::vector<RoundRecord>> ListRounds(const std::string& job_id);

  // The checkpoint of `round`; NOT_FOUND when the job or that checkpoint
  // does not exist (or was pruned).
  absl::StatusOr<CheckpointRecord> GetCheckpoint(const std::string& job_id, int64_t round);

  // The job's checkpoint with the highest round; NOT_FOUND when it has none.
  absl::StatusOr<CheckpointRecord> LatestCheckpoint(const std::string& job_id);

  // The ledger of `job_id` ("" = every job), ordered by job, round, site;
  // NOT_FOUND for an unknown job.
  absl::StatusOr<std::vector<LedgerRecord>> ListLedger(const std::string& job_id);

  // ---------------------------------------------------------- Governance

  // Sets (or replaces) the budget of (site_id, dataset), with its audit
  // entry, in one transaction. INVALID_ARGUMENT for an empty site or
  // dataset, epsilon < 0 or not finite, delta outside (0, 1), no set_by.
  absl::Status SetBudget(const BudgetRecord& budget, const AuditEvent& audit);
  // Every budget, ordered by site and dataset.
  absl::StatusOr<std::vector<BudgetRecord>> ListBudgets();

  // Stores a receipt. Returns true when the identical receipt was already
  // stored (a retried submission). INVALID_ARGUMENT for missing fields;
  // NOT_FOUND for an unknown job; ALREADY_EXISTS when a different receipt
  // is stored for the same (job, round, attempt, site).
  absl::StatusOr<bool> AddReceipt(const ReceiptRecord& receipt);
  // The receipts of `job_id` ("" = every job), ordered by job, round,
  // attempt, site; NOT_FOUND for an unknown job.
  absl::StatusOr<std::vector<ReceiptRecord>> ListReceipts(const std::string& job_id);

  // Records a signed audit head. INVALID_ARGUMENT when `head.hash` is not
  // the hash of entry `head.sequence` (or there is no such entry) or the
  // signature is empty; ALREADY_EXISTS for a sequence signed before.
  absl::Status RecordAuditHead(const AuditHeadRecord& head);
  // Signed heads with `after` < sequence <= `up_to`, oldest first.
  absl::StatusOr<std::vector<AuditHeadRecord>> ListAuditHeads(
      int64_t after, int64_t up_to = std::numeric_limits<int64_t>::max());

  Database& database() { return *db_; }

 private:
  explicit Store(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  absl::Mutex mutex_;
  std::unique_ptr<Database> db_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace tessera::coordinator
