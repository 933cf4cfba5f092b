#include "agent/round/secagg_session.h"

#include "common/status.h"
#include "crypto/secagg/messages.h"

namespace tessera::agent {

namespace secagg = crypto::secagg;

absl::StatusOr<std::vector<uint8_t>> SecAggSession::Start() {
  TESSERA_ASSIGN_OR_RETURN(secagg::AdvertiseKeys message, client_->Start());
  return secagg::Serialize(message);
}

absl::StatusOr<std::vector<uint8_t>> SecAggSession::Handle(SecAggInput stage,
                                                           crypto::ByteSpan payload,
                                                           const InputProvider& input) {
  switch (stage) {
    case SecAggInput::kKeyList: {
      TESSERA_ASSIGN_OR_RETURN(auto in, secagg::ParseKeyList(payload));
      TESSERA_ASSIGN_OR_RETURN(auto out, client_->HandleKeyList(in));
      return secagg::Serialize(out);
    }
    case SecAggInput::kShareRelay: {
      TESSERA_ASSIGN_OR_RETURN(auto in, secagg::ParseShareRelay(payload));
      TESSERA_ASSIGN_OR_RETURN(std::vector<uint32_t> vector, input());
      TESSERA_ASSIGN_OR_RETURN(auto out, client_->HandleShareRelay(in, vector));
      return secagg::Serialize(out);
    }
    case SecAggInput::kSurvivorSet: {
      TESSERA_ASSIGN_OR_RETURN(auto in, secagg::ParseSurvivorSet(payload));
      TESSERA_ASSIGN_OR_RETURN(auto out, client_->HandleSurvivorSet(in));
      return secagg::Serialize(out);
    }
    case SecAggInput::kUnmaskRequest: {
      TESSERA_ASSIGN_OR_RETURN(auto in, secagg::ParseUnmaskRequest(payload));
      TESSERA_ASSIGN_OR_RETURN(auto out, client_->HandleUnmaskRequest(in));
      return secagg::Serialize(out);
    }
  }
  return absl::InvalidArgumentError("unknown secure-aggregation stage");
}

}  // namespace tessera::agent
