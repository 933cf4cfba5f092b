#include "coordinator/mailboxes.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace tessera::coordinator {

void Mailboxes::Post(const std::string& site, tessera::v1::GetWorkResponse work) {
  absl::MutexLock lock(&mutex_);
  queues_[site].push_back(std::move(work));
}

Mailboxes::WaitEnd Mailboxes::Take(const std::string& site, absl::Time deadline,
                                   const std::function<bool()>& stop,
                                   tessera::v1::GetWorkResponse* work, absl::Duration poll) {
  absl::MutexLock lock(&mutex_);
  while (true) {
    if (closed_) return WaitEnd::kStopped;
    auto it = queues_.find(site);
    if (it != queues_.end() && !it->second.empty()) {
      *work = std::move(it->second.front());
      it->second.pop_front();
      return WaitEnd::kWork;
    }
    // The stop check may take other locks (revocations); never hold ours then.
    mutex_.Unlock();
    const bool stopped = stop();
    mutex_.Lock();
    if (stopped) return WaitEnd::kStopped;
    const absl::Time now = absl::Now();
    if (now >= deadline) return WaitEnd::kDeadline;
    const uint64_t seen = interrupts_;
    auto changed = [this, &site, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      if (closed_ || interrupts_ != seen) return true;
      auto queue = queues_.find(site);
      return queue != queues_.end() && !queue->second.empty();
    };
    mutex_.AwaitWithDeadline(absl::Condition(&changed), std::min(deadline, now + poll));
  }
}

void Mailboxes::Interrupt() {
  absl::MutexLock lock(&mutex_);
  ++interrupts_;
}

void Mailboxes::Close() {
  absl::MutexLock lock(&mutex_);
  closed_ = true;
}

size_t Mailboxes::Pending(const std::string& site) const {
  absl::MutexLock lock(&mutex_);
  auto it = queues_.find(site);
  return it == queues_.end() ? 0 : it->second.size();
}

}  // namespace tessera::coordinator
