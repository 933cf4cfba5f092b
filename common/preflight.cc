#include "common/preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

std::string AccountName(uid_t uid) {
  struct passwd entry;
  struct passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(uid, &entry, buffer, sizeof(buffer), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return absl::StrCat("uid ", uid);
}

std::string ErrnoText(int err) {
  char buffer[256];
  // GNU strerror_r returns the message, which may or may not be `buffer`.
  return ::strerror_r(err, buffer, sizeof(buffer));
}

std::string VerdictKey(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kWarn:
      return "warn";
    case Verdict::kFail:
      return "fail";
  }
  return "fail";
}

// Ordered: keys print in the documented order, not alphabetically.
using JsonValue = nlohmann::ordered_json;

JsonValue ToJson(const CheckResult& result) {
  JsonValue counts = JsonValue::object();
  for (const auto& [key, value] : result.counts) counts[key] = value;
  JsonValue json = JsonValue::object();
  json["name"] = result.name;
  json["status"] = VerdictKey(result.verdict);
  json["detail"] = result.detail;
  json["fix"] = result.fix;
  json["counts"] = std::move(counts);
  return json;
}

std::string Dump(const JsonValue& json, int indent) {
  // `replace` instead of throwing on bytes that are not UTF-8 (a file name).
  return json.dump(indent, ' ', false, JsonValue::error_handler_t::replace);
}

bool WriteAll(int fd, const std::string& text) {
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    written += static_cast<size_t>(n);
  }
  return true;
}

std::string GiBText(uint64_t bytes) {
  return absl::StrFormat("%.1f GiB", static_cast<double>(bytes) / static_cast<double>(kGiB));
}

// Appends the "free space" result for `dir` to `results`.
std::vector<CheckResult> MeasureFreeSpace(std::vector<CheckResult> results, const std::string& dir,
                                          uint64_t warn_below) {
  struct statvfs space;
  if (::statvfs(dir.c_str(), &space) != 0) {
    results.push_back(Warn(
        "free space", absl::StrCat("cannot measure free space of `", dir, "`: ", ErrnoText(errno)),
        "check it by hand with `df -h`"));
  } else {
    results.push_back(EvaluateFreeSpace(
        "free space", dir, static_cast<uint64_t>(space.f_bavail) * space.f_frsize, warn_below));
  }
  return results;
}

}  // namespace

absl::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk:
      return "OK";
    case Verdict::kWarn:
      return "WARN";
    case Verdict::kFail:
      return "FAIL";
  }
  return "FAIL";
}

CheckResult Ok(std::string name, std::string detail) {
  return {std::move(name), Verdict::kOk, std::move(detail), "", {}};
}

CheckResult Warn(std::string name, std::string detail, std::string fix) {
  return {std::move(name), Verdict::kWarn, std::move(detail), std::move(fix), {}};
}

CheckResult Fail(std::string name, std::string detail, std::string fix) {
  return {std::move(name), Verdict::kFail, std::move(detail), std::move(fix), {}};
}

// ------------------------------------------------------------------ report

void PreflightReport::Add(std::vector<CheckResult> results) {
  for (CheckResult& result : results) results_.push_back(std::move(result));
}

int PreflightReport::Count(Verdict verdict) const {
  return static_cast<int>(
      std::count_if(results_.begin(), results_.end(),
                    [verdict](const CheckResult& r) { return r.verdict == verdict; }));
}

std::string PreflightReport::Text() const {
  size_t width = 0;
  for (const CheckResult& result : results_) width = std::max(width, result.name.size());
  const int name_width = static_cast<int>(width);
  // Continuation lines (a configuration with several problems) line up
  // under the detail.
  const std::string indent(5 + 1 + width + 2, ' ');
  const auto indented = [&indent](absl::string_view text) {
    return absl::StrReplaceAll(text, {{"\n", absl::StrCat("\n", indent)}});
  };
  std::string text;
  for (const CheckResult& result : results_) {
    absl::StrAppendFormat(&text, "%-5s %-*s  %s\n", VerdictName(result.verdict), name_width,
                          result.name, indented(result.detail));
    if (!result.fix.empty()) {
      absl::StrAppend(&text, indent, "fix: ", indented(result.fix), "\n");
    }
  }
  absl::StrAppend(&text, Count(Verdict::kOk), " OK, ", Count(Verdict::kWarn), " WARN, ",
                  Count(Verdict::kFail), " FAIL\n");
  return text;
}

std::string PreflightReport::Json() const {
  JsonValue checks = JsonValue::array();
  for (const CheckResult& result : results_) checks.push_back(ToJson(result));
  JsonValue json = JsonValue::object();
  json["passed"] = passed();
  json["ok"] = Count(Verdict::kOk);
  json["warn"] = Count(Verdict::kWarn);
  json["fail"] = Count(Verdict::kFail);
  json["checks"] = std::move(checks);
  return Dump(json, 2);
}

absl::Status PreflightReport::Print(bool json) const {
  std::cout << (json ? Json() + "\n" : Text()) << std::flush;
  return ToStatus();
}

absl::Status PreflightReport::ToStatus() const {
  const int failed = Count(Verdict::kFail);
  if (failed == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      failed, " of ", results_.size(), " checks failed; each FAIL says how to fix it"));
}

std::string EncodeResults(const std::vector<CheckResult>& results) {
  JsonValue array = JsonValue::array();
  for (const CheckResult& result : results) array.push_back(ToJson(result));
  return Dump(array, -1);
}

absl::StatusOr<std::vector<CheckResult>> DecodeResults(absl::string_view text) {
  const JsonValue json =
      JsonValue::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  const auto invalid = [] {
    return absl::InvalidArgumentError("the check's child process sent results that do not parse");
  };
  if (!json.is_array()) return invalid();
  std::vector<CheckResult> results;
  for (const JsonValue& item : json) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string() ||
        !item.contains("status") || !item["status"].is_string() || !item.contains("detail") ||
        !item["detail"].is_string() || !item.contains("fix") || !item["fix"].is_string() ||
        !item.contains("counts") || !item["counts"].is_object()) {
      return invalid();
    }
    CheckResult result;
    result.name = item["name"].get<std::string>();
    const std::string status = item["status"].get<std::string>();
    if (status == "ok") {
      result.verdict = Verdict::kOk;
    } else if (status == "warn") {
      result.verdict = Verdict::kWarn;
    } else if (status == "fail") {
      result.verdict = Verdict::kFail;
    } else {
      return invalid();
    }
    result.detail = item["detail"].get<std::string>();
    result.fix = item["fix"].get<std::string>();
    for (const auto& [key, value] : item["counts"].items()) {
      if (!value.is_number_integer()) return invalid();
      result.counts[key] = value.get<int64_t>();
    }
    results.push_back(std::move(result));
  }
  return results;
}

// ------------------------------------------------------------ accounts

absl::StatusOr<ServiceAccount> ServiceAccountOf(const std::string& state_dir) {
  struct stat info;
  if (::stat(state_dir.c_str(), &info) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat("state directory `", state_dir, "` does not exist"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot inspect state directory `", state_dir, "`: ", ErrnoText(err)));
  }
  return ServiceAccount{info.st_uid, info.st_gid, AccountName(info.st_uid)};
}

ServiceAccount CurrentAccount() {
  return ServiceAccount{::geteuid(), ::getegid(), AccountName(::geteuid())};
}

ServiceAccount ServiceAccountFor(const std::string& state_dir) {
  absl::StatusOr<ServiceAccount> owner = ServiceAccountOf(state_dir);
  return owner.ok() ? *owner : CurrentAccount();
}

CheckResult CheckIdentity(const ServiceAccount& service, absl::string_view state_dir,
                          absl::string_view program) {
  const uid_t me = ::geteuid();
  if (me == service.uid) {
    return Ok("identity",
              absl::StrCat("running as `", service.name, "`, the owner of `", state_dir, "`"));
  }
  if (me == 0) {
    return Ok("identity", absl::StrCat("running as root; what the service reads and writes is "
                                       "tested as `",
                                       service.name, "`, the owner of `", state_dir, "`"));
  }
  return Warn("identity",
              absl::StrCat("running as `", AccountName(me), "`, neither root nor `", service.name,
                           "` (the owner of `", state_dir, "`); file access is tested for `",
                           AccountName(me), "`, not for the service"),
              absl::StrCat("run it as root: sudo ", program, " check ..."));
}

std::vector<CheckResult> RunAsAccount(const ServiceAccount& account, absl::string_view name,
                                      const std::function<std::vector<CheckResult>()>& checks) {
  if (::geteuid() != 0 || account.uid == ::geteuid()) return checks();
  const std::string check_name(name);
  // Everything the child needs is prepared here: after fork() it only
  // switches identity, runs the checks and writes.
  std::vector<gid_t> groups(32);
  struct passwd entry;
  struct passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(account.uid, &entry, buffer, sizeof(buffer), &found) == 0 && found != nullptr) {
    int count = static_cast<int>(groups.size());
    while (::getgrouplist(found->pw_name, account.gid, groups.data(), &count) == -1) {
      groups.resize(static_cast<size_t>(count));
    }
    groups.resize(static_cast<size_t>(count));
  } else {
    groups = {account.gid};
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return {Fail(check_name, absl::StrCat("cannot create a pipe: ", ErrnoText(errno)),
                 "check the process limits (ulimit -n)")};
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return {Fail(check_name, absl::StrCat("cannot start a process: ", ErrnoText(err)),
                 "check the process limits (ulimit -u)")};
  }
  if (pid == 0) {
    ::close(fds[0]);
    std::vector<CheckResult> results;
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(account.gid) != 0 ||
        ::setuid(account.uid) != 0) {
      results = {Fail(check_name,
                      absl::StrCat("cannot switch to the service account `", account.name,
                                   "`: ", ErrnoText(errno)),
                      "run the check as root, outside any sandbox")};
    } else {
      results = checks();
    }
    // _exit: no atexit handlers or static destructors of the parent's state.
    ::_exit(WriteAll(fds[1], EncodeResults(results)) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string text;
  char chunk[4096];
  while (true) {
    const ssize_t n = ::read(fds[0], chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(chunk, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return {Fail(
        check_name,
        absl::StrCat("the check running as `", account.name, "` ended abnormally",
                     WIFSIGNALED(status) ? absl::StrCat(" (signal ", WTERMSIG(status), ")") : ""),
        "run it again; if it persists, report it with the output above")};
  }
  absl::StatusOr<std::vector<CheckResult>> results = DecodeResults(text);
  if (!results.ok()) {
    return {Fail(check_name, std::string(results.status().message()),
                 "run it again; if it persists, report it with the output above")};
  }
  return *std::move(results);
}

// ------------------------------------------------------------ shared checks

CheckResult CheckPrivateKeyFile(const std::string& path, const ServiceAccount& service) {
  const char kName[] = "private key";
  absl::Status mode = CheckPrivateKeyFileMode(path);
  if (absl::IsNotFound(mode)) {
    return Fail(kName, std::string(mode.message()),
                "check `tls.key_file`; a site creates its key with `tessera-agent enroll`, the "
                "coordinator's comes from `tessera pki issue`");
  }
  if (!mode.ok()) {
    return Fail(kName, std::string(mode.message()),
                absl::StrCat("chmod 600 ", path, " (and keep it readable by root only)"));
  }
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    return Fail(kName, absl::StrCat("cannot inspect `", path, "`: ", ErrnoText(errno)),
                "check the path and the permissions of its directories");
  }
  if (info.st_uid != 0 && info.st_uid != service.uid) {
    return Fail(kName,
                absl::StrCat("private key `", path, "` is owned by `", AccountName(info.st_uid),
                             "`, who can read it; it should be owned by root (systemd hands it "
                             "to the service) or by the service account `",
                             service.name, "`"),
                absl::StrCat("chown root:root ", path));
  }
  return Ok(kName, absl::StrFormat("`%s`: mode %04o, owned by `%s`", path, info.st_mode & 07777,
                                   AccountName(info.st_uid)));
}

CheckResult CheckExpiry(absl::string_view name, absl::string_view subject, absl::Time not_after,
                        absl::Time now, absl::Duration warn_within, absl::string_view renew) {
  const std::string date = absl::FormatTime("%Y-%m-%d", not_after, absl::UTCTimeZone());
  const int64_t days_left =
      static_cast<int64_t>(std::floor(absl::FDivDuration(not_after - now, absl::Hours(24))));
  CheckResult result;
  if (not_after <= now) {
    result =
        Fail(std::string(name), absl::StrCat(subject, " expired on ", date), std::string(renew));
  } else if (not_after - now < warn_within) {
    result = Warn(std::string(name),
                  absl::StrCat(subject, " expires on ", date, ", in ", days_left,
                               days_left == 1 ? " day" : " days"),
                  std::string(renew));
  } else {
    result = Ok(std::string(name),
                absl::StrCat(subject, " valid until ", date, " (", days_left, " days)"));
  }
  result.counts["days_left"] = days_left;
  return result;
}

CheckResult EvaluateFreeSpace(absl::string_view name, const std::string& dir, uint64_t free_bytes,
                              uint64_t warn_below) {
  CheckResult result;
  const std::string detail = absl::StrCat("`", dir, "`: ", GiBText(free_bytes), " free");
  if (free_bytes < warn_below) {
    result = Warn(std::string(name), absl::StrCat(detail, ", under ", GiBText(warn_below)),
                  "free space on that file system, or move the state directory to a larger one");
  } else {
    result = Ok(std::string(name), detail);
  }
  result.counts["free_bytes"] = static_cast<int64_t>(std::min<uint64_t>(free_bytes, INT64_MAX));
  return result;
}

std::vector<CheckResult> CheckStateDirectory(absl::string_view name, const std::string& dir,
                                             uint64_t warn_below) {
  const std::string check_name(name);
  const ServiceAccount me = CurrentAccount();
  std::vector<CheckResult> results;
  struct stat info;
  if (::stat(dir.c_str(), &info) != 0) {
    const int err = errno;
    const std::string parent = dir.substr(0, dir.find_last_of('/') + 1);
    struct stat parent_info;
    if (err == ENOENT && !parent.empty() && ::stat(parent.c_str(), &parent_info) == 0 &&
        S_ISDIR(parent_info.st_mode)) {
      results.push_back(
          Warn(check_name,
               absl::StrCat("`", dir,
                            "` does not exist yet; it is created "
                            "(mode 0700) when the service starts"),
               absl::StrCat("to create it now: install -d -m 0700 -o ", me.name, " ", dir)));
      return MeasureFreeSpace(std::move(results), parent, warn_below);
    }
    if (err == ENOENT) {
      return {Fail(check_name, absl::StrCat("`", dir, "` does not exist, nor its parent"),
                   absl::StrCat("install -d -m 0700 -o ", me.name, " ", dir))};
    }
    return {Fail(check_name,
                 absl::StrCat("cannot inspect `", dir, "` as `", me.name, "`: ", ErrnoText(err)),
                 absl::StrCat("give `", me.name, "` access to it and the folders above it"))};
  }
  if (!S_ISDIR(info.st_mode)) {
    return {Fail(check_name, absl::StrCat("`", dir, "` is not a directory"),
                 "point the configuration at a directory")};
  }
  std::string temp = dir + "/.tessera-check-XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    const int err = errno;
    results.push_back(
        Fail(check_name,
             absl::StrCat("`", me.name, "` cannot create a file in `", dir, "`: ", ErrnoText(err)),
             err == EROFS ? "mount it read-write (under systemd it is the unit's StateDirectory)"
                          : absl::StrCat("chown ", me.name, " ", dir, " && chmod 700 ", dir)));
  } else {
    const bool written = WriteAll(fd, "tessera check\n") && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    if (!written) {
      results.push_back(Fail(
          check_name, absl::StrCat("`", me.name, "` cannot write to `", dir, "`: ", ErrnoText(err)),
          "check the file system (full, read-only, or failing)"));
    } else if ((info.st_mode & 077) != 0) {
      results.push_back(
          Warn(check_name,
               absl::StrFormat("`%s` is writable by `%s` but has mode %04o: other users can look "
                               "inside",
                               dir, me.name, info.st_mode & 07777),
               absl::StrCat("chmod 700 ", dir)));
    } else {
      results.push_back(Ok(check_name, absl::StrFormat("`%s`: writable by `%s`, mode %04o", dir,
                                                       me.name, info.st_mode & 07777)));
    }
  }
  return MeasureFreeSpace(std::move(results), dir, warn_below);
}

CheckResult CheckReadableFiles(absl::string_view name,
                               const std::vector<std::pair<std::string, std::string>>& files) {
  const std::string me = CurrentAccount().name;
  std::vector<std::string> readable;
  std::vector<std::string> problems;
  for (const auto& [what, path] : files) {
    if (path.empty()) continue;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      problems.push_back(absl::StrCat(what, " `", path, "`: ", ErrnoText(errno)));
      continue;
    }
    ::close(fd);
    readable.push_back(absl::StrCat("`", path, "`"));
  }
  if (!problems.empty()) {
    return Fail(std::string(name),
                absl::StrCat("`", me, "` cannot read ", absl::StrJoin(problems, "; ")),
                absl::StrCat("make each file readable by `", me,
                             "` (certificates and revocation lists are public: chmod 644) and "
                             "its folders enterable"));
  }
  return Ok(std::string(name),
            absl::StrCat("readable by `", me, "`: ", absl::StrJoin(readable, ", ")));
}

bool SplitHostPort(absl::string_view target, std::string* host, std::string* port) {
  if (!target.empty() && target.front() == '[') {
    const size_t close = target.find(']');
    if (close != absl::string_view::npos && close + 2 < target.size() && target[close + 1] == ':') {
      *host = std::string(target.substr(1, close - 1));
      *port = std::string(target.substr(close + 2));
      return true;
    }
    *host = std::string(target);
    return false;
  }
  const size_t colon = target.rfind(':');
  if (colon == absl::string_view::npos || colon + 1 == target.size() || target.find(':') != colon) {
    *host = std::string(target);
    return false;
  }
  *host = std::string(target.substr(0, colon));
  *port = std::string(target.substr(colon + 1));
  return true;
}

std::map<std::string, int> ListeningTcpSockets() {
  std::map<std::string, int> sockets;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
      // sl local_address rem_address st ... inode (field 9); st 0A is LISTEN.
      if (fields.size() < 10 || fields[3] != "0A") continue;
      const size_t colon = fields[1].rfind(':');
      unsigned int port = 0;
      if (colon == std::string::npos || !absl::SimpleHexAtoi(fields[1].substr(colon + 1), &port)) {
        continue;
      }
      sockets[absl::StrCat("socket:[", fields[9], "]")] = static_cast<int>(port);
    }
  }
  return sockets;
}

}  // namespace tessera
