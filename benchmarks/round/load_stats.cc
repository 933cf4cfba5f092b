#include "benchmarks/round/load_stats.h"

#include "absl/time/clock.h"
#include "benchmarks/round/process_stats.h"

namespace tessera::loadgen {

Mark LoadStats::Sample() const {
  Mark mark;
  mark.time = absl::Now();
  mark.coordinator_cpu_seconds = ProcessCpuSeconds(coordinator_).value_or(0.0);
  mark.coordinator_rss_bytes = ProcessMemoryBytes(coordinator_, "VmRSS").value_or(0);
  mark.loadgen_cpu_seconds = SelfCpuSeconds();
  return mark;
}

void LoadStats::AddTraffic(uint32_t round, uint64_t sent, uint64_t received, uint64_t downloaded) {
  absl::MutexLock lock(&mutex_);
  Traffic& traffic = traffic_[round];
  traffic.sent += sent;
  traffic.received += received;
  traffic.downloaded += downloaded;
}

void LoadStats::MarkTask(uint32_t round) {
  {
    absl::MutexLock lock(&mutex_);
    if (marks_.count(round) > 0) return;
  }
  // Sampled outside the lock (it reads /proc); a second site racing here
  // loses at the emplace below.
  const Mark mark = Sample();
  absl::MutexLock lock(&mutex_);
  marks_.emplace(round, mark);
}

void LoadStats::MarkStage(uint32_t round, int stage) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mutex_);
  stages_.emplace(std::make_pair(round, stage), now);
}

std::map<std::pair<uint32_t, int>, absl::Time> LoadStats::stage_marks() const {
  absl::MutexLock lock(&mutex_);
  return stages_;
}

void LoadStats::AddError(const std::string& message) {
  absl::MutexLock lock(&mutex_);
  ++errors_;
  if (first_errors_.size() < kKeptErrors) first_errors_.push_back(message);
}

std::map<uint32_t, Traffic> LoadStats::traffic() const {
  absl::MutexLock lock(&mutex_);
  return traffic_;
}

std::map<uint32_t, Mark> LoadStats::task_marks() const {
  absl::MutexLock lock(&mutex_);
  return marks_;
}

int64_t LoadStats::error_count() const {
  absl::MutexLock lock(&mutex_);
  return errors_;
}

std::vector<std::string> LoadStats::first_errors() const {
  absl::MutexLock lock(&mutex_);
  return first_errors_;
}

Permits::Held::Held(Permits& permits) : permits_(permits) {
  absl::MutexLock lock(&permits_.mutex_);
  auto free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(permits_.mutex_) {
    return permits_.available_ > 0;
  };
  permits_.mutex_.Await(absl::Condition(&free));
  --permits_.available_;
}

Permits::Held::~Held() {
  absl::MutexLock lock(&permits_.mutex_);
  ++permits_.available_;
}

bool SendBarrier::Arrive(const std::string& key, size_t expected, absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  ++arrived_[key];
  auto all_in = [this, &key, expected]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return arrived_[key] >= expected; };
  return mutex_.AwaitWithTimeout(absl::Condition(&all_in), timeout);
}

}  // namespace tessera::loadgen
