// Backup and restore of a coordinator's state (coordinator/backup.h) on real
// SQLite files: a backup taken while the store is open and holds unmerged
// WAL content has every job, round, checkpoint and audit entry, the job's
// model file and the revocation list, and is mode 0600; it restores into a
// fresh state directory or over an existing one (kept, with its -wal), and
// everything that is not a coordinator backup, is newer, lacks its models
// or meets a running coordinator is refused without changing anything.
#include "coordinator/backup.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/files.h"
#include "common/sqlite.h"
#include "coordinator/object_store.h"
#include "coordinator/store.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::coordinator {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
// 2027-01-15 08:00:00 UTC, so the kept file's name is known.
const absl::Time kRestoreTime = absl::FromUnixSeconds(1'800'000'000);
constexpr int64_t kDimension = 3;
constexpr char kModelBytes[] = "torchscript model bytes";
constexpr char kCrl[] = "-----BEGIN X509 CRL-----\nnot parsed by backup\n-----END X509 CRL-----\n";

std::string Parameters(int64_t round) {
  return std::string(static_cast<size_t>(kDimension) * 4, static_cast<char>('a' + round));
}

AuditEvent Audit(const std::string& action, const std::string& subject) {
  return {kNow, "alice", "operator", action, subject, "{}"};
}

CheckpointRecord Checkpoint(const std::string& job_id, int64_t round) {
  CheckpointRecord checkpoint;
  checkpoint.job_id = job_id;
  checkpoint.round = round;
  checkpoint.parameters = Parameters(round);
  checkpoint.parameters_sha256 = crypto::Sha256Hex(checkpoint.parameters);
  checkpoint.created_at = kNow + absl::Minutes(round);
  return checkpoint;
}

RoundRecord Round(const std::string& job_id, int64_t round, int64_t attempt,
                  const std::string& outcome) {
  RoundRecord record;
  record.job_id = job_id;
  record.round = round;
  record.attempt = attempt;
  record.outcome = outcome;
  record.reason = outcome == "aborted" ? "too few sites" : "";
  record.started_at = kNow + absl::Minutes(10 * round + attempt);
  record.finished_at = record.started_at + absl::Minutes(1);
  record.participants = {{"rfh", "included", ""}, {"guys", "included", ""}};
  record.metrics_json = "{}";
  return record;
}

std::string ReadAll(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, "test file");
  return text.ok() ? *text : "<" + std::string(text.status().message()) + ">";
}

void WriteAll(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

unsigned Mode(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 ? (info.st_mode & 07777) : 0;
}

bool Exists(const std::string& path) { return std::filesystem::exists(path); }

std::vector<std::string> JobIds(Store& store) {
  std::vector<std::string> ids;
  absl::StatusOr<std::vector<JobRecord>> jobs = store.ListJobs();
  EXPECT_OK(jobs.status());
  if (!jobs.ok()) return ids;
  for (const JobRecord& job : *jobs) ids.push_back(job.job_id);
  return ids;
}

// Files in `dir` whose name starts with `prefix`.
std::vector<std::string> FilesStartingWith(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

CoordinatorConfig ConfigFor(const std::string& state_dir) {
  CoordinatorConfig config;
  config.state_dir = state_dir;
  config.crl_file = state_dir + "/crl.pem";
  return config;
}

// A coordinator's state directory with one site, one job (model in the
// object store) that ran its statistics round, lost attempt 1 of round 1
// and completed attempt 2, and a revocation list. The store stays open, as
// in a running coordinator, so recent writes are still in coordinator.db-wal.
class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = ConfigFor(dir_.File("state"));
    ASSERT_OK_AND_ASSIGN(auto objects, ObjectStore::Open(config_.state_dir, 1 << 20));
    ASSERT_OK_AND_ASSIGN(model_sha_, objects->Put(kModelBytes));
    ASSERT_OK_AND_ASSIGN(live_, Store::Open(config_.state_dir + "/coordinator.db"));
    ASSERT_OK(live_->RecordEnrolment("rfh", "01ab", kNow + absl::Hours(24 * 365), "alice", kNow));
    AddJob(*live_, "job-a", model_sha_, /*rounds=*/true);
    WriteAll(config_.crl_file, kCrl);
    ASSERT_GT(std::filesystem::file_size(config_.state_dir + "/coordinator.db-wal"), 0u)
        << "the test means to back up a database with unmerged WAL content";
  }

  // Six audit entries with rounds (created, approved, started, statistics,
  // aborted attempt, round 1), one without.
  static void AddJob(Store& store, const std::string& id, const std::string& model_sha,
                     bool rounds) {
    NewJob job;
    job.job_id = id;
    job.name = "readmission " + id;
    job.spec_json = "{\"name\":\"" + id + "\"}";
    job.spec_sha256 = crypto::Sha256Hex(job.spec_json);
    job.model_sha256 = model_sha;
    job.initial_parameters_sha256 = crypto::Sha256Hex(Parameters(0));
    job.dimension = kDimension;
    job.submitted_by = "ml-lead-bob";
    job.submitted_at = kNow;
    ASSERT_OK(store.CreateJob(job, Audit("job.created", id)));
    ASSERT_OK(store.SaveInitialCheckpoint(Checkpoint(id, 0)));
    if (!rounds) return;
    ASSERT_OK(store.RecordDecision(id, {"governance-carol", kNow, true, "", job.spec_sha256, false},
                                   Audit("job.approved", id)));
    ASSERT_OK(store.SetJobState(id, JobState::kRunning, "round 0", Audit("job.started", id)));
    ASSERT_OK(store.CommitStatistics(Round(id, 0, 1, "completed"), "{\"mean\":[1]}",
                                     Audit("round.statistics", id)));
    ASSERT_OK(store.RecordAbortedAttempt(Round(id, 1, 1, "aborted"), Audit("round.aborted", id)));
    RoundCommit commit;
    commit.round = Round(id, 1, 2, "completed");
    commit.checkpoint = Checkpoint(id, 1);
    for (const char* site : {"rfh", "guys"}) {
      commit.ledger.push_back({id, 1, site, "cohort", "[]", kNow});
    }
    commit.audit = Audit("round.committed", id);
    ASSERT_OK(store.CommitRound(commit));
  }

  BackupResult Backup(const std::string& out) {
    absl::StatusOr<BackupResult> result = BackupCoordinator(config_, out, /*force=*/false);
    EXPECT_OK(result.status());
    return result.ok() ? *result : BackupResult{};
  }

  TempDir dir_;
  CoordinatorConfig config_;
  std::string model_sha_;
  std::unique_ptr<Store> live_;
};

TEST_F(BackupTest, CopiesEveryRecordTheModelAndTheRevocationListWhileTheStoreIsOpen) {
  const std::string out = dir_.File("backup.db");
  const BackupResult result = Backup(out);
  EXPECT_EQ(result.database_file, out);
  EXPECT_EQ(result.files_dir, out + ".state");
  // Counts from SetUp: 1 site, 1 job, statistics + round 1 completed, 3
  // attempt records, 6 audit entries, one model of sizeof(kModelBytes) - 1.
  const BackupContents& contents = result.contents;
  EXPECT_EQ(contents.sites, 1);
  EXPECT_EQ(contents.jobs, 1);
  EXPECT_EQ(contents.rounds_completed, 2);
  EXPECT_EQ(contents.round_attempts, 3);
  EXPECT_EQ(contents.audit_entries, 6);
  EXPECT_TRUE(contents.audit_chain_verified);
  EXPECT_EQ(contents.model_objects, 1);
  EXPECT_EQ(contents.model_bytes, static_cast<int64_t>(sizeof(kModelBytes) - 1));
  EXPECT_TRUE(contents.has_crl);
  EXPECT_THAT(contents.missing_models, IsEmpty());
  EXPECT_EQ(contents.database_bytes, static_cast<int64_t>(std::filesystem::file_size(out)));
  ASSERT_OK_AND_ASSIGN(int live_version, live_->database().SchemaVersion());
  EXPECT_EQ(contents.schema_version, live_version);

  // The copy is private, one self-contained file (no -wal needed), and a
  // coordinator database with the job's rounds and checkpoints in it.
  EXPECT_EQ(Mode(out), 0600u);
  EXPECT_FALSE(Exists(out + "-wal"));
  ASSERT_OK_AND_ASSIGN(auto copy, Store::OpenReadOnly(out));
  ASSERT_OK_AND_ASSIGN(JobRecord job, copy->GetJob("job-a"));
  EXPECT_EQ(job.rounds_completed, 1);
  EXPECT_EQ(job.standardization_json, "{\"mean\":[1]}");
  ASSERT_OK_AND_ASSIGN(CheckpointRecord checkpoint, copy->GetCheckpoint("job-a", 1));
  EXPECT_EQ(checkpoint.parameters, Parameters(1));
  ASSERT_OK_AND_ASSIGN(auto ledger, copy->ListLedger("job-a"));
  EXPECT_THAT(ledger, SizeIs(2));

  EXPECT_EQ(ReadAll(out + ".state/objects/" + model_sha_), kModelBytes);
  EXPECT_EQ(ReadAll(out + ".state/crl.pem"), kCrl);
  // No temporary file is left beside it.
  EXPECT_THAT(FilesStartingWith(dir_.path(), ".backup.db"), IsEmpty());
  // And the live store goes on working.
  EXPECT_OK(live_->RecordSeen("rfh", "01ab", kNow + absl::Hours(24 * 365), kNow));
}

TEST_F(BackupTest, RefusesAnExistingFileUnlessForced) {
  const std::string out = dir_.File("backup.db");
  WriteAll(out, "yesterday's backup");
  EXPECT_THAT(BackupCoordinator(config_, out, /*force=*/false),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("--force")));
  EXPECT_EQ(ReadAll(out), "yesterday's backup");
  EXPECT_FALSE(Exists(out + ".state"));

  ASSERT_OK(BackupCoordinator(config_, out, /*force=*/true).status());
  ASSERT_OK_AND_ASSIGN(auto copy, Store::OpenReadOnly(out));
  EXPECT_THAT(JobIds(*copy), ElementsAre("job-a"));
}

TEST_F(BackupTest, ReportsAJobWhoseModelIsMissingFromTheObjectStore) {
  ASSERT_EQ(::unlink((config_.state_dir + "/objects/" + model_sha_).c_str()), 0);
  const BackupResult result = Backup(dir_.File("backup.db"));
  EXPECT_THAT(result.contents.missing_models, ElementsAre("job-a (" + model_sha_ + ")"));
  EXPECT_EQ(result.contents.model_objects, 0);
  EXPECT_THAT(FormatBackupResult(result, false), HasSubstr("WARNING"));
}

TEST_F(BackupTest, RefusesAStateDirectoryWithoutADatabase) {
  EXPECT_THAT(BackupCoordinator(ConfigFor(dir_.File("empty")), dir_.File("b.db"), false),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("storage.dir")));
  EXPECT_FALSE(Exists(dir_.File("b.db")));
}

TEST_F(BackupTest, RestoresIntoAFreshStateDirectory) {
  const std::string out = dir_.File("backup.db");
  Backup(out);
  const CoordinatorConfig fresh = ConfigFor(dir_.File("fresh"));
  ASSERT_OK_AND_ASSIGN(RestoreResult restored,
                       RestoreCoordinator(fresh, out, /*force=*/false, kRestoreTime));
  EXPECT_EQ(restored.database_file, fresh.state_dir + "/coordinator.db");
  EXPECT_EQ(restored.previous_database, "");
  EXPECT_EQ(restored.objects_restored, 1);
  EXPECT_TRUE(restored.crl_restored);
  EXPECT_EQ(restored.contents.jobs, 1);
  EXPECT_EQ(restored.contents.audit_entries, 6);

  EXPECT_EQ(Mode(restored.database_file), 0600u);
  EXPECT_EQ(ReadAll(fresh.state_dir + "/objects/" + model_sha_), kModelBytes);
  EXPECT_EQ(ReadAll(fresh.crl_file), kCrl);
  // The coordinator opens it read-write, as at start-up.
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(restored.database_file));
  ASSERT_OK_AND_ASSIGN(JobRecord job, store->GetJob("job-a"));
  EXPECT_EQ(job.state, JobState::kRunning);
  ASSERT_OK_AND_ASSIGN(auto rounds, store->ListRounds("job-a"));
  EXPECT_THAT(rounds, SizeIs(3));
  ASSERT_OK_AND_ASSIGN(AuditCheck audit, store->VerifyAuditChain());
  EXPECT_EQ(audit.entries, 6);
  EXPECT_FALSE(audit.first_bad.has_value());
  // Nothing temporary is left in the state directory.
  EXPECT_THAT(FilesStartingWith(fresh.state_dir, "."), IsEmpty());
}

TEST_F(BackupTest, KeepsTheReplacedDatabaseWithItsWriteAheadLog) {
  const std::string out = dir_.File("backup.db");
  Backup(out);
  // The target: a coordinator that stopped without merging its log (a
  // crash), holding job-b only in coordinator.db-wal. Copying the open
  // store's two files gives exactly that.
  const CoordinatorConfig other = ConfigFor(dir_.File("other"));
  {
    TempDir scratch;
    ASSERT_OK_AND_ASSIGN(auto store, Store::Open(scratch.File("coordinator.db")));
    AddJob(*store, "job-b", model_sha_, /*rounds=*/false);
    ASSERT_OK(CreatePrivateDirectory(other.state_dir));
    for (const char* suffix : {"", "-wal"}) {
      std::filesystem::copy_file(scratch.File(std::string("coordinator.db") + suffix),
                                 other.state_dir + "/coordinator.db" + suffix);
    }
  }
  ASSERT_GT(std::filesystem::file_size(other.state_dir + "/coordinator.db-wal"), 0u);
  WriteAll(other.crl_file, "newer list");

  // Without --force nothing changes.
  EXPECT_THAT(RestoreCoordinator(other, out, /*force=*/false, kRestoreTime),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--force")));
  EXPECT_THAT(FilesStartingWith(other.state_dir, "coordinator.db"),
              ElementsAre("coordinator.db", "coordinator.db-wal"));

  ASSERT_OK_AND_ASSIGN(RestoreResult restored,
                       RestoreCoordinator(other, out, /*force=*/true, kRestoreTime));
  // kRestoreTime is 2027-01-15 08:00:00 UTC.
  const std::string kept = other.state_dir + "/coordinator.db.before-restore-20270115T080000Z";
  EXPECT_EQ(restored.previous_database, kept);
  EXPECT_TRUE(restored.crl_kept);
  EXPECT_FALSE(restored.crl_restored);
  EXPECT_EQ(ReadAll(other.crl_file), "newer list");  // never replaced by an older list
  EXPECT_THAT(FilesStartingWith(other.state_dir, "coordinator.db"),
              ElementsAre("coordinator.db", "coordinator.db.before-restore-20270115T080000Z",
                          "coordinator.db.before-restore-20270115T080000Z-wal"));
  {
    ASSERT_OK_AND_ASSIGN(auto now_live, Store::Open(restored.database_file));
    EXPECT_THAT(JobIds(*now_live), ElementsAre("job-a"));
  }
  // The kept database still has what was only in its log.
  ASSERT_OK_AND_ASSIGN(auto before, Store::Open(kept));
  EXPECT_THAT(JobIds(*before), ElementsAre("job-b"));
}

TEST_F(BackupTest, RefusesFilesThatAreNotCoordinatorBackups) {
  const CoordinatorConfig fresh = ConfigFor(dir_.File("fresh"));
  const std::string text = dir_.File("notes.txt");
  WriteAll(text, std::string(200, 'x'));
  EXPECT_THAT(RestoreCoordinator(fresh, text, false, kRestoreTime),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a SQLite database")));

  const std::string empty = dir_.File("empty.db");
  WriteAll(empty, "");
  EXPECT_THAT(RestoreCoordinator(fresh, empty, false, kRestoreTime),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a SQLite database")));

  // A database of the agent's kind, or anyone's: another application id.
  const std::string foreign = dir_.File("foreign.db");
  {
    DatabaseOptions options;
    options.application_id = 0x12345678;
    options.migrations = {{1, "CREATE TABLE t (x INTEGER);"}};
    ASSERT_OK(Database::Open(foreign, options).status());
  }
  EXPECT_THAT(RestoreCoordinator(fresh, foreign, false, kRestoreTime),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr("another application"), HasSubstr(foreign),
                                        Not(HasSubstr(".restore-")))));
  // A SQLite database with no application id at all.
  const std::string anonymous = dir_.File("anonymous.db");
  {
    DatabaseOptions options;
    options.migrations = {{1, "CREATE TABLE t (x INTEGER);"}};
    ASSERT_OK(Database::Open(anonymous, options).status());
  }
  EXPECT_THAT(RestoreCoordinator(fresh, anonymous, false, kRestoreTime),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("application id")));
  EXPECT_THAT(RestoreCoordinator(fresh, dir_.File("absent.db"), false, kRestoreTime),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent.db")));
  // None of it left a database behind.
  EXPECT_FALSE(Exists(fresh.state_dir + "/coordinator.db"));
}

TEST_F(BackupTest, RefusesABackupFromANewerSchema) {
  const std::string out = dir_.File("backup.db");
  Backup(out);
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(out.c_str(), &raw), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(raw, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
  }
  const std::string before = ReadAll(out);
  const CoordinatorConfig fresh = ConfigFor(dir_.File("fresh"));
  EXPECT_THAT(RestoreCoordinator(fresh, out, false, kRestoreTime),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr("schema version 99"), HasSubstr("newer"),
                                        HasSubstr(out), Not(HasSubstr(".restore-")))));
  EXPECT_FALSE(Exists(fresh.state_dir + "/coordinator.db"));
  EXPECT_THAT(FilesStartingWith(fresh.state_dir, "."), IsEmpty());
  EXPECT_EQ(ReadAll(out), before);  // the backup itself is never modified
}

TEST_F(BackupTest, RefusesALiveDatabaseWithItsLogBesideIt) {
  const CoordinatorConfig fresh = ConfigFor(dir_.File("fresh"));
  EXPECT_THAT(
      RestoreCoordinator(fresh, config_.state_dir + "/coordinator.db", false, kRestoreTime),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("live database, not a backup")));
}

TEST_F(BackupTest, RefusesWhileTheCoordinatorHoldsTheLock) {
  const std::string out = dir_.File("backup.db");
  Backup(out);
  const CoordinatorConfig fresh = ConfigFor(dir_.File("fresh"));
  ASSERT_OK(CreatePrivateDirectory(fresh.state_dir));
  {
    ASSERT_OK_AND_ASSIGN(auto serving, StateDirectoryLock::Acquire(fresh.state_dir, "serve"));
    EXPECT_EQ(Mode(fresh.state_dir + "/coordinator.lock"), 0600u);
    EXPECT_THAT(RestoreCoordinator(fresh, out, true, kRestoreTime),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         ::testing::AllOf(HasSubstr("tessera-coordinator serve"),
                                          HasSubstr(absl::StrCat("process ", ::getpid())),
                                          HasSubstr("systemctl stop"))));
    EXPECT_FALSE(Exists(fresh.state_dir + "/coordinator.db"));
    // A second coordinator is refused the same way.
    EXPECT_THAT(StateDirectoryLock::Acquire(fresh.state_dir, "serve"),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("in use")));
  }
  // Released with its holder.
  EXPECT_OK(RestoreCoordinator(fresh, out, false, kRestoreTime).status());
}

TEST_F(BackupTest, ACoordinatorCannotStartDuringARestore) {
  ASSERT_OK_AND_ASSIGN(auto restoring, StateDirectoryLock::Acquire(config_.state_dir, "restore"));
  EXPECT_THAT(StateDirectoryLock::Acquire(config_.state_dir, "serve"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr("tessera-coordinator restore"),
                                        HasSubstr("wait for it to finish"))));
}

TEST_F(BackupTest, NeedsTheModelsUnlessForced) {
  const std::string out = dir_.File("backup.db");
  Backup(out);
  std::filesystem::remove_all(out + ".state");
  const CoordinatorConfig fresh = ConfigFor(dir_.File("fresh"));
  EXPECT_THAT(RestoreCoordinator(fresh, out, false, kRestoreTime),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr(model_sha_), HasSubstr(".state"))));
  EXPECT_FALSE(Exists(fresh.state_dir + "/coordinator.db"));

  ASSERT_OK_AND_ASSIGN(RestoreResult restored, RestoreCoordinator(fresh, out, true, kRestoreTime));
  EXPECT_THAT(restored.contents.missing_models, ElementsAre("job-a (" + model_sha_ + ")"));
  EXPECT_FALSE(restored.crl_restored);  // the backup's list went with its folder
  ASSERT_OK_AND_ASSIGN(auto store, Store::Open(restored.database_file));
  EXPECT_THAT(JobIds(*store), ElementsAre("job-a"));
}

TEST_F(BackupTest, RefusesADamagedModelFile) {
  const std::string out = dir_.File("backup.db");
  Backup(out);
  WriteAll(out + ".state/objects/" + model_sha_, "tampered model");
  const CoordinatorConfig fresh = ConfigFor(dir_.File("fresh"));
  EXPECT_THAT(RestoreCoordinator(fresh, out, false, kRestoreTime),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("does not match its SHA-256")));
  EXPECT_FALSE(Exists(fresh.state_dir + "/coordinator.db"));
  EXPECT_FALSE(Exists(fresh.state_dir + "/objects/" + model_sha_));
}

TEST_F(BackupTest, PrintsTheCountsForPeopleAndAsJson) {
  const BackupResult result = Backup(dir_.File("backup.db"));
  const std::string text = FormatBackupResult(result, false);
  EXPECT_THAT(text, HasSubstr("2 completed (3 attempts recorded)"));
  EXPECT_THAT(text, HasSubstr("6 entries, chain verified"));
  EXPECT_THAT(text, HasSubstr("tessera-coordinator restore"));
  const std::string json = FormatBackupResult(result, true);
  EXPECT_THAT(json, HasSubstr("\"jobs\": 1"));
  EXPECT_THAT(json, HasSubstr("\"rounds_completed\": 2"));
}

}  // namespace
}  // namespace tessera::coordinator
