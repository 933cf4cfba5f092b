#include "coordinator/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/status.h"
#include "coordinator/store.h"
#include "crypto/sha256.h"
#include "nlohmann/json.hpp"

namespace tessera::coordinator {
namespace {

constexpr size_t kCopyChunk = size_t{1} << 20;

absl::Status ErrnoError(int err, absl::string_view action, const std::string& path) {
  std::string message = absl::StrCat("cannot ", action, " `", path, "`: ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(
          absl::StrCat(message, "; run as root or as the coordinator's service account"));
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(absl::StrCat(message, "; free some disk space"));
    default:
      return absl::FailedPreconditionError(message);
  }
}

// A file descriptor closed on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error close() gives (a delayed write error).
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// Removes the listed files on destruction unless released: a failed backup
// or restore leaves no half-written file behind.
class Cleanup {
 public:
  void Add(std::string path) { paths_.push_back(std::move(path)); }
  void Release() { paths_.clear(); }
  ~Cleanup() {
    for (const std::string& path : paths_) ::unlink(path.c_str());
  }

 private:
  std::vector<std::string> paths_;
};

bool Exists(const std::string& path) {
  struct stat info;
  return ::lstat(path.c_str(), &info) == 0;
}

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status SyncPath(const std::string& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError(errno, "open", path);
  if (::fsync(fd.get()) != 0) return ErrnoError(errno, "flush", path);
  return absl::OkStatus();
}

// A rename is durable only once its folder is synced.
absl::Status SyncDirectory(const std::string& dir) { return SyncPath(dir, O_RDONLY | O_DIRECTORY); }

// Running as root, files we create in the state directory must belong to
// its owner (the service account), or the coordinator cannot open them.
absl::Status MatchOwner(const std::string& path, const std::string& state_dir) {
  if (::geteuid() != 0) return absl::OkStatus();
  struct stat dir_info;
  if (::stat(state_dir.c_str(), &dir_info) != 0) return ErrnoError(errno, "inspect", state_dir);
  if (::lchown(path.c_str(), dir_info.st_uid, dir_info.st_gid) != 0) {
    return ErrnoError(errno, "change the owner of", path);
  }
  return absl::OkStatus();
}

// Copies `from` to the new file `to` (created with `mode`, never over an
// existing file), synced; returns the SHA-256 hex of the bytes copied.
absl::StatusOr<std::string> CopyFile(const std::string& from, const std::string& to, mode_t mode) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return ErrnoError(errno, "read", from);
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (out.get() < 0) return ErrnoError(errno, "create", to);
  Cleanup cleanup;
  cleanup.Add(to);
  if (::fchmod(out.get(), mode) != 0) return ErrnoError(errno, "set the mode of", to);
  crypto::Sha256Hasher hasher;
  std::string buffer(kCopyChunk, '\0');
  while (true) {
    const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "read", from);
    }
    if (n == 0) break;
    const absl::string_view chunk(buffer.data(), static_cast<size_t>(n));
    hasher.Update(crypto::AsBytes(chunk));
    size_t written = 0;
    while (written < chunk.size()) {
      const ssize_t w = ::write(out.get(), chunk.data() + written, chunk.size() - written);
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "write", to);
      }
      written += static_cast<size_t>(w);
    }
  }
  if (::fsync(out.get()) != 0 || out.Close() != 0) return ErrnoError(errno, "flush", to);
  cleanup.Release();
  return crypto::DigestHex(hasher.Finish());
}

// Copies the object file `from` (named by its SHA-256 `sha256_hex`) into
// `dir` as `dir`/`sha256_hex`, through a temporary file, checking the hash.
absl::Status CopyObject(const std::string& from, const std::string& sha256_hex,
                        const std::string& dir, const std::string& owner_dir) {
  const std::string temp = absl::StrCat(dir, "/.incoming-restore-", ::getpid(), "-", sha256_hex);
  ::unlink(temp.c_str());
  TESSERA_ASSIGN_OR_RETURN(std::string actual, CopyFile(from, temp, 0600));
  Cleanup cleanup;
  cleanup.Add(temp);
  if (actual != sha256_hex) {
    return absl::DataLossError(absl::StrCat("model file `", from,
                                            "` does not match its SHA-256 (it hashes to ", actual,
                                            "); the file is damaged: use another backup"));
  }
  if (!owner_dir.empty()) TESSERA_RETURN_IF_ERROR(MatchOwner(temp, owner_dir));
  const std::string target = absl::StrCat(dir, "/", sha256_hex);
  if (::rename(temp.c_str(), target.c_str()) != 0) return ErrnoError(errno, "store", target);
  cleanup.Release();
  return absl::OkStatus();
}

// The backup copy keeps the WAL flag of the live database in its header;
// rollback-journal mode makes the one file complete on its own (no -wal, no
// -shm needed to open it, also read-only).
absl::Status UseRollbackJournal(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
  if (rc == SQLITE_OK) {
    rc = sqlite3_exec(db.get(), "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  }
  if (rc != SQLITE_OK) {
    return absl::InternalError(
        absl::StrCat("cannot finish the backup copy `", path, "`: ", sqlite3_errstr(rc)));
  }
  return absl::OkStatus();
}

struct JobModel {
  std::string job_id;
  std::string model_sha256;
};

// Counts what the database at hand holds and checks its integrity.
absl::StatusOr<BackupContents> Inspect(Store& store, std::vector<JobModel>* models) {
  BackupContents contents;
  TESSERA_RETURN_IF_ERROR(store.database().CheckIntegrity());
  TESSERA_ASSIGN_OR_RETURN(contents.schema_version, store.database().SchemaVersion());
  TESSERA_ASSIGN_OR_RETURN(std::vector<SiteRecord> sites, store.ListSites());
  contents.sites = static_cast<int64_t>(sites.size());
  TESSERA_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, store.ListJobs());
  contents.jobs = static_cast<int64_t>(jobs.size());
  for (const JobRecord& job : jobs) {
    models->push_back({job.job_id, job.model_sha256});
    TESSERA_ASSIGN_OR_RETURN(std::vector<RoundRecord> rounds, store.ListRounds(job.job_id));
    contents.round_attempts += static_cast<int64_t>(rounds.size());
    for (const RoundRecord& round : rounds) {
      if (round.outcome == "completed") ++contents.rounds_completed;
    }
  }
  TESSERA_ASSIGN_OR_RETURN(AuditCheck audit, store.VerifyAuditChain());
  contents.audit_entries = audit.entries;
  contents.audit_chain_verified = !audit.first_bad.has_value();
  if (audit.first_bad.has_value()) {
    contents.audit_problem = absl::StrCat("entry ", *audit.first_bad, ": ", audit.problem);
  }
  return contents;
}

// Errors about the temporary copy are about the file the operator named.
absl::Status AboutFile(const absl::Status& status, const std::string& temp,
                       const std::string& file) {
  return absl::Status(status.code(), absl::StrReplaceAll(status.message(), {{temp, file}}));
}

int64_t FileSize(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 ? static_cast<int64_t>(info.st_size) : 0;
}

// `from` must be a database that carries an application id: SQLite takes
// an empty file, or one with no tables, for an empty database, which would
// "restore" a coordinator with nothing in it.
absl::Status CheckLooksLikeBackup(const std::string& from) {
  Fd fd(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("backup `", from, "` does not exist"));
    }
    return ErrnoError(errno, "read", from);
  }
  // (Checked first: until its log is merged, even the header may be only
  // in the -wal file.)
  if (FileSize(from + "-wal") > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "`", from, "-wal` exists: `", from,
        "` is a live database, not a backup, and part of "
        "its contents is in that file; make a backup of it with `tessera-coordinator backup`"));
  }
  // The SQLite file header (https://www.sqlite.org/fileformat.html, 1.3):
  // 16 bytes of magic, the application id big-endian at offset 68.
  unsigned char header[100];
  const ssize_t n = ::pread(fd.get(), header, sizeof(header), 0);
  if (n < 0) return ErrnoError(errno, "read", from);
  static const char kMagic[] = "SQLite format 3";  // and its NUL
  if (n < static_cast<ssize_t>(sizeof(header)) || std::memcmp(header, kMagic, 16) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("`", from,
                     "` is not a SQLite database, so not a coordinator backup; check the path "
                     "(make backups with `tessera-coordinator backup`)"));
  }
  if (header[68] == 0 && header[69] == 0 && header[70] == 0 && header[71] == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("`", from,
                     "` is a SQLite database but not a Tessera coordinator database (it has no "
                     "application id); check the path"));
  }
  return absl::OkStatus();
}

// Moves `path` to `to` when it exists.
absl::Status MoveIfExists(const std::string& path, const std::string& to) {
  if (!Exists(path)) return absl::OkStatus();
  if (::rename(path.c_str(), to.c_str()) != 0) return ErrnoError(errno, "move", path);
  return absl::OkStatus();
}

// Renames `from` to `to`; without `replace`, never over an existing file.
absl::Status RenameInto(const std::string& from, const std::string& to, bool replace) {
  if (replace) {
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoError(errno, "create", to);
    return absl::OkStatus();
  }
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return absl::OkStatus();
  }
  if (errno == EEXIST) {
    return absl::AlreadyExistsError(
        absl::StrCat("`", to, "` appeared while the backup was made; nothing was written to it"));
  }
  if (errno != EINVAL && errno != ENOSYS) return ErrnoError(errno, "create", to);
  // A file system without RENAME_NOREPLACE: a hard link never replaces.
  if (::link(from.c_str(), to.c_str()) != 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat("`", to, "` appeared while the backup was made; nothing was written to it"));
    }
    return ErrnoError(errno, "create", to);
  }
  ::unlink(from.c_str());
  return absl::OkStatus();
}

std::string Size(int64_t bytes) {
  const double value = static_cast<double>(bytes);
  if (bytes < 1024) return absl::StrCat(bytes, " bytes");
  if (bytes < (int64_t{1} << 20)) return absl::StrFormat("%.1f KiB", value / 1024.0);
  if (bytes < (int64_t{1} << 30)) return absl::StrFormat("%.1f MiB", value / (1024.0 * 1024.0));
  return absl::StrFormat("%.1f GiB", value / (1024.0 * 1024.0 * 1024.0));
}

std::string Count(int64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

nlohmann::json ContentsJson(const BackupContents& contents) {
  return {{"schema_version", contents.schema_version},
          {"database_bytes", contents.database_bytes},
          {"sites", contents.sites},
          {"jobs", contents.jobs},
          {"rounds_completed", contents.rounds_completed},
          {"round_attempts", contents.round_attempts},
          {"audit_entries", contents.audit_entries},
          {"audit_chain_verified", contents.audit_chain_verified},
          {"audit_problem", contents.audit_problem},
          {"model_objects", contents.model_objects},
          {"model_bytes", contents.model_bytes},
          {"revocation_list", contents.has_crl},
          {"missing_models", contents.missing_models}};
}

void AppendContentsText(const BackupContents& contents, std::string* out) {
  absl::StrAppend(out, "  database         ", Size(contents.database_bytes), ", schema version ",
                  contents.schema_version, ", integrity_check ok\n");
  absl::StrAppend(out, "  sites            ", contents.sites, "\n");
  absl::StrAppend(out, "  jobs             ", contents.jobs, "\n");
  absl::StrAppend(out, "  rounds           ", contents.rounds_completed, " completed (",
                  contents.round_attempts, " attempts recorded)\n");
  absl::StrAppend(out, "  audit log        ", Count(contents.audit_entries, "entry", "entries"),
                  ", ",
                  contents.audit_chain_verified ? "chain verified"
                                                : "CHAIN BROKEN at " + contents.audit_problem,
                  "\n");
  absl::StrAppend(out, "  models           ", Count(contents.model_objects, "file", "files"), ", ",
                  Size(contents.model_bytes), "\n");
  absl::StrAppend(out, "  revocation list  ", contents.has_crl ? "yes" : "none", "\n");
  for (const std::string& missing : contents.missing_models) {
    absl::StrAppend(out, "WARNING: the model file of job ", missing,
                    " is missing; that job can neither run nor export its model\n");
  }
}

}  // namespace

// ------------------------------------------------------ StateDirectoryLock

absl::StatusOr<std::unique_ptr<StateDirectoryLock>> StateDirectoryLock::Acquire(
    const std::string& state_dir, absl::string_view holder) {
  const std::string path = absl::StrCat(state_dir, "/", kCoordinatorLockFile);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoError(errno, "open the lock file", path);
  std::unique_ptr<StateDirectoryLock> lock(new StateDirectoryLock(fd));
  // flock, not fcntl: its lock belongs to the open file, so a second
  // Acquire in the same process is refused too.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return ErrnoError(errno, "lock", path);
    char text[128] = {};
    const ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
    std::vector<std::string> words = absl::StrSplit(
        absl::StripAsciiWhitespace(absl::string_view(text, n > 0 ? static_cast<size_t>(n) : 0)),
        ' ', absl::SkipEmpty());
    int64_t pid = 0;
    const bool known = words.size() == 2 && absl::SimpleAtoi(words[1], &pid);
    const std::string who =
        known ? absl::StrCat("`tessera-coordinator ", words[0], "` (process ", pid, ")")
              : "another tessera-coordinator";
    const std::string fix =
        known && words[0] != "serve"
            ? "wait for it to finish and try again"
            : "the coordinator is running; stop it first (`systemctl stop tessera-coordinator`) "
              "and try again";
    return absl::FailedPreconditionError(absl::StrCat("the coordinator's state directory `",
                                                      state_dir, "` is in use by ", who,
                                                      ", which holds `", path, "`: ", fix));
  }
  TESSERA_RETURN_IF_ERROR(MatchOwner(path, state_dir));
  const std::string text = absl::StrCat(holder, " ", ::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    return ErrnoError(errno, "write", path);
  }
  return lock;
}

StateDirectoryLock::~StateDirectoryLock() { ::close(fd_); }

// ------------------------------------------------------------------ Backup

std::string BackupFilesDir(const std::string& database_file) { return database_file + ".state"; }

absl::StatusOr<BackupResult> BackupCoordinator(const CoordinatorConfig& config,
                                               const std::string& out, bool force) {
  BackupResult result;
  result.database_file = out;
  result.files_dir = BackupFilesDir(out);
  if (!force && Exists(out)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "`", out, "` already exists; choose another file, or add --force to replace it"));
  }
  struct stat out_dir;
  if (::stat(Dirname(out).c_str(), &out_dir) != 0 || !S_ISDIR(out_dir.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("the folder of `", out, "` does not exist; create it first"));
  }
  const std::string source = absl::StrCat(config.state_dir, "/", kCoordinatorDatabaseFile);
  if (!Exists(source)) {
    return absl::NotFoundError(absl::StrCat("there is no coordinator database at `", source,
                                            "`; check `storage.dir` in the configuration"));
  }

  // 1. The database: a snapshot through SQLite's online backup API, taken
  // from a read-only connection (the running coordinator goes on writing).
  const std::string temp = absl::StrCat(Dirname(out), "/.", Basename(out), ".tmp-", ::getpid());
  Cleanup cleanup;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) cleanup.Add(temp + suffix);
  {
    // Created here, 0600 from the start: SQLite would create it with the
    // process's umask.
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return ErrnoError(errno, "create", temp);
    if (::fchmod(fd.get(), 0600) != 0) return ErrnoError(errno, "set the mode of", temp);
  }
  {
    absl::StatusOr<std::unique_ptr<Store>> live = Store::OpenReadOnly(source);
    if (!live.ok()) return Annotate(live.status(), "cannot back up");
    TESSERA_RETURN_IF_ERROR(AboutFile((*live)->database().BackupTo(temp), temp, out));
  }
  TESSERA_RETURN_IF_ERROR(AboutFile(UseRollbackJournal(temp), temp, out));

  // 2. Check the copy as a coordinator database, and count what it holds.
  std::vector<JobModel> models;
  {
    absl::StatusOr<std::unique_ptr<Store>> copy = Store::OpenReadOnly(temp);
    if (!copy.ok()) return AboutFile(copy.status(), temp, out);
    absl::StatusOr<BackupContents> contents = Inspect(**copy, &models);
    if (!contents.ok()) return AboutFile(contents.status(), temp, out);
    result.contents = *std::move(contents);
  }

  // 3. The models the jobs in the snapshot need. Objects are immutable and
  // never deleted, and a job is stored only after its model, so copying
  // them after the snapshot is consistent with it.
  const std::string objects_out = result.files_dir + "/objects";
  TESSERA_RETURN_IF_ERROR(CreatePrivateDirectory(result.files_dir));
  TESSERA_RETURN_IF_ERROR(CreatePrivateDirectory(objects_out));
  std::set<std::string> copied;
  for (const JobModel& model : models) {
    if (copied.count(model.model_sha256) > 0) continue;
    const std::string object = absl::StrCat(config.state_dir, "/objects/", model.model_sha256);
    if (!Exists(object)) {
      result.contents.missing_models.push_back(
          absl::StrCat(model.job_id, " (", model.model_sha256, ")"));
      continue;
    }
    TESSERA_RETURN_IF_ERROR(CopyObject(object, model.model_sha256, objects_out, ""));
    copied.insert(model.model_sha256);
    ++result.contents.model_objects;
    result.contents.model_bytes += FileSize(object);
  }

  // 4. The revocation list in force, if any (a stale one from an earlier
  // backup of the same name must not stay).
  const std::string crl_out = result.files_dir + "/crl.pem";
  ::unlink(crl_out.c_str());
  if (!config.crl_file.empty() && Exists(config.crl_file)) {
    TESSERA_RETURN_IF_ERROR(CopyFile(config.crl_file, crl_out, 0600).status());
    result.contents.has_crl = true;
  }
  TESSERA_RETURN_IF_ERROR(SyncDirectory(objects_out));
  TESSERA_RETURN_IF_ERROR(SyncDirectory(result.files_dir));

  // 5. The database file appears last, complete and synced.
  TESSERA_RETURN_IF_ERROR(SyncPath(temp, O_RDONLY));
  TESSERA_RETURN_IF_ERROR(RenameInto(temp, out, force));
  cleanup.Release();
  TESSERA_RETURN_IF_ERROR(SyncDirectory(Dirname(out)));
  result.contents.database_bytes = FileSize(out);
  return result;
}

// ----------------------------------------------------------------- Restore

absl::StatusOr<RestoreResult> RestoreCoordinator(const CoordinatorConfig& config,
                                                 const std::string& from, bool force,
                                                 absl::Time now) {
  RestoreResult result;
  const std::string& state_dir = config.state_dir;
  result.database_file = absl::StrCat(state_dir, "/", kCoordinatorDatabaseFile);
  const std::string& target = result.database_file;
  TESSERA_RETURN_IF_ERROR(CheckLooksLikeBackup(from));
  TESSERA_RETURN_IF_ERROR(CreatePrivateDirectory(state_dir));
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<StateDirectoryLock> lock,
                           StateDirectoryLock::Acquire(state_dir, "restore"));
  const bool replacing = Exists(target) || Exists(target + "-wal");
  if (replacing && !force) {
    return absl::FailedPreconditionError(
        absl::StrCat("`", target,
                     "` exists; add --force to replace it with the backup (the current "
                     "database is kept as ",
                     kCoordinatorDatabaseFile, ".before-restore-<time>)"));
  }

  // 1. A private copy in the state directory, opened as the coordinator
  // opens its database: ownership and schema are checked before anything
  // is written, and an older schema is upgraded on the copy.
  const std::string temp =
      absl::StrCat(state_dir, "/.", kCoordinatorDatabaseFile, ".restore-", ::getpid());
  Cleanup cleanup;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
    ::unlink((temp + suffix).c_str());
    cleanup.Add(temp + suffix);
  }
  TESSERA_RETURN_IF_ERROR(CopyFile(from, temp, 0600).status());
  std::vector<JobModel> models;
  {
    absl::StatusOr<std::unique_ptr<Store>> copy = Store::Open(temp);
    if (!copy.ok()) {
      return AboutFile(Annotate(copy.status(), "cannot restore"), temp, from);
    }
    absl::StatusOr<BackupContents> contents = Inspect(**copy, &models);
    if (!contents.ok()) {
      return AboutFile(Annotate(contents.status(), "cannot restore"), temp, from);
    }
    result.contents = *std::move(contents);
  }
  // Closing the last connection checkpointed the copy into its one file.
  if (FileSize(temp + "-wal") > 0) {
    return absl::InternalError(
        absl::StrCat("the restored copy `", temp, "` kept a write-ahead log; try again"));
  }
  result.contents.database_bytes = FileSize(temp);
  TESSERA_RETURN_IF_ERROR(MatchOwner(temp, state_dir));

  // 2. The jobs' models into the object store.
  const std::string backup_objects = BackupFilesDir(from) + "/objects";
  const std::string objects = state_dir + "/objects";
  TESSERA_RETURN_IF_ERROR(CreatePrivateDirectory(objects));
  TESSERA_RETURN_IF_ERROR(MatchOwner(objects, state_dir));
  std::set<std::string> seen;
  for (const JobModel& model : models) {
    if (!seen.insert(model.model_sha256).second) continue;
    const std::string have = absl::StrCat(objects, "/", model.model_sha256);
    const std::string in_backup = absl::StrCat(backup_objects, "/", model.model_sha256);
    if (Exists(in_backup)) {
      ++result.contents.model_objects;
      result.contents.model_bytes += FileSize(in_backup);
    }
    if (Exists(have)) continue;
    if (!Exists(in_backup)) {
      result.contents.missing_models.push_back(
          absl::StrCat(model.job_id, " (", model.model_sha256, ")"));
      continue;
    }
    TESSERA_RETURN_IF_ERROR(CopyObject(in_backup, model.model_sha256, objects, state_dir));
    ++result.objects_restored;
  }
  if (!result.contents.missing_models.empty() && !force) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the model files of ", result.contents.missing_models.size(), " job(s) are neither in `",
        backup_objects, "` nor in `", objects, "` (first: ", result.contents.missing_models[0],
        "); copy the backup's `.state` folder next to it, or add --force to restore without "
        "them (those jobs can then neither run nor export)"));
  }
  TESSERA_RETURN_IF_ERROR(SyncDirectory(objects));

  // 3. The revocation list: never replace the one in force (it can only be
  // newer than the backup's, and an older list would un-revoke).
  const std::string crl_in_backup = BackupFilesDir(from) + "/crl.pem";
  result.contents.has_crl = Exists(crl_in_backup);
  if (result.contents.has_crl && !config.crl_file.empty()) {
    if (Exists(config.crl_file)) {
      result.crl_kept = true;
    } else {
      TESSERA_ASSIGN_OR_RETURN(std::string crl, ReadFileToString(crl_in_backup, "revocation list"));
      TESSERA_RETURN_IF_ERROR(WriteFileAtomically(config.crl_file, crl, 0644));
      TESSERA_RETURN_IF_ERROR(MatchOwner(config.crl_file, state_dir));
      result.crl_restored = true;
    }
  }

  // 4. Swap. The current database and its write-ahead log move aside
  // together (its -wal holds committed transactions the coordinator had
  // not yet copied into the main file; apart, either would be incomplete).
  // Its -shm is only an index of that log, rebuilt from it, and must not
  // stay beside the restored file.
  if (replacing) {
    const std::string stamp = absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone());
    std::string kept = absl::StrCat(target, ".before-restore-", stamp);
    for (int n = 2; Exists(kept) || Exists(kept + "-wal"); ++n) {
      kept = absl::StrCat(target, ".before-restore-", stamp, "-", n);
    }
    TESSERA_RETURN_IF_ERROR(MoveIfExists(target, kept));
    TESSERA_RETURN_IF_ERROR(MoveIfExists(target + "-wal", kept + "-wal"));
    TESSERA_RETURN_IF_ERROR(MoveIfExists(target + "-journal", kept + "-journal"));
    result.previous_database = kept;
  }
  if (::unlink((target + "-shm").c_str()) != 0 && errno != ENOENT) {
    return ErrnoError(errno, "remove", target + "-shm");
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) return ErrnoError(errno, "create", target);
  cleanup.Release();
  TESSERA_RETURN_IF_ERROR(SyncDirectory(state_dir));
  return result;
}

// -------------------------------------------------------------- Printing

std::string FormatBackupResult(const BackupResult& result, bool json) {
  if (json) {
    return nlohmann::json{{"database_file", result.database_file},
                          {"files_dir", result.files_dir},
                          {"contents", ContentsJson(result.contents)}}
               .dump(2) +
           "\n";
  }
  std::string out = absl::StrCat("backed up the coordinator to ", result.database_file,
                                 " (models and revocation list in ", result.files_dir, "/)\n");
  AppendContentsText(result.contents, &out);
  absl::StrAppend(&out,
                  "Keep both together; restore with\n  tessera-coordinator restore --config "
                  "coordinator.toml --from ",
                  result.database_file, "\n");
  return out;
}

std::string FormatRestoreResult(const RestoreResult& result, bool json) {
  if (json) {
    return nlohmann::json{{"database_file", result.database_file},
                          {"previous_database", result.previous_database},
                          {"objects_restored", result.objects_restored},
                          {"revocation_list_restored", result.crl_restored},
                          {"revocation_list_kept", result.crl_kept},
                          {"contents", ContentsJson(result.contents)}}
               .dump(2) +
           "\n";
  }
  std::string out = absl::StrCat("restored the coordinator database ", result.database_file, "\n");
  if (!result.previous_database.empty()) {
    absl::StrAppend(&out, "  the database it replaced is kept as ", result.previous_database, "\n");
  }
  AppendContentsText(result.contents, &out);
  absl::StrAppend(&out, "  ", Count(result.objects_restored, "model file", "model files"),
                  " copied into the object store\n");
  if (result.crl_restored) {
    absl::StrAppend(&out, "  the backup's revocation list was installed as tls.crl_file\n");
  } else if (result.crl_kept) {
    absl::StrAppend(&out,
                    "  the current revocation list (tls.crl_file) was kept; if in doubt, "
                    "copy crl.pem from the CA directory over it\n");
  }
  absl::StrAppend(&out, "Start the coordinator: systemctl start tessera-coordinator\n");
  return out;
}

}  // namespace tessera::coordinator
