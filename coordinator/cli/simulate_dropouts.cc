#include "coordinator/cli/simulate_dropouts.h"

#include <algorithm>

#include "common/status.h"
#include "privacy/random.h"

namespace tessera::cli {
namespace {

constexpr int kFirstStage = 2;  // STAGE_ADVERTISE_KEYS
constexpr int kLastStage = 6;   // STAGE_UNMASK

}  // namespace

std::vector<PlannedDropout> PlanDropouts(const std::vector<std::string>& sites, int64_t first_round,
                                         int64_t last_round, double p, uint64_t seed) {
  std::vector<PlannedDropout> planned;
  if (!(p > 0)) return planned;
  privacy::Xoshiro256StarStar rng(seed);
  for (int64_t round = first_round; round <= last_round; ++round) {
    for (const std::string& site : sites) {
      const bool drops = privacy::Uniform01(rng) < p;
      const int stage =
          kFirstStage + static_cast<int>(privacy::UniformBelow(rng, kLastStage - kFirstStage + 1));
      if (drops) planned.push_back({round, site, stage});
    }
  }
  return planned;
}

std::string StageName(int stage) {
  switch (stage) {
    case 1:
      return "train";
    case 2:
      return "advertise keys";
    case 3:
      return "share keys";
    case 4:
      return "masked input";
    case 5:
      return "consistency check";
    case 6:
      return "unmask";
    default:
      return "starting";
  }
}

DropoutController::DropoutController(std::vector<PlannedDropout> plan,
                                     std::vector<std::string> sites, int64_t first_round)
    : sites_(std::move(sites)), remaining_(std::move(plan)), first_round_(first_round) {}

std::map<int, std::vector<std::string>> DropoutController::Remaining(int64_t round) const {
  std::map<int, std::vector<std::string>> groups;
  for (const PlannedDropout& d : remaining_) {
    if (d.round == round && killed_.count(d.site) == 0) groups[d.stage].push_back(d.site);
  }
  return groups;
}

void DropoutController::Defer(int64_t round) {
  std::vector<PlannedDropout> kept;
  for (PlannedDropout d : remaining_) {
    if (d.round < round) d.round = round;
    const bool duplicate = std::any_of(kept.begin(), kept.end(), [&](const PlannedDropout& k) {
      return k.round == d.round && k.site == d.site;
    });
    if (!duplicate) kept.push_back(d);
  }
  remaining_ = std::move(kept);
}

void DropoutController::Cancel(int64_t round) {
  remaining_.erase(std::remove_if(remaining_.begin(), remaining_.end(),
                                  [round](const PlannedDropout& d) { return d.round <= round; }),
                   remaining_.end());
}

absl::Status DropoutController::PauseSet(const std::set<std::string>& sites,
                                         AgentControl& control) {
  for (const std::string& site : sites) {
    if (killed_.count(site) > 0 || paused_.count(site) > 0) continue;
    TESSERA_RETURN_IF_ERROR(control.Pause(site));
    paused_.insert(site);
  }
  return absl::OkStatus();
}

absl::Status DropoutController::ResumeSet(const std::set<std::string>& sites,
                                          AgentControl& control) {
  for (const std::string& site : sites) {
    if (paused_.count(site) == 0) continue;
    TESSERA_RETURN_IF_ERROR(control.Resume(site));
    paused_.erase(site);
  }
  return absl::OkStatus();
}

absl::Status DropoutController::ResumeAll(AgentControl& control) {
  const std::set<std::string> paused = paused_;
  return ResumeSet(paused, control);
}

absl::Status DropoutController::Kill(const std::vector<std::string>& victims,
                                     const RoundObservation& observation, bool before_message,
                                     AgentControl& control) {
  for (const std::string& site : victims) {
    TESSERA_RETURN_IF_ERROR(control.KillAndRestart(site));
    paused_.erase(site);
    killed_.insert(site);
    events_.push_back({observation.round, observation.attempt, site, StageName(observation.stage),
                       before_message});
    remaining_.erase(std::remove_if(remaining_.begin(), remaining_.end(),
                                    [&](const PlannedDropout& d) {
                                      return d.round == observation.round && d.site == site;
                                    }),
                     remaining_.end());
  }
  return absl::OkStatus();
}

absl::Status DropoutController::Step(const RoundObservation& observation, AgentControl& control) {
  if (observation.final) {
    remaining_.clear();
    return ResumeAll(control);
  }
  // Sets of sites as the round sees them: the killed ones take no further part.
  auto live_except = [&](const std::vector<std::string>& victims) {
    std::set<std::string> others;
    for (const std::string& site : sites_) {
      if (killed_.count(site) == 0 &&
          std::find(victims.begin(), victims.end(), site) == victims.end()) {
        others.insert(site);
      }
    }
    return others;
  };
  // Sets up the group due at `target` for a stage that opens at `opening`:
  // V stopped when an even number of steps remain (the stage opens in
  // A), the others when odd (it opens in B).
  auto prepare = [&](int target, const std::vector<std::string>& victims,
                     int opening) -> absl::Status {
    const std::set<std::string> group(victims.begin(), victims.end());
    const std::set<std::string> others = live_except(victims);
    if ((target - opening) % 2 == 0) {
      TESSERA_RETURN_IF_ERROR(ResumeSet(others, control));
      return PauseSet(group, control);
    }
    TESSERA_RETURN_IF_ERROR(ResumeSet(group, control));
    return PauseSet(others, control);
  };

  if (!observation.in_progress) {
    if (current_round_ >= 0) {
      // The attempt we followed is over. Completed: sites it did not reach
      // drop out of the next round instead. Aborted: the retry runs
      // undisturbed.
      if (observation.last_completed_round >= current_round_) {
        Defer(current_round_ + 1);
      } else {
        Cancel(current_round_);
      }
      current_round_ = -1;
      killed_.clear();
      TESSERA_RETURN_IF_ERROR(ResumeAll(control));
    }
    const int64_t upcoming = std::max(observation.last_completed_round + 1, first_round_);
    Defer(upcoming);
    if (prepared_round_ != upcoming) {
      const auto groups = Remaining(upcoming);
      if (!groups.empty()) {
        TESSERA_RETURN_IF_ERROR(
            prepare(groups.begin()->first, groups.begin()->second, kFirstStage));
        prepared_round_ = upcoming;
      }
    }
    return absl::OkStatus();
  }

  if (observation.round != current_round_) {
    // A round we did not see start (the one before ended between two
    // observations): what was due before it is due in it.
    current_round_ = observation.round;
    killed_.clear();
    Defer(observation.round);
  }
  if (observation.attempt > 1) {
    // The first attempt aborted; the retry runs undisturbed.
    Cancel(observation.round);
    return ResumeAll(control);
  }
  const auto groups = Remaining(observation.round);
  if (groups.empty()) return ResumeAll(control);
  const int target = groups.begin()->first;
  const std::vector<std::string>& victims = groups.begin()->second;
  const int stage = observation.stage;
  if (stage < kFirstStage) return absl::OkStatus();  // not yet in a secure-aggregation stage

  std::set<std::string> pending;
  for (const std::string& site : observation.pending) {
    if (killed_.count(site) == 0) pending.insert(site);
  }
  const std::set<std::string> group(victims.begin(), victims.end());
  const std::set<std::string> others = live_except(victims);
  std::vector<std::string> victims_pending;  // V that still owe this stage
  std::set<std::string> others_pending;      // G that still owe it
  for (const std::string& site : victims) {
    if (pending.count(site) > 0) victims_pending.push_back(site);
  }
  for (const std::string& site : others) {
    if (pending.count(site) > 0) others_pending.insert(site);
  }

  if (others_pending.empty() && !victims_pending.empty()) {
    // A(stage): only victims owe this stage. Stop them first, so that none
    // can send it between this observation and the decision.
    bool stopped = true;
    for (const std::string& site : victims_pending) stopped &= paused_.count(site) > 0;
    if (!stopped) return PauseSet({victims_pending.begin(), victims_pending.end()}, control);
    // At the planned stage, or past it; or an odd number of stages before it,
    // which lockstep cannot reach from here (the round was set up late).
    if (stage >= target || (target - stage) % 2 == 1) {
      return Kill(victims_pending, observation, /*before_message=*/true, control);
    }
    TESSERA_RETURN_IF_ERROR(PauseSet(others, control));  // -> B(stage + 1)
    return ResumeSet(group, control);
  }
  if (victims_pending.empty() && !others_pending.empty()) {
    // B(stage): only the others owe it.
    TESSERA_RETURN_IF_ERROR(PauseSet(group, control));  // -> A(stage + 1)
    return ResumeSet(others, control);
  }
  if (victims_pending.empty() && others_pending.empty()) {
    // Only sites killed in this stage owe it; it closes at its deadline.
    // Set up the next group for the stage that opens then.
    return prepare(target, victims, stage + 1);
  }
  // Both owe it. If nobody who owes it can move, let the others go.
  bool all_stopped = true;
  for (const std::string& site : pending) all_stopped &= paused_.count(site) > 0;
  if (all_stopped) return ResumeSet(others_pending, control);
  // Nobody stopped: a round the controller did not set up. Take it over
  // from this stage as if it had.
  if (paused_.empty()) return prepare(target, victims, stage);
  return absl::OkStatus();  // a step in flight
}

}  // namespace tessera::cli
