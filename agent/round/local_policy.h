// The trust's own rules for taking part in a round, owned by its
// governance and written in agent.toml:
//
//   [policy]
//   max_epsilon = 3.0            # per dataset, over every job, at `delta`
//   delta = 1e-5
//   min_noise_multiplier = 0.8   # weaker noise is refused
//   max_clip_norm = 5.0          # larger per-record (or per-site) influence is refused
//   allow_non_private = false    # jobs with privacy mode "none" (default: refused)
//   approved_models = ["<sha256>", ...]   # optional; absent: any model the
//                                         # federation's governance approved
//
// Before a round touches data the agent asks CheckRound what the round would
// cost and whether its settings are allowed; a refusal carries the reason
// the coordinator records and the ML lead sees. The coordinator's own budget
// is a second, independent guard; this one holds even against a coordinator
// that lies.
//
// Pure: no I/O, no clock.
//
// Thread-safety: plain values and stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config.h"
#include "privacy/dp_event.h"

namespace tessera::agent {

struct LocalPolicy {
  double max_epsilon = 3.0;
  double delta = 1e-5;
  double min_noise_multiplier = 0.5;
  double max_clip_norm = 10.0;
  bool allow_non_private = false;
  // SHA-256 (lower-case hex) of every model file this trust allows; empty
  // means "any model the federation's governance approved".
  std::vector<std::string> approved_models;
};

// Reads the table `table` (usually "policy"); problems are recorded in
// `reader` naming the key. An absent table gives the defaults above.
LocalPolicy ParseLocalPolicy(ConfigReader& reader, absl::string_view table);

enum class PrivacyKind { kRecord, kSite, kNone };

// What one round would do with this trust's data, as the task states it.
struct RoundPrivacy {
  std::string dataset;
  std::string model_sha256;        // of the model file the round trains
  bool approved_by_federation = false;  // the task carries a verified governance approval
  PrivacyKind kind = PrivacyKind::kNone;
  // Record-level: the DP-SGD noise multiplier and clip norm. Site-level: the
  // effective noise multiplier (noise standard deviation over the L2 bound)
  // and the clip norm of the update.
  double noise_multiplier = 0;
  double clip_norm = 0;
  // What the round releases, for the accountant: e.g. `steps` repetitions
  // of a Poisson-subsampled Gaussian (record-level) or one Skellam event
  // (site-level). Empty for kNone.
  privacy::PrivacyLedger events;
};

enum class PolicyVerdict {
  kAllowed,
  kModelNotApproved,
  kPrivacyTooWeak,
  kBudgetExceeded,
};

struct PolicyDecision {
  PolicyVerdict verdict = PolicyVerdict::kAllowed;
  std::string reason;           // for a refusal: which rule, with the numbers
  double epsilon_before = 0;    // this dataset's spend so far, at policy.delta
  double epsilon_after = 0;     // with this round (== before when refused early)
};

// Decides whether this trust takes part in the round, given what it has
// already spent on the dataset (`spent`, from its own ledger). The rules,
// in order: the model must be approved; a round without DP needs
// allow_non_private; the noise multiplier must be at least
// min_noise_multiplier and the clip norm at most max_clip_norm; the spend
// after the round must stay within max_epsilon at delta.
// INVALID_ARGUMENT for an invalid event in `spent` or `round`.
absl::StatusOr<PolicyDecision> CheckRound(const LocalPolicy& policy,
                                          const privacy::PrivacyLedger& spent,
                                          const RoundPrivacy& round);

// One attempt of one round of a job.
struct RoundAttempt {
  int64_t round = 0;
  int64_t attempt = 0;
};

// Whether a task for `task` of a job can be a new one, given every attempt
// of that job this agent has already taken part in (`done`: the rounds in
// its ledger and the rounds it started since it was launched). Rounds and
// their attempts only move forward, and the coordinator reserves an attempt
// number durably before any site hears of it, so an honest coordinator
// never sends an attempt that is not after all of `done`. One that does is
// replaying an old round: answering it would release a second update from
// the same data under a round the ledger has already counted once.
// OK when `task` comes after every entry of `done` (a later round, or a
// later attempt of the same round); FAILED_PRECONDITION naming the attempt
// already done otherwise.
absl::Status CheckTaskIsNew(const std::vector<RoundAttempt>& done, RoundAttempt task);

// Epsilon of `ledger` at `delta` with the RDP accountant (0 for an empty
// ledger).
absl::StatusOr<double> EpsilonOf(const privacy::PrivacyLedger& ledger, double delta);

}  // namespace tessera::agent
