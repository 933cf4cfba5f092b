#include "coordinator/site_registry.h"

namespace tessera::coordinator {

bool SiteRegistry::RecordHeartbeat(const std::string& site_id, const SiteReport& report) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mutex_);
  auto [it, inserted] = sites_.try_emplace(site_id);
  SiteState& state = it->second;
  state.site_id = site_id;
  state.last_seen = now;
  // A restarted agent starts counting from 1 again; treat a sequence number
  // of 1 as a new process rather than a stale duplicate.
  const bool new_certificate = state.report.certificate_serial != report.certificate_serial;
  if (inserted || report.sequence > state.report.sequence || report.sequence <= 1) {
    state.report = report;
    state.clock_skew = report.agent_time - now;
  }
  if (inserted || new_certificate || now - state.persisted >= absl::Minutes(1)) {
    state.persisted = now;
    return true;
  }
  return false;
}

std::vector<SiteState> SiteRegistry::List() const {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mutex_);
  std::vector<SiteState> sites;
  sites.reserve(sites_.size());
  for (const auto& [id, state] : sites_) {
    SiteState copy = state;
    copy.connected = now - state.last_seen <= liveness_window_;
    sites.push_back(std::move(copy));
  }
  return sites;
}

size_t SiteRegistry::ConnectedCount() const {
  size_t count = 0;
  for (const SiteState& site : List()) count += site.connected ? 1 : 0;
  return count;
}

}  // namespace tessera::coordinator
