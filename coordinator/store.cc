#include "coordinator/store.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "coordinator/object_store.h"
#include "crypto/bytes.h"
#include "crypto/sha256.h"

namespace tessera::coordinator {
namespace {

// "TSCO": marks the file as a Tessera coordinator database.
constexpr int32_t kApplicationId = 0x5453434F;

std::vector<Migration> Migrations() {
  return {
      {1, R"sql(
        CREATE TABLE sites (
          site_id TEXT PRIMARY KEY,
          certificate_serial TEXT NOT NULL,
          certificate_expires_ms INTEGER NOT NULL,
          enrolled_at_ms INTEGER,
          enrolled_by TEXT,
          last_seen_ms INTEGER
        );
        CREATE TABLE audit_log (
          sequence INTEGER PRIMARY KEY,
          time_ms INTEGER NOT NULL,
          actor TEXT NOT NULL,
          actor_role TEXT NOT NULL,
          action TEXT NOT NULL,
          subject TEXT NOT NULL,
          details TEXT NOT NULL,
          previous_hash TEXT NOT NULL,
          hash TEXT NOT NULL
        );
      )sql"},
      {2, R"sql(
        CREATE TABLE jobs (
          job_id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          spec_json TEXT NOT NULL,
          spec_sha256 TEXT NOT NULL,
          model_sha256 TEXT NOT NULL,
          initial_parameters_sha256 TEXT NOT NULL,
          dimension INTEGER NOT NULL CHECK (dimension > 0),
          submitted_by TEXT NOT NULL,
          submitted_at_ms INTEGER NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('pending_approval', 'approved', 'running',
                                               'completed', 'stopped', 'failed', 'rejected')),
          state_reason TEXT NOT NULL,
          rounds_completed INTEGER NOT NULL DEFAULT 0 CHECK (rounds_completed >= 0),
          standardization_json TEXT NOT NULL DEFAULT '',
          updated_at_ms INTEGER NOT NULL
        );
        CREATE TABLE approvals (
          job_id TEXT NOT NULL REFERENCES jobs (job_id),
          approver TEXT NOT NULL,
          decided_at_ms INTEGER NOT NULL,
          approved INTEGER NOT NULL CHECK (approved IN (0, 1)),
          reason TEXT NOT NULL,
          spec_sha256 TEXT NOT NULL,
          allow_non_private INTEGER NOT NULL CHECK (allow_non_private IN (0, 1)),
          CHECK (approved = 1 OR reason <> '')
        );
        CREATE INDEX approvals_by_job ON approvals (job_id);
        CREATE TABLE rounds (
          job_id TEXT NOT NULL REFERENCES jobs (job_id),
          round INTEGER NOT NULL CHECK (round >= 0),
          attempt INTEGER NOT NULL CHECK (attempt >= 1),
          outcome TEXT NOT NULL CHECK (outcome IN ('completed', 'aborted')),
          reason TEXT NOT NULL,
          started_at_ms INTEGER NOT NULL,
          finished_at_ms INTEGER NOT NULL,
          metrics_json TEXT NOT NULL,
          PRIMARY KEY (job_id, round, attempt)
        );
        -- A round is completed at most once, whatever the attempt.
        CREATE UNIQUE INDEX rounds_completed_once ON rounds (job_id, round)
          WHERE outcome = 'completed';
        CREATE TABLE round_participants (
          job_id TEXT NOT NULL,
          round INTEGER NOT NULL,
          attempt INTEGER NOT NULL,
          site_id TEXT NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('included', 'dropped', 'refused', 'excluded')),
          detail TEXT NOT NULL,
          PRIMARY KEY (job_id, round, attempt, site_id),
          FOREIGN KEY (job_id, round, attempt) REFERENCES rounds (job_id, round, attempt)
        );
        CREATE TABLE checkpoints (
          job_id TEXT NOT NULL REFERENCES jobs (job_id),
          round INTEGER NOT NULL CHECK (round >= 0),
          parameters BLOB NOT NULL,
          parameters_sha256 TEXT NOT NULL,
          optimizer_state BLOB NOT NULL,
          created_at_ms INTEGER NOT NULL,
          PRIMARY KEY (job_id, round)
        );
        CREATE TABLE ledger (
          job_id TEXT NOT NULL REFERENCES jobs (job_id),
          round INTEGER NOT NULL CHECK (round >= 0),
          site_id TEXT NOT NULL,
          dataset TEXT NOT NULL,
          event_json TEXT NOT NULL,
          recorded_at_ms INTEGER NOT NULL,
          PRIMARY KEY (job_id, round, site_id)
        );
      )sql"},
      {3, R"sql(
        -- Every attempt as it starts, before any site hears of it, so that an
        -- attempt cut short by a crash is never numbered twice and is shown
        -- as interrupted after a restart. `participants` is the selected
        -- sites, one id per line.
        CREATE TABLE attempts (
          job_id TEXT NOT NULL REFERENCES jobs (job_id),
          round INTEGER NOT NULL CHECK (round >= 0),
          attempt INTEGER NOT NULL CHECK (attempt >= 1),
          participants TEXT NOT NULL,
          started_at_ms INTEGER NOT NULL,
          PRIMARY KEY (job_id, round, attempt)
        );
      )sql"},
      {4, R"sql(
        -- Governance: the privacy budget of each trust's dataset (the
        -- current value; every change is in the audit log).
        CREATE TABLE budgets (
          site_id TEXT NOT NULL,
          dataset TEXT NOT NULL,
          epsilon REAL NOT NULL CHECK (epsilon >= 0),
          delta REAL NOT NULL CHECK (delta > 0 AND delta < 1),
          set_by TEXT NOT NULL,
          set_at_ms INTEGER NOT NULL,
          reason TEXT NOT NULL,
          PRIMARY KEY (site_id, dataset)
        );
        -- Receipts signed by the sites, as received (SignedReceipt fields).
        CREATE TABLE receipts (
          job_id TEXT NOT NULL REFERENCES jobs (job_id),
          round INTEGER NOT NULL CHECK (round >= 0),
          attempt INTEGER NOT NULL CHECK (attempt >= 1),
          site_id TEXT NOT NULL,
          receipt BLOB NOT NULL,
          signature BLOB NOT NULL,
          certificate_pem TEXT NOT NULL,
          received_at_ms INTEGER NOT NULL,
          PRIMARY KEY (job_id, round, attempt, site_id)
        );
        -- The audit chain's head as signed by the coordinator's key.
        CREATE TABLE audit_heads (
          sequence INTEGER PRIMARY KEY,
          hash TEXT NOT NULL,
          signed_at_ms INTEGER NOT NULL,
          signature BLOB NOT NULL,
          certificate_pem TEXT NOT NULL
        );
      )sql"},
  };
}

int64_t Ms(absl::Time t) { return absl::ToUnixMillis(t); }

std::optional<absl::Time> OptionalTime(const Statement& stmt, int column) {
  if (stmt.ColumnIsNull(column)) return std::nullopt;
  return absl::FromUnixMillis(stmt.ColumnInt(column));
}

AuditEntry ReadEntry(const Statement& stmt) {
  AuditEntry entry;
  entry.sequence = stmt.ColumnInt(0);
  entry.event.time = absl::FromUnixMillis(stmt.ColumnInt(1));
  entry.event.actor = stmt.ColumnText(2);
  entry.event.actor_role = stmt.ColumnText(3);
  entry.event.action = stmt.ColumnText(4);
  entry.event.subject = stmt.ColumnText(5);
  entry.event.details = stmt.ColumnText(6);
  entry.previous_hash = stmt.ColumnText(7);
  entry.hash = stmt.ColumnText(8);
  return entry;
}

constexpr char kAuditColumns[] =
    "sequence, time_ms, actor, actor_role, action, subject, details, previous_hash, hash";

// SQLite reports any violated constraint as ALREADY_EXISTS (common/sqlite.cc).
// The methods here find every duplicate before they write, so a violation
// that gets this far is a broken invariant (or a file edited behind the
// coordinator's back), never a retry the caller may take as done.
absl::Status RunWrite(Statement& stmt) {
  absl::Status status = stmt.Run();
  if (absl::IsAlreadyExists(status)) {
    return absl::InternalError(absl::StrCat("unexpected constraint violation: ", status.message()));
  }
  return status;
}

// ------------------------------------------------------------------ jobs

struct StateInfo {
  JobState state;
  const char* token;  // as stored in jobs.state
  const char* name;   // for people
};

constexpr StateInfo kStates[] = {
    {JobState::kPendingApproval, "pending_approval", "pending approval"},
    {JobState::kApproved, "approved", "approved"},
    {JobState::kRunning, "running", "running"},
    {JobState::kCompleted, "completed", "completed"},
    {JobState::kStopped, "stopped", "stopped"},
    {JobState::kFailed, "failed", "failed"},
    {JobState::kRejected, "rejected", "rejected"},
};

const StateInfo& Info(JobState state) {
  for (const StateInfo& info : kStates) {
    if (info.state == state) return info;
  }
  std::abort();  // cannot happen: kStates lists every enumerator
}

absl::StatusOr<JobState> StateFromToken(const std::string& token, const std::string& job_id) {
  for (const StateInfo& info : kStates) {
    if (token == info.token) return info.state;
  }
  return absl::DataLossError(absl::StrCat("job `", job_id, "` has an unknown state `", token,
                                          "` in the coordinator database; restore it from backup"));
}

bool IsTerminal(JobState state) {
  return state == JobState::kCompleted || state == JobState::kStopped ||
         state == JobState::kFailed || state == JobState::kRejected;
}

absl::Status JobNotFound(const std::string& job_id) {
  return absl::NotFoundError(
      absl::StrCat("no job `", job_id, "` in the coordinator database; check the job id"));
}

constexpr char kJobColumns[] =
    "job_id, name, spec_json, spec_sha256, model_sha256, initial_parameters_sha256, dimension, "
    "submitted_by, submitted_at_ms, state, state_reason, rounds_completed, standardization_json, "
    "updated_at_ms";

// Reads a row of kJobColumns and the job's latest decision.
absl::StatusOr<JobRecord> ReadJob(Database& db, const Statement& stmt) {
  JobRecord job;
  job.job_id = stmt.ColumnText(0);
  job.name = stmt.ColumnText(1);
  job.spec_json = stmt.ColumnText(2);
  job.spec_sha256 = stmt.ColumnText(3);
  job.model_sha256 = stmt.ColumnText(4);
  job.initial_parameters_sha256 = stmt.ColumnText(5);
  job.dimension = stmt.ColumnInt(6);
  job.submitted_by = stmt.ColumnText(7);
  job.submitted_at = absl::FromUnixMillis(stmt.ColumnInt(8));
  TESSERA_ASSIGN_OR_RETURN(job.state, StateFromToken(stmt.ColumnText(9), job.job_id));
  job.state_reason = stmt.ColumnText(10);
  job.rounds_completed = stmt.ColumnInt(11);
  job.standardization_json = stmt.ColumnText(12);
  job.updated_at = absl::FromUnixMillis(stmt.ColumnInt(13));

  TESSERA_ASSIGN_OR_RETURN(
      Statement decision,
      db.Prepare("SELECT approver, decided_at_ms, approved, reason, spec_sha256, "
                 "allow_non_private FROM approvals WHERE job_id = ? ORDER BY rowid DESC LIMIT 1"));
  decision.Bind(1, job.job_id);
  TESSERA_ASSIGN_OR_RETURN(bool found, decision.Step());
  if (found) {
    ApprovalRecord record;
    record.approver = decision.ColumnText(0);
    record.decided_at = absl::FromUnixMillis(decision.ColumnInt(1));
    record.approved = decision.ColumnInt(2) != 0;
    record.reason = decision.ColumnText(3);
    record.spec_sha256 = decision.ColumnText(4);
    record.allow_non_private = decision.ColumnInt(5) != 0;
    job.decision = std::move(record);
  }
  return job;
}

absl::StatusOr<JobRecord> LoadJob(Database& db, const std::string& job_id) {
  TESSERA_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(absl::StrCat("SELECT ", kJobColumns,
                                                                   " FROM jobs WHERE job_id = ?")));
  stmt.Bind(1, job_id);
  TESSERA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return JobNotFound(job_id);
  return ReadJob(db, stmt);
}

absl::Status CheckJobExists(Database& db, const std::string& job_id) {
  TESSERA_ASSIGN_OR_RETURN(Statement stmt, db.Prepare("SELECT 1 FROM jobs WHERE job_id = ?"));
  stmt.Bind(1, job_id);
  TESSERA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  return found ? absl::OkStatus() : JobNotFound(job_id);
}

// Sets the job's state and reason.
absl::Status UpdateState(Database& db, const std::string& job_id, JobState state,
                         const std::string& reason, absl::Time now) {
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db.Prepare(
          "UPDATE jobs SET state = ?, state_reason = ?, updated_at_ms = ? WHERE job_id = ?"));
  stmt.Bind(1, absl::string_view(Info(state).token))
      .Bind(2, reason)
      .Bind(3, Ms(now))
      .Bind(4, job_id);
  return RunWrite(stmt);
}

// Why `job` cannot move to `to`, or OK. The state machine is in store.h.
absl::Status CheckMove(const JobRecord& job, JobState to) {
  const JobState from = job.state;
  auto refuse = [&](absl::string_view why) {
    return absl::FailedPreconditionError(absl::StrCat("job `", job.job_id, "` cannot go from ",
                                                      JobStateName(from), " to ", JobStateName(to),
                                                      ": ", why));
  };
  if (IsTerminal(from)) return refuse("its state is final");
  if (to == from) return absl::OkStatus();
  switch (to) {
    case JobState::kRunning:
      if (from != JobState::kApproved) return refuse("it needs a governance approval first");
      return absl::OkStatus();
    case JobState::kCompleted:
      if (from != JobState::kRunning) return refuse("it has not run");
      return absl::OkStatus();
    case JobState::kStopped:
    case JobState::kFailed:
      return absl::OkStatus();
    case JobState::kPendingApproval:
    case JobState::kApproved:
    case JobState::kRejected:
      return refuse("approval and rejection are recorded as governance decisions");
  }
  return refuse("unknown state");
}

absl::Status CheckRunning(const JobRecord& job, absl::string_view what) {
  if (job.state == JobState::kRunning) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("job `", job.job_id, "` is ",
                                                    JobStateName(job.state), ", not running; ",
                                                    what, " is only recorded for a running job"));
}

// ---------------------------------------------------------------- rounds

const char* const kParticipantStatuses[] = {"included", "dropped", "refused", "excluded"};

std::string RoundName(const RoundRecord& round) {
  return absl::StrCat("job `", round.job_id, "` round ", round.round, " attempt ", round.attempt);
}

// The checks every round record passes before it is written.
absl::Status CheckRoundRecord(const RoundRecord& round, absl::string_view outcome) {
  if (round.outcome != outcome) {
    return absl::InvalidArgumentError(absl::StrCat(RoundName(round), " has outcome `",
                                                   round.outcome, "`; expected `", outcome, "`"));
  }
  if (round.round < 0 || round.attempt < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(RoundName(round), ": rounds count from 0 and attempts from 1"));
  }
  std::set<std::string> sites;
  for (const ParticipantRecord& participant : round.participants) {
    if (participant.site_id.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(RoundName(round),
                                                     " lists a participant "
                                                     "without a site id"));
    }
    bool known = false;
    for (const char* status : kParticipantStatuses) known = known || participant.status == status;
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat(RoundName(round), ": site `", participant.site_id, "` has status `",
                       participant.status, "`; expected included, dropped, refused or excluded"));
    }
    if (!sites.insert(participant.site_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(RoundName(round), " lists site `", participant.site_id, "` twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> RoundCompleted(Database& db, const std::string& job_id, int64_t round) {
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db.Prepare("SELECT 1 FROM rounds WHERE job_id = ? AND round = ? AND outcome = 'completed'"));
  stmt.Bind(1, job_id).Bind(2, round);
  return stmt.Step();
}

// An attempt of `round` can start or be recorded: the job has run (or is
// approved and about to) and `round` is the one it is at.
absl::Status CheckAttemptable(Database& db, const JobRecord& job, int64_t round) {
  if (job.state == JobState::kPendingApproval || job.state == JobState::kRejected) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job `", job.job_id, "` is ", JobStateName(job.state), " and has never run"));
  }
  TESSERA_ASSIGN_OR_RETURN(bool done, RoundCompleted(db, job.job_id, round));
  const bool current = round == 0 ? job.rounds_completed == 0 : round == job.rounds_completed + 1;
  if (done || !current) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job `", job.job_id, "` round ", round, " cannot be attempted: the job has committed ",
        job.rounds_completed, " training rounds", done ? " and this one" : ""));
  }
  return absl::OkStatus();
}

// Writes the round row and its participants; ALREADY_EXISTS when the
// attempt number is taken.
absl::Status InsertRound(Database& db, const RoundRecord& round) {
  TESSERA_ASSIGN_OR_RETURN(
      Statement existing,
      db.Prepare("SELECT outcome FROM rounds WHERE job_id = ? AND round = ? AND attempt = ?"));
  existing.Bind(1, round.job_id).Bind(2, round.round).Bind(3, round.attempt);
  TESSERA_ASSIGN_OR_RETURN(bool taken, existing.Step());
  if (taken) {
    return absl::AlreadyExistsError(absl::StrCat(RoundName(round), " is already recorded (",
                                                 existing.ColumnText(0),
                                                 "); number each attempt anew"));
  }
  TESSERA_ASSIGN_OR_RETURN(
      Statement insert,
      db.Prepare("INSERT INTO rounds (job_id, round, attempt, outcome, reason, started_at_ms, "
                 "finished_at_ms, metrics_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, round.job_id)
      .Bind(2, round.round)
      .Bind(3, round.attempt)
      .Bind(4, round.outcome)
      .Bind(5, round.reason)
      .Bind(6, Ms(round.started_at))
      .Bind(7, Ms(round.finished_at))
      .Bind(8, round.metrics_json);
  TESSERA_RETURN_IF_ERROR(RunWrite(insert));
  TESSERA_ASSIGN_OR_RETURN(
      Statement participant,
      db.Prepare("INSERT INTO round_participants (job_id, round, attempt, site_id, status, detail) "
                 "VALUES (?, ?, ?, ?, ?, ?)"));
  for (const ParticipantRecord& p : round.participants) {
    participant.Reset();
    participant.Bind(1, round.job_id)
        .Bind(2, round.round)
        .Bind(3, round.attempt)
        .Bind(4, p.site_id)
        .Bind(5, p.status)
        .Bind(6, p.detail);
    TESSERA_RETURN_IF_ERROR(RunWrite(participant));
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------- checkpoints

// The bytes must be the job's dimension in float32s and hash as announced.
absl::Status CheckCheckpointBytes(const CheckpointRecord& checkpoint, const JobRecord& job) {
  const std::string name =
      absl::StrCat("checkpoint of job `", job.job_id, "` round ", checkpoint.round);
  if (checkpoint.parameters.size() != static_cast<size_t>(job.dimension) * 4) {
    return absl::InvalidArgumentError(absl::StrCat(name, " has ", checkpoint.parameters.size(),
                                                   " bytes; the job's ", job.dimension,
                                                   " float32 parameters take ", job.dimension * 4));
  }
  const std::string actual = crypto::Sha256Hex(checkpoint.parameters);
  if (actual != checkpoint.parameters_sha256) {
    return absl::InvalidArgumentError(absl::StrCat(name, " hashes to ", actual, ", not the ",
                                                   checkpoint.parameters_sha256,
                                                   " it was given with"));
  }
  return absl::OkStatus();
}

absl::Status InsertCheckpoint(Database& db, const CheckpointRecord& checkpoint) {
  TESSERA_ASSIGN_OR_RETURN(
      Statement insert,
      db.Prepare("INSERT INTO checkpoints (job_id, round, parameters, parameters_sha256, "
                 "optimizer_state, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, checkpoint.job_id)
      .Bind(2, checkpoint.round)
      .BindBlob(3, checkpoint.parameters)
      .Bind(4, checkpoint.parameters_sha256)
      .BindBlob(5, checkpoint.optimizer_state)
      .Bind(6, Ms(checkpoint.created_at));
  return RunWrite(insert);
}

constexpr char kCheckpointColumns[] =
    "job_id, round, parameters, parameters_sha256, optimizer_state, created_at_ms";

CheckpointRecord ReadCheckpoint(const Statement& stmt) {
  CheckpointRecord checkpoint;
  checkpoint.job_id = stmt.ColumnText(0);
  checkpoint.round = stmt.ColumnInt(1);
  checkpoint.parameters = stmt.ColumnBlob(2);
  checkpoint.parameters_sha256 = stmt.ColumnText(3);
  checkpoint.optimizer_state = stmt.ColumnBlob(4);
  checkpoint.created_at = absl::FromUnixMillis(stmt.ColumnInt(5));
  return checkpoint;
}

// ---------------------------------------------------------------- ledger

// Ledger rows belong to the round and cover its included sites exactly.
absl::Status CheckLedger(const RoundCommit& commit) {
  const RoundRecord& round = commit.round;
  std::set<std::string> included;
  for (const ParticipantRecord& p : round.participants) {
    if (p.status == "included") included.insert(p.site_id);
  }
  std::set<std::string> recorded;
  for (const LedgerRecord& row : commit.ledger) {
    if (row.job_id != round.job_id || row.round != round.round) {
      return absl::InvalidArgumentError(absl::StrCat(
          RoundName(round), " carries a ledger row for job `", row.job_id, "` round ", row.round));
    }
    if (included.count(row.site_id) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(RoundName(round),
                                                     " carries a ledger row for "
                                                     "site `",
                                                     row.site_id,
                                                     "`, which is not an included participant"));
    }
    if (!recorded.insert(row.site_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(RoundName(round), " carries two ledger rows for site `", row.site_id, "`"));
    }
  }
  for (const std::string& site : included) {
    if (recorded.count(site) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(RoundName(round), " has no ledger row for included site `", site,
                       "`; every included site's privacy spend is recorded"));
    }
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------------- audit

// Appends to the chain inside the caller's transaction.
absl::StatusOr<AuditEntry> AppendAuditIn(Database& db, const AuditEvent& event) {
  TESSERA_ASSIGN_OR_RETURN(
      Statement last,
      db.Prepare("SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1"));
  AuditEntry entry;
  entry.event = event;
  entry.sequence = 1;
  entry.previous_hash = kAuditGenesisHash;
  TESSERA_ASSIGN_OR_RETURN(bool has_last, last.Step());
  if (has_last) {
    entry.sequence = last.ColumnInt(0) + 1;
    entry.previous_hash = last.ColumnText(1);
  }
  last.Reset();
  entry.hash = AuditHash(entry.previous_hash, entry.sequence, event);
  TESSERA_ASSIGN_OR_RETURN(Statement insert,
                           db.Prepare(absl::StrCat("INSERT INTO audit_log (", kAuditColumns,
                                                   ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")));
  insert.Bind(1, entry.sequence)
      .Bind(2, Ms(event.time))
      .Bind(3, event.actor)
      .Bind(4, event.actor_role)
      .Bind(5, event.action)
      .Bind(6, event.subject)
      .Bind(7, event.details)
      .Bind(8, entry.previous_hash)
      .Bind(9, entry.hash);
  TESSERA_RETURN_IF_ERROR(RunWrite(insert));
  return entry;
}

}  // namespace

absl::string_view JobStateName(JobState state) { return Info(state).name; }

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  DatabaseOptions options;
  options.application_id = kApplicationId;
  options.description = "coordinator database";
  options.migrations = Migrations();
  TESSERA_ASSIGN_OR_RETURN(auto db, Database::Open(path, options));
  return std::unique_ptr<Store>(new Store(std::move(db)));
}

absl::StatusOr<std::unique_ptr<Store>> Store::OpenReadOnly(const std::string& path) {
  DatabaseOptions options;
  options.application_id = kApplicationId;
  options.description = "coordinator database";
  options.migrations = Migrations();
  options.read_only = true;
  TESSERA_ASSIGN_OR_RETURN(auto db, Database::Open(path, options));
  return std::unique_ptr<Store>(new Store(std::move(db)));
}

absl::Status Store::RecordEnrolment(const std::string& site_id, const std::string& serial,
                                    absl::Time expires, const std::string& operator_id,
                                    absl::Time now) {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare(
          "INSERT INTO sites (site_id, certificate_serial, certificate_expires_ms, "
          "enrolled_at_ms, enrolled_by) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (site_id) DO UPDATE SET certificate_serial = excluded.certificate_serial, "
          "certificate_expires_ms = excluded.certificate_expires_ms, "
          "enrolled_at_ms = excluded.enrolled_at_ms, enrolled_by = excluded.enrolled_by"));
  stmt.Bind(1, site_id).Bind(2, serial).Bind(3, Ms(expires)).Bind(4, Ms(now)).Bind(5, operator_id);
  return stmt.Run();
}

absl::Status Store::RecordSeen(const std::string& site_id, const std::string& serial,
                               absl::Time expires, absl::Time now) {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare(
          "INSERT INTO sites (site_id, certificate_serial, certificate_expires_ms, "
          "last_seen_ms) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (site_id) DO UPDATE SET certificate_serial = excluded.certificate_serial, "
          "certificate_expires_ms = excluded.certificate_expires_ms, "
          "last_seen_ms = excluded.last_seen_ms"));
  stmt.Bind(1, site_id).Bind(2, serial).Bind(3, Ms(expires)).Bind(4, Ms(now));
  return stmt.Run();
}

absl::StatusOr<std::vector<SiteRecord>> Store::ListSites() {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT site_id, certificate_serial, certificate_expires_ms, enrolled_at_ms, "
                   "enrolled_by, last_seen_ms FROM sites ORDER BY site_id"));
  std::vector<SiteRecord> sites;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    SiteRecord site;
    site.site_id = stmt.ColumnText(0);
    site.certificate_serial = stmt.ColumnText(1);
    site.certificate_expires = absl::FromUnixMillis(stmt.ColumnInt(2));
    site.enrolled_at = OptionalTime(stmt, 3);
    site.enrolled_by = stmt.ColumnText(4);
    site.last_seen = OptionalTime(stmt, 5);
    sites.push_back(std::move(site));
  }
  return sites;
}

absl::StatusOr<AuditEntry> Store::AppendAudit(const AuditEvent& event) {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(AuditEntry entry, AppendAuditIn(*db_, event));
  TESSERA_RETURN_IF_ERROR(transaction.Commit());
  return entry;
}

absl::StatusOr<std::vector<AuditEntry>> Store::ReadAudit(int64_t after, int64_t limit,
                                                         absl::Time since) {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare(absl::StrCat("SELECT ", kAuditColumns,
                                " FROM audit_log WHERE sequence > ? AND time_ms >= ? "
                                "ORDER BY sequence LIMIT ?")));
  stmt.Bind(1, after).Bind(2, Ms(since)).Bind(3, limit);
  std::vector<AuditEntry> entries;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    entries.push_back(ReadEntry(stmt));
  }
  return entries;
}

absl::StatusOr<std::optional<AuditEntry>> Store::LatestAudit() {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt, db_->Prepare(absl::StrCat("SELECT ", kAuditColumns,
                                                " FROM audit_log ORDER BY sequence DESC LIMIT 1")));
  TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<AuditEntry>();
  return std::optional<AuditEntry>(ReadEntry(stmt));
}

absl::StatusOr<AuditCheck> Store::VerifyAuditChain() {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare(absl::StrCat("SELECT ", kAuditColumns, " FROM audit_log ORDER BY sequence")));
  AuditCheck check;
  std::string previous = kAuditGenesisHash;
  int64_t expected_sequence = 1;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    AuditEntry entry = ReadEntry(stmt);
    ++check.entries;
    if (std::optional<AuditProblem> problem = CheckAuditLink(previous, expected_sequence, entry)) {
      // The entry the walk stopped at (for a gap, the one after it).
      check.first_bad = entry.sequence;
      check.problem = std::move(problem->description);
      return check;
    }
    previous = entry.hash;
    expected_sequence = entry.sequence + 1;
  }
  check.head_hash = previous;
  return check;
}

// ------------------------------------------------------------------ jobs

absl::Status Store::CreateJob(const NewJob& job, const AuditEvent& audit) {
  if (job.job_id.empty() || job.name.empty() || job.submitted_by.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job `", job.job_id, "` needs an id, a name and the identity that submitted it"));
  }
  if (job.dimension <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("job `", job.job_id, "` has dimension ",
                                                   job.dimension, "; a model has parameters"));
  }
  const std::string spec_sha256 = crypto::Sha256Hex(job.spec_json);
  if (spec_sha256 != job.spec_sha256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job `", job.job_id, "`: its spec hashes to ", spec_sha256, ", not the ", job.spec_sha256,
        " it was given with; hash the canonical JSON that is stored"));
  }
  TESSERA_RETURN_IF_ERROR(
      Annotate(CheckSha256Hex(job.model_sha256), absl::StrCat("job `", job.job_id, "` model")));
  TESSERA_RETURN_IF_ERROR(Annotate(CheckSha256Hex(job.initial_parameters_sha256),
                                   absl::StrCat("job `", job.job_id, "` initial parameters")));

  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  const absl::Status exists = CheckJobExists(*db_, job.job_id);
  if (exists.ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("job id `", job.job_id, "` is taken; choose a new one"));
  }
  if (!absl::IsNotFound(exists)) return exists;
  TESSERA_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare(absl::StrCat("INSERT INTO jobs (", kJobColumns,
                                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?)")));
  insert.Bind(1, job.job_id)
      .Bind(2, job.name)
      .Bind(3, job.spec_json)
      .Bind(4, job.spec_sha256)
      .Bind(5, job.model_sha256)
      .Bind(6, job.initial_parameters_sha256)
      .Bind(7, job.dimension)
      .Bind(8, job.submitted_by)
      .Bind(9, Ms(job.submitted_at))
      .Bind(10, absl::string_view(Info(JobState::kPendingApproval).token))
      .Bind(11, absl::string_view("waiting for a governance decision"))
      .Bind(12, Ms(audit.time));
  TESSERA_RETURN_IF_ERROR(RunWrite(insert));
  TESSERA_RETURN_IF_ERROR(AppendAuditIn(*db_, audit).status());
  return transaction.Commit();
}

absl::Status Store::SaveInitialCheckpoint(const CheckpointRecord& checkpoint) {
  if (checkpoint.round != 0) {
    return absl::InvalidArgumentError(absl::StrCat("the initial checkpoint of job `",
                                                   checkpoint.job_id, "` is round 0, not ",
                                                   checkpoint.round));
  }
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(JobRecord job, LoadJob(*db_, checkpoint.job_id));
  TESSERA_RETURN_IF_ERROR(CheckCheckpointBytes(checkpoint, job));
  if (checkpoint.parameters_sha256 != job.initial_parameters_sha256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the initial checkpoint of job `", job.job_id, "` hashes to ", checkpoint.parameters_sha256,
        ", but the job was submitted with initial parameters ", job.initial_parameters_sha256));
  }
  TESSERA_ASSIGN_OR_RETURN(
      Statement existing, db_->Prepare("SELECT 1 FROM checkpoints WHERE job_id = ? AND round = 0"));
  existing.Bind(1, job.job_id);
  TESSERA_ASSIGN_OR_RETURN(bool found, existing.Step());
  if (found) {
    return absl::AlreadyExistsError(
        absl::StrCat("job `", job.job_id, "` already has its initial checkpoint"));
  }
  TESSERA_RETURN_IF_ERROR(InsertCheckpoint(*db_, checkpoint));
  return transaction.Commit();
}

absl::StatusOr<JobRecord> Store::GetJob(const std::string& job_id) {
  absl::MutexLock lock(&mutex_);
  return LoadJob(*db_, job_id);
}

absl::StatusOr<std::vector<JobRecord>> Store::ListJobs() {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Statement stmt,
                           db_->Prepare(absl::StrCat("SELECT ", kJobColumns,
                                                     " FROM jobs ORDER BY submitted_at_ms DESC, "
                                                     "rowid DESC")));
  std::vector<JobRecord> jobs;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    TESSERA_ASSIGN_OR_RETURN(JobRecord job, ReadJob(*db_, stmt));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

absl::Status Store::RecordDecision(const std::string& job_id, const ApprovalRecord& decision,
                                   const AuditEvent& audit) {
  if (decision.approver.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the decision on job `", job_id, "` names no approver"));
  }
  if (!decision.approved && decision.reason.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the rejection of job `", job_id, "` needs a reason for the ML lead"));
  }
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(JobRecord job, LoadJob(*db_, job_id));
  if (job.state != JobState::kPendingApproval) {
    return absl::FailedPreconditionError(absl::StrCat("job `", job_id, "` is ",
                                                      JobStateName(job.state),
                                                      "; only a job pending approval takes a "
                                                      "governance decision"));
  }
  if (decision.spec_sha256 != job.spec_sha256) {
    return absl::FailedPreconditionError(
        absl::StrCat("the decision on job `", job_id, "` is about spec ", decision.spec_sha256,
                     ", but the job's spec is ", job.spec_sha256, "; review the current spec"));
  }
  TESSERA_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare("INSERT INTO approvals (job_id, approver, decided_at_ms, approved, reason, "
                   "spec_sha256, allow_non_private) VALUES (?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, job_id)
      .Bind(2, decision.approver)
      .Bind(3, Ms(decision.decided_at))
      .Bind(4, int64_t{decision.approved ? 1 : 0})
      .Bind(5, decision.reason)
      .Bind(6, decision.spec_sha256)
      .Bind(7, int64_t{decision.allow_non_private ? 1 : 0});
  TESSERA_RETURN_IF_ERROR(RunWrite(insert));
  const std::string reason =
      !decision.reason.empty() ? decision.reason : absl::StrCat("approved by ", decision.approver);
  TESSERA_RETURN_IF_ERROR(UpdateState(*db_, job_id,
                                      decision.approved ? JobState::kApproved : JobState::kRejected,
                                      reason, audit.time));
  TESSERA_RETURN_IF_ERROR(AppendAuditIn(*db_, audit).status());
  return transaction.Commit();
}

absl::Status Store::SetJobState(const std::string& job_id, JobState state,
                                const std::string& reason, const AuditEvent& audit) {
  if ((state == JobState::kStopped || state == JobState::kFailed) && reason.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("job `", job_id, "` cannot become ",
                                                   JobStateName(state), " without a reason"));
  }
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(JobRecord job, LoadJob(*db_, job_id));
  TESSERA_RETURN_IF_ERROR(CheckMove(job, state));
  TESSERA_RETURN_IF_ERROR(UpdateState(*db_, job_id, state, reason, audit.time));
  TESSERA_RETURN_IF_ERROR(AppendAuditIn(*db_, audit).status());
  return transaction.Commit();
}

// ---------------------------------------------------------------- rounds

absl::Status Store::CommitStatistics(const RoundRecord& round,
                                     const std::string& standardization_json,
                                     const AuditEvent& audit) {
  TESSERA_RETURN_IF_ERROR(CheckRoundRecord(round, "completed"));
  if (round.round != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(RoundName(round), ": the statistics round is round 0"));
  }
  if (standardization_json.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(RoundName(round), " has no standardisation to store"));
  }
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(JobRecord job, LoadJob(*db_, round.job_id));
  TESSERA_ASSIGN_OR_RETURN(bool done, RoundCompleted(*db_, round.job_id, 0));
  if (done) {
    return absl::AlreadyExistsError(
        absl::StrCat("job `", round.job_id, "` already has its statistics round"));
  }
  TESSERA_RETURN_IF_ERROR(CheckRunning(job, "a statistics round"));
  if (job.rounds_completed > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("job `", round.job_id, "` has trained ", job.rounds_completed,
                     " rounds; its statistics round comes before them"));
  }
  TESSERA_RETURN_IF_ERROR(InsertRound(*db_, round));
  TESSERA_ASSIGN_OR_RETURN(
      Statement update,
      db_->Prepare("UPDATE jobs SET standardization_json = ?, updated_at_ms = ? WHERE job_id = ?"));
  update.Bind(1, standardization_json).Bind(2, Ms(audit.time)).Bind(3, round.job_id);
  TESSERA_RETURN_IF_ERROR(RunWrite(update));
  TESSERA_RETURN_IF_ERROR(AppendAuditIn(*db_, audit).status());
  return transaction.Commit();
}

absl::Status Store::CommitRound(const RoundCommit& commit) {
  const RoundRecord& round = commit.round;
  const CheckpointRecord& checkpoint = commit.checkpoint;
  TESSERA_RETURN_IF_ERROR(CheckRoundRecord(round, "completed"));
  if (round.round < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(RoundName(round), ": training rounds count from 1"));
  }
  if (checkpoint.job_id != round.job_id || checkpoint.round != round.round) {
    return absl::InvalidArgumentError(
        absl::StrCat(RoundName(round), " carries the checkpoint of job `", checkpoint.job_id,
                     "` round ", checkpoint.round));
  }
  TESSERA_RETURN_IF_ERROR(CheckLedger(commit));
  if (commit.keep_checkpoints < 0) {
    return absl::InvalidArgumentError(absl::StrCat(RoundName(round), ": keep_checkpoints is ",
                                                   commit.keep_checkpoints, "; use 0 to keep all"));
  }

  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(JobRecord job, LoadJob(*db_, round.job_id));
  TESSERA_ASSIGN_OR_RETURN(bool done, RoundCompleted(*db_, round.job_id, round.round));
  if (done) {
    return absl::AlreadyExistsError(
        absl::StrCat("job `", round.job_id, "` round ", round.round, " is already committed"));
  }
  TESSERA_RETURN_IF_ERROR(CheckRunning(job, "a round"));
  if (round.round != job.rounds_completed + 1) {
    return absl::FailedPreconditionError(absl::StrCat("job `", round.job_id, "` has committed ",
                                                      job.rounds_completed, " rounds; round ",
                                                      round.round, " cannot be next"));
  }
  TESSERA_RETURN_IF_ERROR(CheckCheckpointBytes(checkpoint, job));

  TESSERA_RETURN_IF_ERROR(InsertRound(*db_, round));
  TESSERA_RETURN_IF_ERROR(InsertCheckpoint(*db_, checkpoint));
  TESSERA_ASSIGN_OR_RETURN(
      Statement ledger,
      db_->Prepare("INSERT INTO ledger (job_id, round, site_id, dataset, event_json, "
                   "recorded_at_ms) VALUES (?, ?, ?, ?, ?, ?)"));
  for (const LedgerRecord& row : commit.ledger) {
    ledger.Reset();
    ledger.Bind(1, row.job_id)
        .Bind(2, row.round)
        .Bind(3, row.site_id)
        .Bind(4, row.dataset)
        .Bind(5, row.event_json)
        .Bind(6, Ms(row.recorded_at));
    TESSERA_RETURN_IF_ERROR(RunWrite(ledger));
  }
  TESSERA_ASSIGN_OR_RETURN(
      Statement update,
      db_->Prepare("UPDATE jobs SET rounds_completed = ?, updated_at_ms = ? WHERE job_id = ?"));
  update.Bind(1, round.round).Bind(2, Ms(commit.audit.time)).Bind(3, round.job_id);
  TESSERA_RETURN_IF_ERROR(RunWrite(update));
  if (commit.keep_checkpoints > 0) {
    // Rounds are committed in order, so the newest N are round - N + 1 .. round.
    TESSERA_ASSIGN_OR_RETURN(
        Statement prune,
        db_->Prepare("DELETE FROM checkpoints WHERE job_id = ? AND round > 0 AND round <= ?"));
    prune.Bind(1, round.job_id).Bind(2, round.round - commit.keep_checkpoints);
    TESSERA_RETURN_IF_ERROR(RunWrite(prune));
  }
  TESSERA_RETURN_IF_ERROR(AppendAuditIn(*db_, commit.audit).status());
  return transaction.Commit();
}

absl::Status Store::RecordAbortedAttempt(const RoundRecord& round, const AuditEvent& audit) {
  TESSERA_RETURN_IF_ERROR(CheckRoundRecord(round, "aborted"));
  if (round.reason.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(RoundName(round), " was aborted; say why"));
  }
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(JobRecord job, LoadJob(*db_, round.job_id));
  if (job.state == JobState::kApproved) {
    return absl::FailedPreconditionError(
        absl::StrCat("job `", round.job_id, "` is approved and has never run"));
  }
  TESSERA_RETURN_IF_ERROR(CheckAttemptable(*db_, job, round.round));
  TESSERA_RETURN_IF_ERROR(InsertRound(*db_, round));
  TESSERA_ASSIGN_OR_RETURN(Statement update,
                           db_->Prepare("UPDATE jobs SET updated_at_ms = ? WHERE job_id = ?"));
  update.Bind(1, Ms(audit.time)).Bind(2, round.job_id);
  TESSERA_RETURN_IF_ERROR(RunWrite(update));
  TESSERA_RETURN_IF_ERROR(AppendAuditIn(*db_, audit).status());
  return transaction.Commit();
}

absl::StatusOr<int64_t> Store::StartAttempt(const std::string& job_id, int64_t round,
                                            const std::vector<std::string>& participants,
                                            absl::Time started_at) {
  if (round < 0) return absl::InvalidArgumentError("rounds count from 0");
  if (participants.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job `", job_id, "` round ", round, ": an attempt needs participants"));
  }
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(JobRecord job, LoadJob(*db_, job_id));
  TESSERA_RETURN_IF_ERROR(CheckAttemptable(*db_, job, round));
  TESSERA_ASSIGN_OR_RETURN(
      Statement last,
      db_->Prepare("SELECT MAX(attempt) FROM (SELECT attempt FROM attempts WHERE job_id = ?1 "
                   "AND round = ?2 UNION ALL SELECT attempt FROM rounds WHERE job_id = ?1 AND "
                   "round = ?2)"));
  last.Bind(1, job_id).Bind(2, round);
  TESSERA_ASSIGN_OR_RETURN(bool row, last.Step());
  const int64_t attempt = row && !last.ColumnIsNull(0) ? last.ColumnInt(0) + 1 : 1;
  TESSERA_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare("INSERT INTO attempts (job_id, round, attempt, participants, started_at_ms) "
                   "VALUES (?, ?, ?, ?, ?)"));
  insert.Bind(1, job_id).Bind(2, round).Bind(3, attempt).Bind(4, absl::StrJoin(participants, "\n"))
      .Bind(5, Ms(started_at));
  TESSERA_RETURN_IF_ERROR(RunWrite(insert));
  TESSERA_RETURN_IF_ERROR(transaction.Commit());
  return attempt;
}

absl::StatusOr<std::vector<RoundRecord>> Store::InterruptedAttempts(const std::string& job_id) {
  absl::MutexLock lock(&mutex_);
  TESSERA_RETURN_IF_ERROR(CheckJobExists(*db_, job_id));
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT a.round, a.attempt, a.participants, a.started_at_ms FROM attempts a "
                   "WHERE a.job_id = ? AND NOT EXISTS (SELECT 1 FROM rounds r WHERE "
                   "r.job_id = a.job_id AND r.round = a.round AND r.attempt = a.attempt) "
                   "ORDER BY a.round, a.attempt"));
  stmt.Bind(1, job_id);
  std::vector<RoundRecord> interrupted;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    RoundRecord round;
    round.job_id = job_id;
    round.round = stmt.ColumnInt(0);
    round.attempt = stmt.ColumnInt(1);
    round.started_at = absl::FromUnixMillis(stmt.ColumnInt(3));
    for (absl::string_view site : absl::StrSplit(stmt.ColumnText(2), '\n', absl::SkipEmpty())) {
      round.participants.push_back({std::string(site), "dropped", ""});
    }
    interrupted.push_back(std::move(round));
  }
  return interrupted;
}

absl::StatusOr<std::vector<RoundRecord>> Store::ListRounds(const std::string& job_id) {
  absl::MutexLock lock(&mutex_);
  TESSERA_RETURN_IF_ERROR(CheckJobExists(*db_, job_id));
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT round, attempt, outcome, reason, started_at_ms, finished_at_ms, "
                   "metrics_json FROM rounds WHERE job_id = ? ORDER BY round, attempt"));
  stmt.Bind(1, job_id);
  TESSERA_ASSIGN_OR_RETURN(
      Statement participants,
      db_->Prepare("SELECT site_id, status, detail FROM round_participants "
                   "WHERE job_id = ? AND round = ? AND attempt = ? ORDER BY rowid"));
  std::vector<RoundRecord> rounds;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    RoundRecord round;
    round.job_id = job_id;
    round.round = stmt.ColumnInt(0);
    round.attempt = stmt.ColumnInt(1);
    round.outcome = stmt.ColumnText(2);
    round.reason = stmt.ColumnText(3);
    round.started_at = absl::FromUnixMillis(stmt.ColumnInt(4));
    round.finished_at = absl::FromUnixMillis(stmt.ColumnInt(5));
    round.metrics_json = stmt.ColumnText(6);
    participants.Reset();
    participants.Bind(1, job_id).Bind(2, round.round).Bind(3, round.attempt);
    while (true) {
      TESSERA_ASSIGN_OR_RETURN(bool site, participants.Step());
      if (!site) break;
      round.participants.push_back(
          {participants.ColumnText(0), participants.ColumnText(1), participants.ColumnText(2)});
    }
    rounds.push_back(std::move(round));
  }
  return rounds;
}

absl::StatusOr<CheckpointRecord> Store::GetCheckpoint(const std::string& job_id, int64_t round) {
  absl::MutexLock lock(&mutex_);
  TESSERA_RETURN_IF_ERROR(CheckJobExists(*db_, job_id));
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare(absl::StrCat("SELECT ", kCheckpointColumns,
                                " FROM checkpoints WHERE job_id = ? AND round = ?")));
  stmt.Bind(1, job_id).Bind(2, round);
  TESSERA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) {
    return absl::NotFoundError(absl::StrCat("job `", job_id, "` has no checkpoint of round ", round,
                                            " (never committed, or pruned)"));
  }
  return ReadCheckpoint(stmt);
}

absl::StatusOr<CheckpointRecord> Store::LatestCheckpoint(const std::string& job_id) {
  absl::MutexLock lock(&mutex_);
  TESSERA_RETURN_IF_ERROR(CheckJobExists(*db_, job_id));
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare(absl::StrCat("SELECT ", kCheckpointColumns,
                                " FROM checkpoints WHERE job_id = ? ORDER BY round DESC LIMIT 1")));
  stmt.Bind(1, job_id);
  TESSERA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) {
    return absl::NotFoundError(absl::StrCat(
        "job `", job_id, "` has no checkpoint yet; its initial parameters were never saved"));
  }
  return ReadCheckpoint(stmt);
}

absl::StatusOr<std::vector<LedgerRecord>> Store::ListLedger(const std::string& job_id) {
  absl::MutexLock lock(&mutex_);
  if (!job_id.empty()) TESSERA_RETURN_IF_ERROR(CheckJobExists(*db_, job_id));
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT job_id, round, site_id, dataset, event_json, recorded_at_ms FROM ledger "
                   "WHERE ?1 = '' OR job_id = ?1 ORDER BY job_id, round, site_id"));
  stmt.Bind(1, job_id);
  std::vector<LedgerRecord> rows;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool found, stmt.Step());
    if (!found) break;
    LedgerRecord row;
    row.job_id = stmt.ColumnText(0);
    row.round = stmt.ColumnInt(1);
    row.site_id = stmt.ColumnText(2);
    row.dataset = stmt.ColumnText(3);
    row.event_json = stmt.ColumnText(4);
    row.recorded_at = absl::FromUnixMillis(stmt.ColumnInt(5));
    rows.push_back(std::move(row));
  }
  return rows;
}

// ------------------------------------------------------------ Governance

absl::Status Store::SetBudget(const BudgetRecord& budget, const AuditEvent& audit) {
  if (budget.site_id.empty() || budget.dataset.empty() || budget.set_by.empty()) {
    return absl::InvalidArgumentError("a budget needs a site, a dataset and who set it");
  }
  if (!std::isfinite(budget.epsilon) || budget.epsilon < 0) {
    return absl::InvalidArgumentError(absl::StrCat("budget epsilon must be a number >= 0, not ",
                                                   budget.epsilon));
  }
  if (!(budget.delta > 0 && budget.delta < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("budget delta must be between 0 and 1, not ", budget.delta));
  }
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(
      Statement upsert,
      db_->Prepare("INSERT INTO budgets (site_id, dataset, epsilon, delta, set_by, set_at_ms, "
                   "reason) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site_id, dataset) DO UPDATE "
                   "SET epsilon = excluded.epsilon, delta = excluded.delta, set_by = "
                   "excluded.set_by, set_at_ms = excluded.set_at_ms, reason = excluded.reason"));
  upsert.Bind(1, budget.site_id)
      .Bind(2, budget.dataset)
      .Bind(3, budget.epsilon)
      .Bind(4, budget.delta)
      .Bind(5, budget.set_by)
      .Bind(6, Ms(budget.set_at))
      .Bind(7, budget.reason);
  TESSERA_RETURN_IF_ERROR(RunWrite(upsert));
  TESSERA_RETURN_IF_ERROR(AppendAuditIn(*db_, audit).status());
  return transaction.Commit();
}

absl::StatusOr<std::vector<BudgetRecord>> Store::ListBudgets() {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT site_id, dataset, epsilon, delta, set_by, set_at_ms, reason FROM "
                   "budgets ORDER BY site_id, dataset"));
  std::vector<BudgetRecord> budgets;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    budgets.push_back({stmt.ColumnText(0), stmt.ColumnText(1), stmt.ColumnDouble(2),
                       stmt.ColumnDouble(3), stmt.ColumnText(4),
                       absl::FromUnixMillis(stmt.ColumnInt(5)), stmt.ColumnText(6)});
  }
  return budgets;
}

absl::StatusOr<bool> Store::AddReceipt(const ReceiptRecord& receipt) {
  if (receipt.site_id.empty() || receipt.receipt.empty() || receipt.signature.empty() ||
      receipt.certificate_pem.empty() || receipt.round < 0 || receipt.attempt < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the receipt of site `", receipt.site_id, "` for job `", receipt.job_id, "` round ",
        receipt.round, " lacks its bytes, signature or certificate"));
  }
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_RETURN_IF_ERROR(CheckJobExists(*db_, receipt.job_id));
  TESSERA_ASSIGN_OR_RETURN(
      Statement existing,
      db_->Prepare("SELECT receipt, signature, certificate_pem FROM receipts WHERE job_id = ? AND "
                   "round = ? AND attempt = ? AND site_id = ?"));
  existing.Bind(1, receipt.job_id).Bind(2, receipt.round).Bind(3, receipt.attempt)
      .Bind(4, receipt.site_id);
  TESSERA_ASSIGN_OR_RETURN(bool found, existing.Step());
  if (found) {
    if (existing.ColumnBlob(0) == receipt.receipt && existing.ColumnBlob(1) == receipt.signature &&
        existing.ColumnText(2) == receipt.certificate_pem) {
      return true;
    }
    return absl::AlreadyExistsError(absl::StrCat(
        "site `", receipt.site_id, "` already has a different receipt for job `", receipt.job_id,
        "` round ", receipt.round, " attempt ", receipt.attempt));
  }
  TESSERA_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare("INSERT INTO receipts (job_id, round, attempt, site_id, receipt, signature, "
                   "certificate_pem, received_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, receipt.job_id)
      .Bind(2, receipt.round)
      .Bind(3, receipt.attempt)
      .Bind(4, receipt.site_id)
      .BindBlob(5, receipt.receipt)
      .BindBlob(6, receipt.signature)
      .Bind(7, receipt.certificate_pem)
      .Bind(8, Ms(receipt.received_at));
  TESSERA_RETURN_IF_ERROR(RunWrite(insert));
  TESSERA_RETURN_IF_ERROR(transaction.Commit());
  return false;
}

absl::StatusOr<std::vector<ReceiptRecord>> Store::ListReceipts(const std::string& job_id) {
  absl::MutexLock lock(&mutex_);
  if (!job_id.empty()) TESSERA_RETURN_IF_ERROR(CheckJobExists(*db_, job_id));
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT job_id, round, attempt, site_id, receipt, signature, certificate_pem, "
                   "received_at_ms FROM receipts WHERE ?1 = '' OR job_id = ?1 "
                   "ORDER BY job_id, round, attempt, site_id"));
  stmt.Bind(1, job_id);
  std::vector<ReceiptRecord> receipts;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    receipts.push_back({stmt.ColumnText(0), stmt.ColumnInt(1), stmt.ColumnInt(2),
                        stmt.ColumnText(3), stmt.ColumnBlob(4), stmt.ColumnBlob(5),
                        stmt.ColumnText(6), absl::FromUnixMillis(stmt.ColumnInt(7))});
  }
  return receipts;
}

absl::Status Store::RecordAuditHead(const AuditHeadRecord& head) {
  if (head.signature.empty() || head.certificate_pem.empty()) {
    return absl::InvalidArgumentError("a signed audit head needs its signature and certificate");
  }
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(Statement entry,
                           db_->Prepare("SELECT hash FROM audit_log WHERE sequence = ?"));
  entry.Bind(1, head.sequence);
  TESSERA_ASSIGN_OR_RETURN(bool found, entry.Step());
  if (!found || entry.ColumnText(0) != head.hash) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audit entry ", head.sequence, found ? " has another hash" : " does not exist"));
  }
  TESSERA_ASSIGN_OR_RETURN(Statement existing,
                           db_->Prepare("SELECT 1 FROM audit_heads WHERE sequence = ?"));
  existing.Bind(1, head.sequence);
  TESSERA_ASSIGN_OR_RETURN(bool signed_before, existing.Step());
  if (signed_before) {
    return absl::AlreadyExistsError(
        absl::StrCat("audit head ", head.sequence, " is already signed"));
  }
  TESSERA_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare("INSERT INTO audit_heads (sequence, hash, signed_at_ms, signature, "
                   "certificate_pem) VALUES (?, ?, ?, ?, ?)"));
  insert.Bind(1, head.sequence)
      .Bind(2, head.hash)
      .Bind(3, Ms(head.signed_at))
      .BindBlob(4, head.signature)
      .Bind(5, head.certificate_pem);
  TESSERA_RETURN_IF_ERROR(RunWrite(insert));
  return transaction.Commit();
}

absl::StatusOr<std::vector<AuditHeadRecord>> Store::ListAuditHeads(int64_t after, int64_t up_to) {
  absl::MutexLock lock(&mutex_);
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT sequence, hash, signed_at_ms, signature, certificate_pem FROM "
                   "audit_heads WHERE sequence > ? AND sequence <= ? ORDER BY sequence"));
  stmt.Bind(1, after).Bind(2, up_to);
  std::vector<AuditHeadRecord> heads;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    heads.push_back({stmt.ColumnInt(0), stmt.ColumnText(1), absl::FromUnixMillis(stmt.ColumnInt(2)),
                     stmt.ColumnBlob(3), stmt.ColumnText(4)});
  }
  return heads;
}

}  // namespace tessera::coordinator
