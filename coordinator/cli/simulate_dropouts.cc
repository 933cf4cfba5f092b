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
      // The attempt we followed is over: whatever it did not reach is off.
      Cancel(current_round_);
      current_round_ = -1;
      killed_.clear();
      TESSERA_RETURN_IF_ERROR(ResumeAll(control));
    }
    const int64_t upcoming = std::max(observation.last_completed_round + 1, first_round_);
    Cancel(upcoming - 1);
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
    current_round_ = observation.round;
    killed_.clear();
    Cancel(observation.round - 1);
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
  const std::set<std::string> others = live_except(victims);
  const bool victims_pending = std::all_of(victims.begin(), victims.end(),
                                           [&](const auto& s) { return pending.count(s) > 0; });
  const bool victims_done = std::none_of(victims.begin(), victims.end(),
                                         [&](const auto& s) { return pending.count(s) > 0; });
  const bool others_done = std::none_of(others.begin(), others.end(),
                                        [&](const auto& s) { return pending.count(s) > 0; });
  const bool others_pending = std::all_of(others.begin(), others.end(),
                                          [&](const auto& s) { return pending.count(s) > 0; });

  if (stage >= target) {
    // At the planned stage (or, if the round outran us, past it).
    return Kill(victims, observation, victims_pending, control);
  }
  if (prepared_round_ != observation.round) return absl::OkStatus();  // unprepared: wait
  if (victims_done && others_done) {
    // Every live site is done with this stage, which waits (until its
    // deadline) only for sites killed in it: set up the next one.
    return prepare(target, victims, stage + 1);
  }
  const bool even = (target - stage) % 2 == 0;
  if (even && victims_pending && others_done) {
    // A(stage): step to B(stage + 1).
    TESSERA_RETURN_IF_ERROR(PauseSet(others, control));
    return ResumeSet({victims.begin(), victims.end()}, control);
  }
  if (!even && victims_done && others_pending) {
    // B(stage): step to A(stage + 1).
    TESSERA_RETURN_IF_ERROR(PauseSet({victims.begin(), victims.end()}, control));
    return ResumeSet(others, control);
  }
  return absl::OkStatus();  // a step in flight
}

}  // namespace tessera::cli
