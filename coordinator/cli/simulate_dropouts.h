// Dropouts for `tessera simulate --dropout P`: each site drops out of each
// training round with probability P, at a secure-aggregation stage drawn
// uniformly from the five (advertise keys, share keys, masked input,
// consistency check, unmask), by having its agent process killed (SIGKILL,
// like a crash or a pulled cable) before it sends that stage's message, and
// started again at once.
//
// Rounds of small models take a few milliseconds per stage, far less than
// anyone can observe from outside, so the controller holds the round in
// lockstep with SIGSTOP / SIGCONT: a stage closes only when every selected
// site has sent its message (or at the stage's deadline), so a stopped
// agent holds the whole round. With V the sites to drop at stage s and G
// the other running agents, two states alternate:
//   A(c): V stopped and pending at stage c, G done with c.
//         Stop G, continue V: V sends c, stage c+1 opens, V sends c+1,
//         G (stopped) is pending: B(c+1).
//   B(c): V done with c, G stopped and pending.
//         Stop V, continue G: G sends c, stage c+1 opens, G sends c+1,
//         V (stopped) is pending: A(c+1).
// Before the round starts the controller stops V (the round opens in
// A(2)) when s is even, else G (B(2)), so that it reaches A(s): there it
// kills V, which never sent stage s. The stage then waits for V until its
// deadline; once everyone else has sent it, the controller sets up the
// next group of the round (a later stage) the same way, for the stage that
// opens next.
//
// The controller acts only on what it observes and holds the round while it
// decides (it stops a victim before killing it, so a kill always comes
// before that stage's message). If it missed the start of a round (a
// machine too busy to poll within the ~200 ms between rounds), it takes
// control from where the round is; when the parity no longer allows the
// drawn stage it kills at the stage before. Sites a completed round did not
// reach drop out of the next round instead; an attempt that aborts (too few
// survivors) cancels its remaining dropouts: the retry runs without them.
// Nothing stays stopped once a round ends.
//
// Only a round's first attempt is touched, so every round ends.
//
// Thread-safety: use from one thread.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace tessera::cli {

struct PlannedDropout {
  int64_t round = 0;
  std::string site;
  int stage = 2;  // tessera::v1::Stage: STAGE_ADVERTISE_KEYS (2) .. STAGE_UNMASK (6)
};

struct DropoutEvent {
  int64_t round = 0;
  int64_t attempt = 0;
  std::string site;
  std::string stage;           // the stage the round was in when the agent was killed
  bool before_message = true;  // it had not sent that stage's message
};

// Each site drops out of each round in [first_round, last_round] with
// probability `p`, at a stage drawn uniformly from 2..6; drawn from a
// privacy::Xoshiro256StarStar seeded with `seed`, in round then site order.
std::vector<PlannedDropout> PlanDropouts(const std::vector<std::string>& sites, int64_t first_round,
                                         int64_t last_round, double p, uint64_t seed);

// The stage's name as the coordinator shows it ("masked input").
std::string StageName(int stage);

// What the controller does to agents.
class AgentControl {
 public:
  virtual ~AgentControl() = default;
  virtual absl::Status Pause(const std::string& site) = 0;   // SIGSTOP
  virtual absl::Status Resume(const std::string& site) = 0;  // SIGCONT
  // SIGKILL, reap, and start the agent again.
  virtual absl::Status KillAndRestart(const std::string& site) = 0;
};

// One poll of the job, as the controller needs it.
struct RoundObservation {
  bool final = false;        // the job has ended
  bool in_progress = false;  // a round attempt runs
  int64_t round = 0;
  int64_t attempt = 0;
  int stage = 0;                      // tessera::v1::Stage
  std::vector<std::string> pending;   // sites that have not sent this stage's message
  int64_t last_completed_round = -1;  // -1: none yet
};

class DropoutController {
 public:
  // `sites`: every site, each with a running agent; `first_round`: the
  // job's first round (0 with a statistics round, else 1). Call Step once
  // before the job is approved, so that the first round starts prepared.
  DropoutController(std::vector<PlannedDropout> plan, std::vector<std::string> sites,
                    int64_t first_round);

  // Acts on one observation (see the top of this file). Errors are those
  // of `control`.
  absl::Status Step(const RoundObservation& observation, AgentControl& control);
  // Continues every paused agent (on the way out, also after an error).
  absl::Status ResumeAll(AgentControl& control);

  const std::vector<DropoutEvent>& events() const { return events_; }
  bool idle() const { return remaining_.empty() && paused_.empty(); }

 private:
  // The planned dropouts of `round` still to happen, grouped by stage.
  std::map<int, std::vector<std::string>> Remaining(int64_t round) const;
  absl::Status PauseSet(const std::set<std::string>& sites, AgentControl& control);
  absl::Status ResumeSet(const std::set<std::string>& sites, AgentControl& control);
  absl::Status Kill(const std::vector<std::string>& victims, const RoundObservation& observation,
                    bool before_message, AgentControl& control);
  // Planned dropouts of rounds before `round` move to `round` (a site at
  // most once per round).
  void Defer(int64_t round);
  // Planned dropouts of `round` and earlier are dropped.
  void Cancel(int64_t round);

  std::vector<std::string> sites_;
  std::vector<PlannedDropout> remaining_;
  std::set<std::string> paused_;
  std::set<std::string> killed_;  // in the current round: no longer a participant
  int64_t first_round_ = 0;
  int64_t prepared_round_ = -1;  // the round whose start the controller set up
  int64_t current_round_ = -1;
  std::vector<DropoutEvent> events_;
};

}  // namespace tessera::cli
