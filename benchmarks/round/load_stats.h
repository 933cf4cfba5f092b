// What the load generator counts while a job runs, and the two small
// synchronisation tools its sites share:
//   * LoadStats: payload bytes each site sends and receives per round, the
//     moment the first site receives each round's task (with the
//     coordinator's CPU time and memory then, and this process's CPU), and
//     errors;
//   * Permits: a counting semaphore that bounds how many sites compute (or
//     transfer) at once, so n in-process sites fit in memory and their CPU
//     use does not depend on n;
//   * SendBarrier: holds the masked inputs of a round until every site has
//     made its own, then lets them go together (--burst: the arrival
//     pattern of sites on their own machines finishing at the same time).
//
// Thread-safety: every class here is thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tessera::loadgen {

// One sample of both processes.
struct Mark {
  absl::Time time;
  double coordinator_cpu_seconds = 0;  // utime + stime so far
  uint64_t coordinator_rss_bytes = 0;  // VmRSS now
  double loadgen_cpu_seconds = 0;      // this process, every thread
};

// Payload bytes of one round, over all sites.
struct Traffic {
  uint64_t sent = 0;        // serialised requests: submissions, polls, download requests
  uint64_t received = 0;    // serialised responses: tasks, stage inputs; downloaded objects
  uint64_t downloaded = 0;  // of `received`: object bytes (model file, global parameters)
};

class LoadStats {
 public:
  explicit LoadStats(pid_t coordinator) : coordinator_(coordinator) {}
  LoadStats(const LoadStats&) = delete;
  LoadStats& operator=(const LoadStats&) = delete;

  // Both processes now. Fields that cannot be read (the coordinator has
  // exited) are 0.
  Mark Sample() const;

  // Adds one message exchange of `round` (the job's round number; 0 is the
  // statistics round).
  void AddTraffic(uint32_t round, uint64_t sent, uint64_t received, uint64_t downloaded = 0);
  // The first call for `round` records Sample(); later calls do nothing.
  void MarkTask(uint32_t round);
  // The first receipt, by any site, of `stage`'s input (STAGE_TRAIN: the
  // task) in `round`, for the memory trace.
  void MarkStage(uint32_t round, int stage);
  // Counts an error; the first few messages are kept for the report.
  void AddError(const std::string& message);

  std::map<uint32_t, Traffic> traffic() const;
  std::map<uint32_t, Mark> task_marks() const;
  // (round, stage) -> when it was first seen.
  std::map<std::pair<uint32_t, int>, absl::Time> stage_marks() const;
  int64_t error_count() const;
  std::vector<std::string> first_errors() const;

 private:
  static constexpr size_t kKeptErrors = 5;
  const pid_t coordinator_;
  mutable absl::Mutex mutex_;
  std::map<uint32_t, Traffic> traffic_ ABSL_GUARDED_BY(mutex_);
  std::map<uint32_t, Mark> marks_ ABSL_GUARDED_BY(mutex_);
  std::map<std::pair<uint32_t, int>, absl::Time> stages_ ABSL_GUARDED_BY(mutex_);
  int64_t errors_ ABSL_GUARDED_BY(mutex_) = 0;
  std::vector<std::string> first_errors_ ABSL_GUARDED_BY(mutex_);
};

class Permits {
 public:
  // `count` >= 1 holders at once.
  explicit Permits(int count) : available_(count) {}
  Permits(const Permits&) = delete;
  Permits& operator=(const Permits&) = delete;

  // Holds one permit from construction (blocking until one is free) to
  // destruction.
  class Held {
   public:
    explicit Held(Permits& permits);
    ~Held();
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

   private:
    Permits& permits_;
  };

 private:
  absl::Mutex mutex_;
  int available_ ABSL_GUARDED_BY(mutex_);
};

class SendBarrier {
 public:
  // Blocks until `expected` callers have arrived with the same `key` (one
  // round), or until `timeout`. Returns false on timeout (the caller goes
  // ahead anyway).
  bool Arrive(const std::string& key, size_t expected, absl::Duration timeout);

 private:
  absl::Mutex mutex_;
  std::map<std::string, size_t> arrived_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace tessera::loadgen
