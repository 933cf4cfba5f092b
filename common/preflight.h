// Preflight checks for the daemons (`tessera-agent check`,
// `tessera-coordinator check`): the OK / WARN / FAIL report, how it prints
// (for people, or one JSON object with --json), and the checks both daemons
// share (private key file, certificate expiry, state directory, free space).
//
// A check never stops the others: each problem becomes one result that says
// what was found and how to fix it, and the command fails (exit code 1) only
// when at least one result is FAIL. Results hold file names, counts and
// dates, never a secret or a patient value.
//
// Trust IT runs the check as root (the keys are root's, 0600, and systemd
// hands them to the service). What the *service* must be able to read and
// write is then tested as the service's account, the owner of its state
// directory, in a child process that switches to it (RunAsAccount).
//
// Thread-safety: PreflightReport is not thread-safe. RunAsAccount forks, so
// call it before this process starts threads (before any gRPC channel or
// server exists). The other functions are stateless.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tessera {

enum class Verdict { kOk, kWarn, kFail };

// "OK", "WARN" or "FAIL".
absl::string_view VerdictName(Verdict verdict);

struct CheckResult {
  std::string name;  // what was checked: "config", "private key", "dataset diabetes", ...
  Verdict verdict = Verdict::kOk;
  std::string detail;  // what was found
  std::string fix;     // what to do about it; empty for OK
  // Numbers behind the detail, for --json readers ("records": 1000,
  // "days_left": 12). Counts only, never a value from the data.
  std::map<std::string, int64_t> counts;
};

CheckResult Ok(std::string name, std::string detail);
CheckResult Warn(std::string name, std::string detail, std::string fix);
CheckResult Fail(std::string name, std::string detail, std::string fix);

class PreflightReport {
 public:
  void Add(CheckResult result) { results_.push_back(std::move(result)); }
  void Add(std::vector<CheckResult> results);

  const std::vector<CheckResult>& results() const { return results_; }
  int Count(Verdict verdict) const;
  // True when no result is FAIL.
  bool passed() const { return Count(Verdict::kFail) == 0; }

  // For people: one line per check, its fix indented below, then a summary:
  //
  //   OK    config         /etc/tessera/agent.toml: every key known
  //   WARN  certificate    site `rfh` expires on 2026-02-01, in 12 days
  //                        fix: renew it: tessera-agent enroll with a new key path, ...
  //   8 OK, 1 WARN, 0 FAIL
  std::string Text() const;

  // One JSON object:
  //   {"passed": true, "ok": 8, "warn": 1, "fail": 0,
  //    "checks": [{"name": ..., "status": "ok"|"warn"|"fail", "detail": ...,
  //                "fix": ..., "counts": {...}}, ...]}
  std::string Json() const;

  // OK when passed(); FAILED_PRECONDITION saying how many checks failed
  // otherwise (the command's error line; exit code 1).
  absl::Status ToStatus() const;

  // The command's output: Json() or Text() on stdout, then ToStatus().
  absl::Status Print(bool json) const;

 private:
  std::vector<CheckResult> results_;
};

// Results as JSON text and back (how RunAsAccount's child reports).
// DecodeResults: INVALID_ARGUMENT when `text` is not what EncodeResults writes.
std::string EncodeResults(const std::vector<CheckResult>& results);
absl::StatusOr<std::vector<CheckResult>> DecodeResults(absl::string_view text);

// The account a daemon runs as.
struct ServiceAccount {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // user name, or "uid N" when it has none
};

// The owner of `state_dir`: the packages create each state directory for
// the service's own user (mode 0700), and containers run as its owner.
// NOT_FOUND when the directory does not exist; others from stat(2).
absl::StatusOr<ServiceAccount> ServiceAccountOf(const std::string& state_dir);

// The account this process runs as (its effective user).
ServiceAccount CurrentAccount();

// ServiceAccountOf(state_dir), or CurrentAccount() when the directory
// cannot tell (it does not exist yet; its own check reports that).
ServiceAccount ServiceAccountFor(const std::string& state_dir);

// Says whose file access the check tests: OK when this process is root (it
// switches to `service`) or is `service`; WARN when it is another user,
// whose access says little about the service's.
CheckResult CheckIdentity(const ServiceAccount& service, absl::string_view state_dir,
                          absl::string_view program);

// Runs `checks` as `account`: in a child process that takes its user, group
// and supplementary groups when this process is root and `account` is
// another user; in this process otherwise. A child that cannot switch, or
// dies, yields one FAIL result named `name`.
std::vector<CheckResult> RunAsAccount(const ServiceAccount& account, absl::string_view name,
                                      const std::function<std::vector<CheckResult>()>& checks);

// The private key at `path`: a regular file, no permission bits for group
// or others (common/files.h CheckPrivateKeyFileMode), owned by root or by
// `service`. FAIL with the `chmod`/`chown` to run otherwise.
CheckResult CheckPrivateKeyFile(const std::string& path, const ServiceAccount& service);

// Expiry of a certificate already verified: OK with the date and days left,
// WARN when it expires within `warn_within` of `now`, FAIL when it has
// expired. `subject` names it in the detail ("site `rfh`"); `renew` is the
// fix.
CheckResult CheckExpiry(absl::string_view name, absl::string_view subject, absl::Time not_after,
                        absl::Time now, absl::Duration warn_within, absl::string_view renew);

// Free space for a state directory: OK, or WARN when `free_bytes` is under
// `warn_below`. Pure, so that tests need no full disk.
CheckResult EvaluateFreeSpace(absl::string_view name, const std::string& dir, uint64_t free_bytes,
                              uint64_t warn_below);

// The state directory `dir`, as the account running this (see
// RunAsAccount): it is a directory this account can write (a file is
// created, synced and removed), has no permission bits for group or others
// (WARN), and has `warn_below` bytes free (statvfs; WARN). A directory that
// does not exist yet but whose parent does is a WARN (the daemons create it
// at start), with the parent's free space. Returns one result named `name`
// and one named "free space".
std::vector<CheckResult> CheckStateDirectory(absl::string_view name, const std::string& dir,
                                             uint64_t warn_below);

// The files the service reads at start (CA, certificate, revocation list),
// opened for reading by the account running this (see RunAsAccount). OK
// listing them, or FAIL naming each one it cannot read. Each entry is
// {what, path}; an empty path is skipped.
CheckResult CheckReadableFiles(absl::string_view name,
                               const std::vector<std::pair<std::string, std::string>>& files);

// Splits "host:port" or "[v6 address]:port" (the form of coordinator.address
// and server.listen). Returns false when there is no port; `host` is then
// the whole target.
bool SplitHostPort(absl::string_view target, std::string* host, std::string* port);

inline constexpr uint64_t kGiB = uint64_t{1} << 30;

// The TCP sockets of this machine in the LISTEN state, from /proc/net/tcp
// and /proc/net/tcp6 (as `ss -ltn` finds them): each socket's "socket:[INODE]"
// (the target of a process's /proc/PID/fd link to it) → its local port.
// Empty when /proc cannot be read.
std::map<std::string, int> ListeningTcpSockets();

}  // namespace tessera
