#include "coordinator/round/secure_round.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "crypto/secagg/messages.h"

namespace tessera::coordinator {
namespace {

namespace secagg = crypto::secagg;

template <typename Message>
std::vector<StageDelivery> Deliveries(const std::vector<secagg::Outgoing<Message>>& outgoing,
                                      SecAggStage next) {
  std::vector<StageDelivery> deliveries;
  deliveries.reserve(outgoing.size());
  for (const auto& out : outgoing) {
    deliveries.push_back({out.site_id, next, secagg::Serialize(out.message)});
  }
  return deliveries;
}

// Parses `payload` as the message type of `stage` and hands it to the server.
absl::Status Handle(secagg::Server& server, const std::string& site, SecAggStage stage,
                    crypto::ByteSpan payload) {
  switch (stage) {
    case SecAggStage::kAdvertiseKeys: {
      TESSERA_ASSIGN_OR_RETURN(auto message, secagg::ParseAdvertiseKeys(payload));
      return server.HandleAdvertiseKeys(site, message);
    }
    case SecAggStage::kShareKeys: {
      TESSERA_ASSIGN_OR_RETURN(auto message, secagg::ParseShareKeys(payload));
      return server.HandleShareKeys(site, message);
    }
    case SecAggStage::kMaskedInput: {
      TESSERA_ASSIGN_OR_RETURN(auto message, secagg::ParseMaskedInput(payload));
      return server.HandleMaskedInput(site, message);
    }
    case SecAggStage::kConsistencyCheck: {
      TESSERA_ASSIGN_OR_RETURN(auto message, secagg::ParseConsistencySignature(payload));
      return server.HandleConsistencySignature(site, message);
    }
    case SecAggStage::kUnmask: {
      TESSERA_ASSIGN_OR_RETURN(auto message, secagg::ParseUnmaskShares(payload));
      return server.HandleUnmaskShares(site, message);
    }
    case SecAggStage::kDone:
    case SecAggStage::kAborted:
      break;
  }
  return absl::FailedPreconditionError("the round is over");
}

}  // namespace

const char* SecAggStageName(SecAggStage stage) {
  switch (stage) {
    case SecAggStage::kAdvertiseKeys: return "advertise keys";
    case SecAggStage::kShareKeys: return "share keys";
    case SecAggStage::kMaskedInput: return "masked input";
    case SecAggStage::kConsistencyCheck: return "consistency check";
    case SecAggStage::kUnmask: return "unmask";
    case SecAggStage::kDone: return "done";
    case SecAggStage::kAborted: return "aborted";
  }
  return "unknown";
}

SecureRound::SecureRound(std::unique_ptr<secagg::Server> server, absl::Duration stage_timeout,
                         absl::Time now)
    : server_(std::move(server)), stage_timeout_(stage_timeout), deadline_(now + stage_timeout) {}

absl::StatusOr<std::unique_ptr<SecureRound>> SecureRound::Create(secagg::ServerConfig config,
                                                                 absl::Duration stage_timeout,
                                                                 absl::Time now) {
  if (stage_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("a stage timeout must be positive");
  }
  TESSERA_ASSIGN_OR_RETURN(auto server, secagg::Server::Create(std::move(config)));
  return std::unique_ptr<SecureRound>(new SecureRound(std::move(server), stage_timeout, now));
}

absl::StatusOr<SecureRound::SubmitResult> SecureRound::Submit(const std::string& site,
                                                              SecAggStage stage,
                                                              crypto::ByteSpan payload) {
  if (stage != stage_) {
    return absl::FailedPreconditionError(
        absl::StrCat("a `", SecAggStageName(stage), "` message from `", site,
                     "` arrived while the round is in `", SecAggStageName(stage_), "`"));
  }
  const crypto::Sha256Digest digest = crypto::Sha256(payload);
  if (auto it = accepted_.find(site); it != accepted_.end()) {
    if (it->second == digest) return SubmitResult{.duplicate = true};
    return absl::FailedPreconditionError(absl::StrCat(
        "`", site, "` already sent a different `", SecAggStageName(stage), "` message"));
  }
  TESSERA_RETURN_IF_ERROR(Handle(*server_, site, stage, payload));
  accepted_.emplace(site, digest);
  return SubmitResult{};
}

absl::StatusOr<std::vector<StageDelivery>> SecureRound::Advance(absl::Time now) {
  if (stage_ == SecAggStage::kDone || stage_ == SecAggStage::kAborted) {
    return absl::FailedPreconditionError(
        absl::StrCat("the round is already ", SecAggStageName(stage_)));
  }
  const std::vector<std::string> missing = server_->PendingSites();
  const bool awaiting = std::any_of(missing.begin(), missing.end(), [this](const std::string& site) {
    return dropped_.count(site) == 0;
  });
  if (now < deadline_ && awaiting) return std::vector<StageDelivery>{};
  const SecAggStage closing = stage_;
  for (const std::string& site : missing) missed_.emplace(site, closing);
  auto deliveries = CloseStage();
  if (!deliveries.ok()) {
    stage_ = SecAggStage::kAborted;
    abort_status_ = deliveries.status();
    if (!missing.empty()) {
      abort_status_ = Annotate(
          abort_status_, absl::StrCat("sites missing at `", SecAggStageName(closing),
                                      "`: ", absl::StrJoin(missing, ", ")));
    }
    return std::vector<StageDelivery>{};
  }
  accepted_.clear();
  deadline_ = now + stage_timeout_;
  return deliveries;
}

absl::StatusOr<std::vector<StageDelivery>> SecureRound::CloseStage() {
  switch (stage_) {
    case SecAggStage::kAdvertiseKeys: {
      TESSERA_ASSIGN_OR_RETURN(auto out, server_->FinishAdvertiseKeys());
      stage_ = SecAggStage::kShareKeys;
      return Deliveries(out, stage_);
    }
    case SecAggStage::kShareKeys: {
      TESSERA_ASSIGN_OR_RETURN(auto out, server_->FinishShareKeys());
      stage_ = SecAggStage::kMaskedInput;
      return Deliveries(out, stage_);
    }
    case SecAggStage::kMaskedInput: {
      TESSERA_ASSIGN_OR_RETURN(auto out, server_->FinishMaskedInput());
      stage_ = SecAggStage::kConsistencyCheck;
      return Deliveries(out, stage_);
    }
    case SecAggStage::kConsistencyCheck: {
      TESSERA_ASSIGN_OR_RETURN(auto out, server_->FinishConsistencyCheck());
      stage_ = SecAggStage::kUnmask;
      return Deliveries(out, stage_);
    }
    case SecAggStage::kUnmask: {
      TESSERA_ASSIGN_OR_RETURN(result_, server_->FinishUnmask());
      stage_ = SecAggStage::kDone;
      return std::vector<StageDelivery>{};
    }
    case SecAggStage::kDone:
    case SecAggStage::kAborted:
      break;
  }
  return absl::FailedPreconditionError("the round is over");
}

}  // namespace tessera::coordinator
