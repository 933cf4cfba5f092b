// Backup and restore of a coordinator's state, and the lock that tells a
// running coordinator from a stopped one.
//
// What a backup holds. The coordinator's durable state is its SQLite store
// (<storage.dir>/coordinator.db: sites, audit chain, jobs, decisions,
// rounds, checkpoints, central privacy ledger). Two things it needs live
// outside that file and are copied next to it:
//
//   FILE                    the database, copied with SQLite's online backup
//                           API (a consistent snapshot, also while the
//                           coordinator runs), in rollback-journal mode so
//                           the one file is complete; mode 0600
//   FILE.state/objects/     the model file (TorchScript) of every job in the
//                           snapshot, by SHA-256, checked while copied: the
//                           database only holds their hashes, and a job
//                           without its model can neither run nor export
//   FILE.state/crl.pem      the coordinator's copy of the revocation list
//                           (tls.crl_file), when there is one
//
// Not copied, because the database rebuilds them: the other objects in
// <storage.dir>/objects are global parameters (re-published from the
// checkpoints in the database when a round starts or a model is exported)
// and stage payloads of rounds that are over. Nothing in a backup is a
// secret key (the coordinator's key lives in /etc/tessera and is not
// touched), but it holds trained models, the audit log and every site's
// privacy spend: keep it as confidential as the state directory.
//
// The lock. `tessera-coordinator serve` holds an exclusive flock(2) on
// <storage.dir>/coordinator.lock for as long as it runs, and restore takes
// the same lock, so a restore never runs beside a coordinator and a
// coordinator never starts in the middle of a restore. The kernel releases
// the lock when the process ends, however it ends; the file stays.
//
// Thread-safety: the functions are stateless; run one backup or restore of
// a state directory at a time (restore enforces it with the lock).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "coordinator/coordinator_config.h"

namespace tessera::coordinator {

// File names inside the state directory (storage.dir).
inline constexpr char kCoordinatorDatabaseFile[] = "coordinator.db";
inline constexpr char kCoordinatorLockFile[] = "coordinator.lock";

// An exclusive lock on a coordinator's state directory, released on
// destruction (or when the process ends).
class StateDirectoryLock {
 public:
  // Takes the lock on <state_dir>/coordinator.lock, creating the file (mode
  // 0600; when run as root, owned by the owner of `state_dir`, so the
  // service can take it later) and writing `holder` ("serve", "restore")
  // and this process's id into it for the message others get. Does not
  // wait. Errors:
  //   FAILED_PRECONDITION  another process holds it; the message names the
  //                        holder, its process id and what to do;
  //   others               the file cannot be created or locked (naming it).
  static absl::StatusOr<std::unique_ptr<StateDirectoryLock>> Acquire(const std::string& state_dir,
                                                                     absl::string_view holder);

  StateDirectoryLock(const StateDirectoryLock&) = delete;
  StateDirectoryLock& operator=(const StateDirectoryLock&) = delete;
  ~StateDirectoryLock();

 private:
  explicit StateDirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

// What a backup holds, as counted in the copy itself.
struct BackupContents {
  int schema_version = 0;
  int64_t database_bytes = 0;
  int64_t sites = 0;
  int64_t jobs = 0;
  int64_t rounds_completed = 0;  // completed round records (statistics and training)
  int64_t round_attempts = 0;    // every round record, aborted attempts included
  int64_t audit_entries = 0;
  bool audit_chain_verified = false;  // false: `audit_problem` says where it breaks
  std::string audit_problem;
  int64_t model_objects = 0;  // in FILE.state/objects
  int64_t model_bytes = 0;
  bool has_crl = false;  // FILE.state/crl.pem
  // "JOB_ID (model SHA256)" for every job whose model file is in neither
  // the backup nor (for a restore) the state directory's object store.
  std::vector<std::string> missing_models;
};

struct BackupResult {
  std::string database_file;  // FILE
  std::string files_dir;      // FILE.state
  BackupContents contents;
};

// `tessera-coordinator backup`: copies the state of the coordinator
// configured by `config` to `out` and `out`.state/ as described above,
// while the coordinator may be running (it is never paused or locked out).
// `out` appears only complete: it is written to a temporary file in its
// folder, checked with PRAGMA integrity_check and by reopening it as a
// coordinator database, synced and then renamed into place. A model that
// the database names but the object store lacks is not an error (the copy
// is still worth having): it is listed in contents.missing_models. Errors:
//   ALREADY_EXISTS       `out` exists and `force` is false (nothing written);
//   NOT_FOUND            there is no coordinator.db in storage.dir, or the
//                        folder of `out` does not exist;
//   FAILED_PRECONDITION  the database is not a coordinator database, is of
//                        another schema version than this Tessera's, or
//                        cannot be read;
//   DATA_LOSS            the copy fails its integrity check, or a model
//                        file does not match its SHA-256;
//   others               file-system errors, naming the file.
absl::StatusOr<BackupResult> BackupCoordinator(const CoordinatorConfig& config,
                                               const std::string& out, bool force);

struct RestoreResult {
  std::string database_file;      // <storage.dir>/coordinator.db
  std::string previous_database;  // where the replaced database was kept; "" if none
  BackupContents contents;        // of the restored database (at the current schema)
  int64_t objects_restored = 0;   // model files copied into <storage.dir>/objects
  bool crl_restored = false;      // the backup's list was installed as tls.crl_file
  bool crl_kept = false;          // a current tls.crl_file was kept (the backup's is older
                                  // or the same; it is never replaced)
};

// `tessera-coordinator restore`: puts the backup `from` (and
// `from`.state/, when present) in place as the state of the coordinator
// configured by `config`, which must be stopped. Under the state lock:
// copies `from` into the state directory and opens the copy as the
// coordinator would (a backup from an older Tessera is upgraded then; the
// original is never modified), checks its integrity, copies the model files
// it needs into the object store (each checked against its SHA-256), then
// moves the current coordinator.db, and its -wal file if any, aside as
// coordinator.db.before-restore-<UTC time> (nothing is deleted) and renames
// the copy into place (mode 0600; when run as root, owned by the state
// directory's owner). The revocation list from the backup is installed only
// when tls.crl_file does not exist. `now` names the kept file. Errors:
//   FAILED_PRECONDITION  the coordinator is running (or another restore);
//                        `from` is not a coordinator database, is from a
//                        newer Tessera, or is a live database with a -wal
//                        file beside it; storage.dir already has a database
//                        and `force` is false; a job's model file is missing
//                        from both the backup and the object store and
//                        `force` is false;
//   NOT_FOUND            `from` does not exist;
//   DATA_LOSS            `from` fails its integrity check, or a model file
//                        in the backup does not match its SHA-256;
//   others               file-system errors, naming the file.
// On any error before the final renames the database is unchanged; model
// files may have been added to the object store (harmless: objects are
// named by their hash) and a missing tls.crl_file installed.
absl::StatusOr<RestoreResult> RestoreCoordinator(const CoordinatorConfig& config,
                                                 const std::string& from, bool force,
                                                 absl::Time now);

// The backup's side folder: `database_file` + ".state".
std::string BackupFilesDir(const std::string& database_file);

// What the commands print: several lines for people, or one JSON object.
std::string FormatBackupResult(const BackupResult& result, bool json);
std::string FormatRestoreResult(const RestoreResult& result, bool json);

}  // namespace tessera::coordinator
