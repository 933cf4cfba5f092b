// Starting real Tessera processes from end-to-end tests: fork/exec with the
// output captured to files, bounded waits, and a kill on destruction so a
// failing test never leaves a process behind.
//
// Thread-safety: a Subprocess is used from one thread.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tessera::testing {

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string output;  // stdout followed by stderr
};

class Subprocess {
 public:
  // Starts `argv` with `env` added to the environment; stdout and stderr go
  // to `log_path`.
  static absl::StatusOr<Subprocess> Start(const std::vector<std::string>& argv,
                                          const std::string& log_path,
                                          const std::map<std::string, std::string>& env = {});
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();  // SIGKILLs and reaps the process if it still runs

  pid_t pid() const { return pid_; }
  // Sends `signal_number` to the process.
  void Signal(int signal_number) const;
  // Waits up to `timeout` for the process to exit; DEADLINE_EXCEEDED if it
  // is still running then.
  absl::StatusOr<RunResult> Wait(absl::Duration timeout);
  // The process's output so far.
  std::string Output() const;
  bool running() const { return pid_ > 0; }

 private:
  Subprocess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_ = -1;
  std::string log_path_;
};

// Runs `argv` to completion (at most `timeout`) and returns its exit code and output.
absl::StatusOr<RunResult> RunCommand(const std::vector<std::string>& argv, absl::Duration timeout,
                                     const std::map<std::string, std::string>& env = {});

// A fresh private temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Waits up to `timeout` for `path` to exist and be non-empty; returns its contents.
absl::StatusOr<std::string> WaitForFile(const std::string& path, absl::Duration timeout);

}  // namespace tessera::testing
