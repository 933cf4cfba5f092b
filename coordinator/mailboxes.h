// Work waiting for each site, and the long poll that hands it out.
//
// Agents only dial out, so the coordinator cannot push: each agent keeps a
// GetWork call open and the coordinator answers it as soon as something is
// posted for that site (a task, the next stage's input, an abort). Waiting
// calls also end when their site's certificate is revoked — so a revoked
// site loses its open call at once, not at its deadline — and on shutdown.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tessera.pb.h"

namespace tessera::coordinator {

class Mailboxes {
 public:
  // Queues `work` for `site` and wakes its waiting call.
  void Post(const std::string& site, tessera::v1::GetWorkResponse work);

  enum class WaitEnd { kWork, kDeadline, kStopped };

  // Waits until work for `site` is queued (returned in `work`), until
  // `deadline` (real time), or until `stop()` returns true — checked
  // whenever Interrupt() is called and at least every `poll` — or Close().
  WaitEnd Take(const std::string& site, absl::Time deadline, const std::function<bool()>& stop,
               tessera::v1::GetWorkResponse* work, absl::Duration poll = absl::Milliseconds(500));

  // Makes every waiting call re-check its stop condition (e.g. after a new
  // revocation list).
  void Interrupt();

  // Ends every waiting call and all later ones with kStopped (shutdown).
  void Close();

  // Queued items for `site` (for status displays and tests).
  size_t Pending(const std::string& site) const;

 private:
  mutable absl::Mutex mutex_;
  std::map<std::string, std::deque<tessera::v1::GetWorkResponse>> queues_ ABSL_GUARDED_BY(mutex_);
  uint64_t interrupts_ ABSL_GUARDED_BY(mutex_) = 0;
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace tessera::coordinator
