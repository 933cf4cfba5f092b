#include "agent/round/local_policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "crypto/sha256.h"
#include "privacy/rdp_accountant.h"

namespace tessera::agent {
namespace {

PolicyDecision Refuse(PolicyVerdict verdict, std::string reason, double epsilon_before) {
  PolicyDecision decision;
  decision.verdict = verdict;
  decision.reason = std::move(reason);
  decision.epsilon_before = epsilon_before;
  decision.epsilon_after = epsilon_before;
  return decision;
}

}  // namespace

LocalPolicy ParseLocalPolicy(ConfigReader& reader, absl::string_view table) {
  LocalPolicy policy;
  auto key = [&table](absl::string_view name) { return absl::StrCat(table, ".", name); };
  policy.max_epsilon = reader.GetDouble(key("max_epsilon"), policy.max_epsilon, 1e-3, 100.0);
  policy.delta = reader.GetDouble(key("delta"), policy.delta, 1e-12, 1e-2);
  policy.min_noise_multiplier =
      reader.GetDouble(key("min_noise_multiplier"), policy.min_noise_multiplier, 0.0, 1e3);
  policy.max_clip_norm = reader.GetDouble(key("max_clip_norm"), policy.max_clip_norm, 1e-6, 1e6);
  policy.allow_non_private = reader.GetBool(key("allow_non_private"), false);
  policy.approved_models = reader.GetStringList(key("approved_models"));
  for (std::string& hash : policy.approved_models) {
    hash = absl::AsciiStrToLower(hash);
    if (!crypto::IsSha256Hex(hash)) {
      reader.AddError(key("approved_models"),
                      "each entry must be a model file's SHA-256 as 64 hex digits "
                      "(`sha256sum model.pt`)");
      break;
    }
  }
  return policy;
}

absl::Status CheckTaskIsNew(const std::vector<RoundAttempt>& done, RoundAttempt task) {
  for (const RoundAttempt& old : done) {
    const bool later = task.round > old.round ||
                       (task.round == old.round && task.attempt > old.attempt);
    if (!later) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the task is for round ", task.round, " attempt ", task.attempt,
          ", but this site already took part in round ", old.round, " attempt ", old.attempt,
          " of the job; a coordinator never sends an earlier or the same attempt again, so this "
          "is a replayed task and is refused"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> EpsilonOf(const privacy::PrivacyLedger& ledger, double delta) {
  if (ledger.empty()) return 0.0;
  privacy::RdpAccountant accountant;
  TESSERA_RETURN_IF_ERROR(accountant.Compose(ledger));
  TESSERA_ASSIGN_OR_RETURN(privacy::RdpEpsilon epsilon, accountant.Epsilon(delta));
  return epsilon.epsilon;
}

absl::StatusOr<PolicyDecision> CheckRound(const LocalPolicy& policy,
                                          const privacy::PrivacyLedger& spent,
                                          const RoundPrivacy& round) {
  TESSERA_ASSIGN_OR_RETURN(double before, EpsilonOf(spent, policy.delta));
  const std::string model = absl::AsciiStrToLower(round.model_sha256);
  if (policy.approved_models.empty()) {
    if (!round.approved_by_federation) {
      return Refuse(PolicyVerdict::kModelNotApproved,
                    absl::StrCat("model ", model,
                                 " has no approval from the federation's governance"),
                    before);
    }
  } else if (std::find(policy.approved_models.begin(), policy.approved_models.end(), model) ==
             policy.approved_models.end()) {
    return Refuse(PolicyVerdict::kModelNotApproved,
                  absl::StrCat("model ", model, " is not in this trust's approved_models"), before);
  }
  if (round.kind == PrivacyKind::kNone) {
    if (!policy.allow_non_private) {
      return Refuse(PolicyVerdict::kPrivacyTooWeak,
                    "the job has no differential privacy and this trust's policy does not allow "
                    "that (policy.allow_non_private)",
                    before);
    }
    return PolicyDecision{PolicyVerdict::kAllowed, "", before, before};
  }
  if (round.noise_multiplier < policy.min_noise_multiplier) {
    return Refuse(PolicyVerdict::kPrivacyTooWeak,
                  absl::StrFormat("noise multiplier %g is below this trust's minimum of %g",
                                  round.noise_multiplier, policy.min_noise_multiplier),
                  before);
  }
  if (round.clip_norm > policy.max_clip_norm) {
    return Refuse(PolicyVerdict::kPrivacyTooWeak,
                  absl::StrFormat("clip norm %g is above this trust's maximum of %g",
                                  round.clip_norm, policy.max_clip_norm),
                  before);
  }
  privacy::PrivacyLedger after = spent;
  for (const privacy::LedgerEntry& entry : round.events.entries()) {
    TESSERA_RETURN_IF_ERROR(after.Add(entry.event, entry.count));
  }
  TESSERA_ASSIGN_OR_RETURN(double epsilon_after, EpsilonOf(after, policy.delta));
  if (epsilon_after > policy.max_epsilon) {
    PolicyDecision refused = Refuse(
        PolicyVerdict::kBudgetExceeded,
        absl::StrFormat("the round would take dataset `%s` to epsilon %.3g at delta %g, past this "
                        "trust's limit of %g (spent so far: %.3g)",
                        round.dataset, epsilon_after, policy.delta, policy.max_epsilon, before),
        before);
    refused.epsilon_after = epsilon_after;
    return refused;
  }
  return PolicyDecision{PolicyVerdict::kAllowed, "", before, epsilon_after};
}

}  // namespace tessera::agent
