#include "common/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tessera {
namespace {

std::string TempRoot() {
  const char* tmpdir = std::getenv("TMPDIR");
  return tmpdir != nullptr && tmpdir[0] != '\0' ? tmpdir : "/tmp";
}

}  // namespace

absl::StatusOr<Subprocess> Subprocess::Start(const std::vector<std::string>& argv,
                                             const std::string& log_path,
                                             const std::map<std::string, std::string>& env) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command line");
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  // The environment: ours, with `env` replacing or adding entries.
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const absl::string_view text(*entry);
    const absl::string_view name = text.substr(0, text.find('='));
    if (env.count(std::string(name)) == 0) environment.emplace_back(text);
  }
  for (const auto& [key, value] : env) environment.push_back(absl::StrCat(key, "=", value));
  std::vector<char*> envp;
  for (std::string& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork failed: ", std::strerror(errno)));
  if (pid == 0) {
    // Die with the parent, even if it is killed before it can stop us; if
    // it already died between fork and prctl, go now.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // A group of our own: a Ctrl-C at the terminal goes to the parent only.
    ::setpgid(0, 0);
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
    }
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    // The parent may block or ignore signals; the child starts with the
    // defaults.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(s, SIG_DFL);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return Subprocess(pid, log_path);
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : pid_(other.pid_), log_path_(std::move(other.log_path_)) {
  other.pid_ = -1;
}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = other.pid_;
    log_path_ = std::move(other.log_path_);
    other.pid_ = -1;
  }
  return *this;
}

Subprocess::~Subprocess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void Subprocess::Signal(int signal_number) const {
  if (pid_ > 0) ::kill(pid_, signal_number);
}

RunResult Subprocess::Finished(int status) {
  RunResult result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  pid_ = -1;
  result.output = Output();
  return result;
}

std::optional<RunResult> Subprocess::Poll() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) return Finished(status);
  return std::nullopt;
}

absl::StatusOr<RunResult> Subprocess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("process already reaped");
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (std::optional<RunResult> result = Poll(); result.has_value()) return *result;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", pid_, " still running after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

absl::StatusOr<RunResult> Subprocess::Terminate(absl::Duration grace) {
  if (pid_ <= 0) return absl::FailedPreconditionError("process already reaped");
  Signal(SIGTERM);
  auto result = Wait(grace);
  if (result.ok()) return result;
  Signal(SIGKILL);
  return Wait(absl::Seconds(10));
}

std::string Subprocess::Output() const {
  std::ifstream in(log_path_);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<RunResult> RunCommand(const std::vector<std::string>& argv, absl::Duration timeout,
                                     const std::map<std::string, std::string>& env) {
  std::string path = TempRoot() + "/tessera-run-XXXXXX";
  const int fd = ::mkstemp(path.data());
  if (fd < 0) return absl::InternalError("cannot create a temporary file for a command's output");
  ::close(fd);
  auto process = Subprocess::Start(argv, path, env);
  if (!process.ok()) {
    ::unlink(path.c_str());
    return process.status();
  }
  auto result = process->Wait(timeout);
  if (!result.ok()) process->Signal(SIGKILL);
  // Reap before the log goes, so nothing writes to an unlinked file.
  if (!result.ok()) (void)process->Wait(absl::Seconds(10));
  ::unlink(path.c_str());
  return result;
}

TempDir::TempDir() {
  auto made = Create("tessera-test");
  if (made.ok()) std::swap(path_, made->path_);
}

absl::StatusOr<TempDir> TempDir::Create(absl::string_view prefix) {
  std::string pattern = absl::StrCat(TempRoot(), "/", prefix, "-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a temporary folder in ", TempRoot(),
                                            ": ", std::strerror(errno),
                                            " (set TMPDIR to a writable folder)"));
  }
  return TempDir(std::move(pattern));
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

void TempDir::Remove() {
  if (!path_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
    path_.clear();
  }
}

TempDir::~TempDir() { Remove(); }

absl::StatusOr<std::string> WaitForFile(const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    if (!text.str().empty()) return text.str();
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("`", path, "` did not appear within ", absl::FormatDuration(timeout)));
}

}  // namespace tessera
