// The trust's own record of every privacy spend, kept by its agent in a
// SQLite database it alone writes (<state dir>/ledger.db, mode 0600).
//
// A participation is recorded, with the privacy events of the round,
// *before* the agent sends its masked update: a crash between the two
// leaves privacy recorded but unspent (safe), never spent but unrecorded.
// Recording the same round twice (a retry after a crash) changes nothing.
// The ledger is the agent's budget: LocalPolicy checks each new round
// against everything recorded for the dataset.
//
// Thread-safety: not thread-safe; the agent's round thread owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/sqlite.h"
#include "privacy/dp_event.h"

namespace tessera::agent {

struct Participation {
  std::string job_id;
  int64_t round = 0;
  int64_t attempt = 0;
  std::string dataset;
  absl::Time recorded_at;
  privacy::PrivacyLedger events;  // what the round releases
  double epsilon_after = 0;       // the dataset's spend with this round, at the policy's delta
  double delta = 0;
};

class PrivacyLedgerStore {
 public:
  // Opens or creates the ledger (":memory:" for tests). Errors as
  // Database::Open: a foreign or newer file is refused untouched.
  static absl::StatusOr<std::unique_ptr<PrivacyLedgerStore>> Open(const std::string& path);

  // Records `participation` durably (one transaction, synchronous=FULL).
  // Returns true when it was new, false when the same (job, round, attempt)
  // was already recorded with the same events; FAILED_PRECONDITION when it
  // was recorded with different events (never overwritten).
  absl::StatusOr<bool> Record(const Participation& participation);

  // Every event recorded for `dataset`, oldest first.
  absl::StatusOr<privacy::PrivacyLedger> Spent(const std::string& dataset);

  // Every participation, oldest first (for `tessera-agent budget`).
  absl::StatusOr<std::vector<Participation>> List();

 private:
  explicit PrivacyLedgerStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}
  std::unique_ptr<Database> db_;
};

// Events as JSON text (stable: what the ledger stores) and back.
std::string EventsToJson(const privacy::PrivacyLedger& events);
absl::StatusOr<privacy::PrivacyLedger> EventsFromJson(const std::string& json);

}  // namespace tessera::agent
