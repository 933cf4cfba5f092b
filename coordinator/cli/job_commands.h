// `tessera job ...`: what ML leads and governance boards see of a job, as
// text for people and JSON for scripts, built from the Admin service's
// replies (ListJobs, GetJob). The commands themselves are registered by
// AddJobCommands (commands.h); the functions here are pure, so tests check
// them from given protos without a coordinator.
//
// The job's settings are read from its canonical JSON (coordinator/job/
// job_spec.h CanonicalJson) as plain JSON: a key the coordinator left out
// shows as "-", never as an error, so an older or newer coordinator can
// still be watched.
//
// Thread-safety: stateless functions; a JobWatch is used from one thread.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tessera.pb.h"

namespace tessera::cli {

// The job states after which nothing more happens: "completed", "stopped",
// "failed", "rejected".
bool IsFinalJobState(absl::string_view state);

// `tessera job list`: one row per job (id, name, state, rounds k/n, privacy
// mode, submitted by, and what the job waits for or why it ended), or a line
// saying there are none.
std::string FormatJobTable(const tessera::v1::ListJobsResponse& jobs);
// `tessera job list --json`: {"jobs": [JobSummaryJson...]}.
nlohmann::json JobListJson(const tessera::v1::ListJobsResponse& jobs);
nlohmann::json JobSummaryJson(const tessera::v1::JobSummary& summary);

// The job's settings that a reviewer needs, one "label   value" line each:
// description, model (kind, hidden layers, parameter count, SHA-256),
// dataset, data columns and label, privacy mode and parameters, training,
// rounds, strategy, secure-aggregation settings and the job's SHA-256.
// Lines are indented by `indent` spaces.
std::string FormatJobSettings(const tessera::v1::GetJobResponse& job, int indent);

// `tessera job show`: summary, governance decision, settings
// (FormatJobSettings), every round attempt with its outcome, participants
// and metrics, the round in progress and what the job waits for. `now`
// is used for "time in stage".
std::string FormatJob(const tessera::v1::GetJobResponse& job, absl::Time now);
// `tessera job show --json`: the same facts; "spec" is the job's JSON
// object and each round's "metrics" its metrics object.
nlohmann::json JobJson(const tessera::v1::GetJobResponse& job);

// What `tessera job approve` shows before asking: the job, who submitted
// it, FormatJobSettings, and a warning when it trains without differential
// privacy.
std::string FormatApproval(const tessera::v1::GetJobResponse& job);

// OK when the job can be approved as shown: FAILED_PRECONDITION when it is
// not pending approval, or when it trains without differential privacy
// (privacy mode "none") and `allow_non_private` is false (the message names
// the flag).
absl::Status CheckApprovable(const tessera::v1::GetJobResponse& job, bool allow_non_private);

// Asks the person at the terminal to confirm `action` (e.g. "approve job
// job-1"): writes the question to `out` and reads one line from `in`; only
// "yes" (or "y") confirms. Skips the question when `assume_yes`.
// FAILED_PRECONDITION when `interactive` is false and `assume_yes` is not
// set (nobody can answer; the message names --yes), or when the answer is
// not yes.
absl::Status Confirm(std::istream& in, std::ostream& out, bool interactive, bool assume_yes,
                     const std::string& action);

// The exit status of `tessera job watch` for a job in a final state: OK for
// "completed"; otherwise ABORTED naming the state and its reason. Exits 0
// and 1 respectively (common/cli.h).
absl::Status WatchOutcome(const tessera::v1::JobSummary& summary);

// How far the job is, in [0, 1]: completed rounds over planned rounds, plus
// the share of the running training round's six stages already done.
double JobFraction(const tessera::v1::GetJobResponse& job);

// A bar of `width` cells ("[#####.....]"), filled in proportion to
// `fraction` (clamped to [0, 1]); `width` >= 1.
std::string ProgressBar(double fraction, int width);

// The live status line of `tessera job watch` on a terminal: round k of n,
// stage, sites reported / selected (and needed), time in stage and a
// progress bar with the percentage; or the state and what the job waits
// for when no round runs. At most `max_width` characters.
std::string LiveLine(const tessera::v1::GetJobResponse& job, absl::Time now, size_t max_width);

// Turns successive GetJob replies of one job into the changes worth a line:
// the state, what the job waits for, a new stage of the running round, and
// each round attempt when it is recorded (with its metrics).
class JobWatch {
 public:
  struct Event {
    std::string text;     // one plain line, without newline
    nlohmann::json json;  // the same as one JSON object: {"event": ..., "job_id": ..., "time": ...}
  };

  // The changes since the previous call. The first call reports the state,
  // the waiting reason and stage if any, and the latest recorded round
  // attempt (earlier ones are in `tessera job show`).
  std::vector<Event> Update(const tessera::v1::GetJobResponse& job, absl::Time now);

 private:
  bool first_ = true;
  std::string state_;
  std::string waiting_;
  bool in_progress_ = false;
  std::tuple<uint32_t, uint32_t, int> stage_{0, 0, 0};   // round, attempt, stage
  std::set<std::pair<uint32_t, uint32_t>> rounds_seen_;  // (round, attempt)
};

}  // namespace tessera::cli
