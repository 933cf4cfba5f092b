// The coordinator's live view of which sites are connected and what they
// reported in their last heartbeat.
//
// Pure logic: time comes from an injected Clock, so liveness is tested with
// a FakeClock. Identities passed in must come from verified certificates.
//
// Thread-safety: all methods are thread-safe (one internal mutex).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace tessera::coordinator {

struct DatasetSummary {
  std::string name;
  uint64_t record_count_bucket = 0;
};

struct SiteReport {
  std::string agent_version;
  std::string hostname;
  std::vector<DatasetSummary> datasets;
  std::vector<std::string> capabilities;  // coordinator/job/capabilities.h
  uint64_t sequence = 0;      // agent's heartbeat counter
  absl::Time agent_time;      // agent's clock when it sent the report
  std::string certificate_serial;  // of the certificate the agent presented
  absl::Time certificate_expires;
};

struct SiteState {
  std::string site_id;
  SiteReport report;
  absl::Time last_seen;
  absl::Duration clock_skew;  // agent clock minus coordinator clock
  bool connected = false;
  absl::Time persisted = absl::InfinitePast();  // last write of a sighting to the store
};

class SiteRegistry {
 public:
  SiteRegistry(const Clock& clock, absl::Duration liveness_window)
      : clock_(clock), liveness_window_(liveness_window) {}
  SiteRegistry(const SiteRegistry&) = delete;
  SiteRegistry& operator=(const SiteRegistry&) = delete;

  // Records a heartbeat from `site_id`. A report whose sequence number is
  // not newer than the last one seen from the same agent process (a retried
  // or reordered request) refreshes liveness but does not replace the report.
  // Returns true when the sighting should be written to the store: the first
  // from this site since start-up, a new certificate, or a minute since the
  // last write (so the database is not written on every heartbeat).
  bool RecordHeartbeat(const std::string& site_id, const SiteReport& report);

  // Every site ever heard from, sorted by id, with `connected` computed
  // against the liveness window at the current time.
  std::vector<SiteState> List() const;

  // Number of sites heard from within the liveness window.
  size_t ConnectedCount() const;

 private:
  const Clock& clock_;
  const absl::Duration liveness_window_;
  mutable absl::Mutex mutex_;
  std::map<std::string, SiteState> sites_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace tessera::coordinator
