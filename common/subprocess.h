// Child processes and private temporary directories, for what runs a whole
// federation on this machine: `tessera simulate`, the load generator
// (benchmarks/round) and the end-to-end tests. Children die with this
// process and stay out of the terminal's Ctrl-C; polls do not block; a stop
// is graceful.
//
// A child is fork/exec'd with stdin from /dev/null and stdout and stderr
// appended to a log file, in a process group of its own (a Ctrl-C at the
// terminal reaches only the parent, which stops its children in order), and
// with PR_SET_PDEATHSIG = SIGKILL, so a parent that dies without cleaning up
// (SIGKILL, a crash) never leaves a child behind. A Subprocess that is
// destroyed while its process runs SIGKILLs and reaps it.
//
// Thread-safety: a Subprocess or TempDir is used from one thread. Start
// children from a thread that lives as long as they should: Linux sends the
// death signal when the thread that forked exits.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tessera {

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that killed it, 0 when it exited
  std::string output;  // the log file: stdout and stderr as written
};

class Subprocess {
 public:
  // Starts `argv` (argv[0] is a path, not looked up in PATH) with `env`
  // added to the environment; stdout and stderr go to `log_path` (created
  // with mode 0600, truncated). INVALID_ARGUMENT for an empty argv; INTERNAL
  // when fork fails. A program that cannot be executed exits with 127.
  static absl::StatusOr<Subprocess> Start(const std::vector<std::string>& argv,
                                          const std::string& log_path,
                                          const std::map<std::string, std::string>& env = {});
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();  // SIGKILLs and reaps the process if it still runs

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  // Sends `signal_number` to the process (nothing once it was reaped).
  void Signal(int signal_number) const;
  // Waits up to `timeout` for the process to exit and reaps it;
  // DEADLINE_EXCEEDED if it is still running then, FAILED_PRECONDITION
  // when it was already reaped.
  absl::StatusOr<RunResult> Wait(absl::Duration timeout);
  // Reaps the process if it has exited; nullopt while it runs (or once it
  // was reaped).
  std::optional<RunResult> Poll();
  // SIGTERM, up to `grace` for it to exit, then SIGKILL. Returns how it
  // ended; FAILED_PRECONDITION when it was already reaped.
  absl::StatusOr<RunResult> Terminate(absl::Duration grace);
  // The process's output so far.
  std::string Output() const;
  bool running() const { return pid_ > 0; }

 private:
  Subprocess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  RunResult Finished(int status);
  pid_t pid_ = -1;
  std::string log_path_;
};

// Runs `argv` to completion (at most `timeout`, then it is killed and
// DEADLINE_EXCEEDED returned) and returns its exit code and output.
absl::StatusOr<RunResult> RunCommand(const std::vector<std::string>& argv, absl::Duration timeout,
                                     const std::map<std::string, std::string>& env = {});

// A fresh private (mode 0700) temporary directory under $TMPDIR (or /tmp),
// removed with its contents on destruction.
class TempDir {
 public:
  // "<tmp>/tessera-test-XXXXXX"; path() is empty if it could not be made.
  TempDir();
  // "<tmp>/<prefix>-XXXXXX". INTERNAL naming the folder when mkdtemp fails.
  static absl::StatusOr<TempDir> Create(absl::string_view prefix);
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir& operator=(TempDir&& other) noexcept;
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  // Removes the directory and its contents now (also done on destruction).
  void Remove();

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Waits up to `timeout` for `path` to exist and be non-empty; returns its
// contents. DEADLINE_EXCEEDED naming the file otherwise.
absl::StatusOr<std::string> WaitForFile(const std::string& path, absl::Duration timeout);

}  // namespace tessera
