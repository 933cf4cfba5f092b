#include "crypto/secagg/server.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/secagg/key_schedule.h"
#include "crypto/secagg/wire.h"
#include "crypto/shamir.h"
#include "crypto/x25519.h"

namespace tessera::crypto::secagg {
namespace {

// Stage numbers 0..4 index the per-site bookkeeping.
constexpr size_t kStages = 5;

size_t StageNumber(Server::Stage stage) { return static_cast<size_t>(stage); }

const char* StageName(Server::Stage stage) {
  switch (stage) {
    case Server::Stage::kAdvertiseKeys:
      return "advertise keys";
    case Server::Stage::kShareKeys:
      return "share keys";
    case Server::Stage::kMaskedInput:
      return "masked input";
    case Server::Stage::kConsistencyCheck:
      return "consistency check";
    case Server::Stage::kUnmask:
      return "unmask";
    case Server::Stage::kDone:
      return "done";
    case Server::Stage::kAborted:
      return "aborted";
  }
  return "unknown";
}

bool Contains(const std::vector<uint32_t>& sorted, uint32_t value) {
  return std::binary_search(sorted.begin(), sorted.end(), value);
}

}  // namespace

struct Server::Participant {
  std::array<bool, kStages> asked{};     // was sent the message that asks for stage s
  std::array<bool, kStages> received{};  // its stage-s message was accepted
  X25519PublicKey mask_public_key{};
  NeighbourKeys keys;  // as relayed to its neighbours
  std::shared_ptr<const SignatureVerifier> verifier;
  Sha256Digest self_mask_commitment{};
  std::vector<EncryptedShares> sealed_for_neighbours;  // until relayed
  std::vector<uint32_t> share_senders;                 // whose shares it was sent, sorted
  std::vector<uint8_t> consistency_signature;
  std::vector<ShamirShare> revealed_shares;  // of its own secret, from neighbours
};

absl::StatusOr<std::unique_ptr<Server>> Server::Create(ServerConfig config) {
  TESSERA_ASSIGN_OR_RETURN(RoundContext context, RoundContext::Create(std::move(config.round)));
  if (config.authenticator == nullptr) {
    return absl::InvalidArgumentError("a secure-aggregation server needs a PeerAuthenticator");
  }
  if (config.now == absl::InfinitePast() || config.now == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError(
        "a secure-aggregation server needs the current time to check certificates");
  }
  return std::unique_ptr<Server>(
      new Server(std::move(context), std::move(config.authenticator), config.now));
}

Server::Server(RoundContext context, std::shared_ptr<const PeerAuthenticator> authenticator,
               absl::Time now)
    : context_(std::move(context)),
      authenticator_(std::move(authenticator)),
      now_(now),
      participants_(context_.size() + 1),
      sum_(context_.vector_length(), 0) {
  for (uint32_t u = 1; u <= context_.size(); ++u) {
    participants_[u] = std::make_unique<Participant>();
    participants_[u]->asked[0] = true;
  }
}

Server::~Server() = default;

MessageHeader Server::Header() const {
  return MessageHeader{context_.job_id(), context_.round(), context_.digest()};
}

std::vector<std::string> Server::PendingSites() const {
  std::vector<std::string> pending;
  const size_t s = StageNumber(stage_);
  if (s >= kStages) return pending;
  for (uint32_t u = 1; u <= context_.size(); ++u) {
    if (participants_[u]->asked[s] && !participants_[u]->received[s]) {
      pending.push_back(context_.SiteId(u));
    }
  }
  return pending;
}

absl::Status Server::Abort(absl::Status status) {
  stage_ = Stage::kAborted;
  abort_status_ = status;
  return status;
}

absl::StatusOr<uint32_t> Server::CheckIncoming(absl::string_view sender,
                                               const MessageHeader& header, Stage stage,
                                               absl::string_view message_name) {
  if (header.job_id != context_.job_id() || header.round != context_.round()) {
    return absl::InvalidArgumentError(
        absl::StrCat(message_name, " from site `", sender, "` is for round ", header.round,
                     " of job `", header.job_id, "`, but this is round ", context_.round(),
                     " of job `", context_.job_id(), "` (a replayed or misdirected message)"));
  }
  if (header.parameters_digest != context_.digest()) {
    return absl::InvalidArgumentError(absl::StrCat(
        message_name, " from site `", sender,
        "` was made for different round parameters; the site's task does not match this round"));
  }
  TESSERA_ASSIGN_OR_RETURN(uint32_t index, context_.IndexOf(sender));
  if (stage_ == Stage::kAborted) {
    return absl::FailedPreconditionError(
        absl::StrCat("the round was aborted: ", abort_status_.message()));
  }
  if (stage_ != stage) {
    return absl::FailedPreconditionError(
        absl::StrCat(message_name, " from site `", sender, "` belongs to the ", StageName(stage),
                     " stage, but the round is in the ", StageName(stage_), " stage; ignored"));
  }
  const Participant& participant = *participants_[index];
  const size_t s = StageNumber(stage);
  if (!participant.asked[s]) {
    return absl::FailedPreconditionError(absl::StrCat(
        "site `", sender, "` was not asked for ", message_name,
        " in this round (it dropped out or fell below the threshold earlier); ignored"));
  }
  if (participant.received[s]) {
    return absl::FailedPreconditionError(absl::StrCat("duplicate ", message_name, " from site `",
                                                      sender, "`; the first one counts"));
  }
  return index;
}

absl::Status Server::CheckFinish(Stage stage, absl::string_view what) const {
  if (stage_ == Stage::kAborted) return abort_status_;
  if (stage_ != stage) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot finish the ", what, " stage: the round is in the ", StageName(stage_), " stage"));
  }
  return absl::OkStatus();
}

bool Server::HoldsSharesOf(uint32_t holder, uint32_t owner) const {
  return Contains(participants_[holder]->share_senders, owner);
}

// ---- stage 0: advertise keys ----

absl::Status Server::HandleAdvertiseKeys(absl::string_view sender, const AdvertiseKeys& message) {
  TESSERA_ASSIGN_OR_RETURN(
      uint32_t u, CheckIncoming(sender, message.header, Stage::kAdvertiseKeys, "AdvertiseKeys"));
  // Checked here too, so one site's bad keys cannot make its neighbours abort.
  TESSERA_ASSIGN_OR_RETURN(std::shared_ptr<const SignatureVerifier> verifier,
                           authenticator_->AuthenticateKeys(
                               context_, u, message.encryption_public_key, message.mask_public_key,
                               message.certificate_der, message.signature, now_));
  Participant& participant = *participants_[u];
  participant.keys = NeighbourKeys{u, message.encryption_public_key, message.mask_public_key,
                                   message.certificate_der, message.signature};
  participant.mask_public_key = message.mask_public_key;
  participant.verifier = std::move(verifier);
  participant.received[0] = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Outgoing<KeyList>>> Server::FinishAdvertiseKeys() {
  TESSERA_RETURN_IF_ERROR(CheckFinish(Stage::kAdvertiseKeys, "advertise keys"));
  std::vector<Outgoing<KeyList>> outgoing;
  for (uint32_t v = 1; v <= context_.size(); ++v) {
    if (!participants_[v]->received[0]) continue;
    KeyList list;
    list.header = Header();
    for (uint32_t u : context_.graph().Neighbours(v)) {
      if (participants_[u]->received[0]) list.neighbours.push_back(participants_[u]->keys);
    }
    if (list.neighbours.size() < context_.threshold()) continue;
    participants_[v]->asked[1] = true;
    outgoing.push_back({context_.SiteId(v), std::move(list)});
  }
  if (outgoing.empty()) {
    std::vector<uint32_t> missing;
    for (uint32_t u = 1; u <= context_.size(); ++u) {
      if (!participants_[u]->received[0]) missing.push_back(u);
    }
    return Abort(absl::AbortedError(absl::StrCat(
        "secure aggregation cannot start: no site has ", context_.threshold(),
        " neighbours that advertised keys; missing: ", context_.DescribeSites(missing))));
  }
  stage_ = Stage::kShareKeys;
  return outgoing;
}

// ---- stage 1: share keys ----

absl::Status Server::HandleShareKeys(absl::string_view sender, const ShareKeys& message) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t u,
                           CheckIncoming(sender, message.header, Stage::kShareKeys, "ShareKeys"));
  // Exactly one sealed pair for each neighbour in u's KeyList, in order.
  std::vector<uint32_t> expected;
  for (uint32_t v : context_.graph().Neighbours(u)) {
    if (participants_[v]->received[0]) expected.push_back(v);
  }
  bool matches = message.shares.size() == expected.size();
  for (size_t i = 0; matches && i < expected.size(); ++i) {
    matches = message.shares[i].peer == expected[i] &&
              message.shares[i].ciphertext.size() == kEncryptedSharesSize;
  }
  if (!matches) {
    return absl::InvalidArgumentError(
        absl::StrCat("ShareKeys from site `", sender, "` must hold one ", kEncryptedSharesSize,
                     "-byte sealed pair of shares for each of ", context_.DescribeSites(expected),
                     ", in that order"));
  }
  Participant& participant = *participants_[u];
  participant.self_mask_commitment = message.self_mask_commitment;
  participant.sealed_for_neighbours = message.shares;
  participant.received[1] = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Outgoing<ShareRelay>>> Server::FinishShareKeys() {
  TESSERA_RETURN_IF_ERROR(CheckFinish(Stage::kShareKeys, "share keys"));
  std::vector<Outgoing<ShareRelay>> outgoing;
  for (uint32_t v = 1; v <= context_.size(); ++v) {
    if (!participants_[v]->received[1]) continue;
    ShareRelay relay;
    relay.header = Header();
    std::vector<uint32_t> senders;
    for (uint32_t u : context_.graph().Neighbours(v)) {
      if (!participants_[u]->received[1]) continue;
      // u sealed a pair for every neighbour that advertised keys, v included.
      const std::vector<EncryptedShares>& sealed = participants_[u]->sealed_for_neighbours;
      auto it = std::lower_bound(
          sealed.begin(), sealed.end(), v,
          [](const EncryptedShares& entry, uint32_t peer) { return entry.peer < peer; });
      relay.shares.push_back(EncryptedShares{u, it->ciphertext});
      senders.push_back(u);
    }
    if (senders.size() < context_.threshold()) continue;
    participants_[v]->asked[2] = true;
    participants_[v]->share_senders = std::move(senders);
    outgoing.push_back({context_.SiteId(v), std::move(relay)});
  }
  for (uint32_t u = 1; u <= context_.size(); ++u) participants_[u]->sealed_for_neighbours.clear();
  if (outgoing.empty()) {
    return Abort(absl::AbortedError(
        absl::StrCat("secure aggregation cannot continue: no site received shares from ",
                     context_.threshold(), " neighbours")));
  }
  stage_ = Stage::kMaskedInput;
  return outgoing;
}

// ---- stage 2: masked input ----

absl::Status Server::HandleMaskedInput(absl::string_view sender, const MaskedInput& message) {
  TESSERA_ASSIGN_OR_RETURN(
      uint32_t u, CheckIncoming(sender, message.header, Stage::kMaskedInput, "MaskedInput"));
  if (message.bit_width != context_.bit_width() || message.length != context_.vector_length()) {
    return absl::InvalidArgumentError(
        absl::StrCat("MaskedInput from site `", sender, "` has ", message.length, " values of ",
                     message.bit_width, " bits; the round expects ", context_.vector_length(),
                     " of ", context_.bit_width()));
  }
  absl::Status packed = CheckPacked(message.packed, message.length, message.bit_width);
  if (!packed.ok()) return Annotate(packed, absl::StrCat("MaskedInput from site `", sender, "`"));
  // Streaming: add now, keep nothing of the message.
  AddPackedBits(message.packed, message.bit_width, absl::MakeSpan(sum_));
  participants_[u]->received[2] = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Outgoing<SurvivorSet>>> Server::FinishMaskedInput() {
  TESSERA_RETURN_IF_ERROR(CheckFinish(Stage::kMaskedInput, "masked input"));
  survivors_.clear();
  for (uint32_t u = 1; u <= context_.size(); ++u) {
    if (participants_[u]->received[2]) survivors_.push_back(u);
  }
  if (survivors_.empty()) {
    return Abort(absl::AbortedError("secure aggregation cannot complete: no masked input arrived"));
  }
  std::vector<Outgoing<SurvivorSet>> outgoing;
  std::vector<bool> asked(context_.size() + 1, false);
  for (uint32_t v : survivors_) {
    size_t surviving_neighbours = 0;
    for (uint32_t u : context_.graph().Neighbours(v)) {
      if (participants_[u]->received[2]) ++surviving_neighbours;
    }
    if (surviving_neighbours < context_.threshold()) continue;
    participants_[v]->asked[3] = true;
    asked[v] = true;
    outgoing.push_back({context_.SiteId(v), SurvivorSet{Header(), survivors_}});
  }
  // Only sites asked now can ever return shares: if that is already too few,
  // stop here.
  absl::Status recoverable = CheckRecoverable(asked);
  if (!recoverable.ok()) return Abort(recoverable);
  stage_ = Stage::kConsistencyCheck;
  return outgoing;
}

// ---- stage 3: consistency check ----

absl::Status Server::HandleConsistencySignature(absl::string_view sender,
                                                const ConsistencySignature& message) {
  TESSERA_ASSIGN_OR_RETURN(
      uint32_t u,
      CheckIncoming(sender, message.header, Stage::kConsistencyCheck, "ConsistencySignature"));
  Participant& participant = *participants_[u];
  const std::vector<uint8_t> payload = ConsistencySignaturePayload(context_, u, survivors_);
  if (!participant.verifier->Verify(payload, message.signature).ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("the consistency signature of site `", sender,
                     "` does not verify over the survivor set it was sent; ignored"));
  }
  participant.consistency_signature = message.signature;
  participant.received[3] = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Outgoing<UnmaskRequest>>> Server::FinishConsistencyCheck() {
  TESSERA_RETURN_IF_ERROR(CheckFinish(Stage::kConsistencyCheck, "consistency check"));
  std::vector<Outgoing<UnmaskRequest>> outgoing;
  std::vector<bool> asked(context_.size() + 1, false);
  for (uint32_t v : survivors_) {
    if (!participants_[v]->received[3]) continue;
    UnmaskRequest request;
    request.header = Header();
    request.survivors = survivors_;
    for (uint32_t u : context_.graph().Neighbours(v)) {
      if (participants_[u]->received[3]) {
        request.signatures.push_back(PeerSignature{u, participants_[u]->consistency_signature});
      }
    }
    if (request.signatures.size() < context_.threshold()) continue;
    participants_[v]->asked[4] = true;
    asked[v] = true;
    outgoing.push_back({context_.SiteId(v), std::move(request)});
  }
  absl::Status recoverable = CheckRecoverable(asked);
  if (!recoverable.ok()) return Abort(recoverable);
  stage_ = Stage::kUnmask;
  return outgoing;
}

// ---- stage 4: unmask ----

absl::Status Server::HandleUnmaskShares(absl::string_view sender, const UnmaskShares& message) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t v,
                           CheckIncoming(sender, message.header, Stage::kUnmask, "UnmaskShares"));
  // Exactly one share per neighbour whose shares v holds: of b for
  // survivors, of s^SK for the others.
  const std::vector<uint32_t>& owners = participants_[v]->share_senders;
  bool matches = message.shares.size() == owners.size();
  for (size_t i = 0; matches && i < owners.size(); ++i) {
    const ShareKind expected =
        Contains(survivors_, owners[i]) ? ShareKind::kSelfMaskSeed : ShareKind::kMaskKey;
    matches = message.shares[i].owner == owners[i] && message.shares[i].kind == expected;
  }
  if (!matches) {
    return absl::InvalidArgumentError(absl::StrCat(
        "UnmaskShares from site `", sender, "` must hold exactly one share for each of ",
        context_.DescribeSites(owners),
        " in that order: of the self-mask seed for survivors, of the mask key for the others"));
  }
  for (const RevealedShare& entry : message.shares) {
    participants_[entry.owner]->revealed_shares.push_back(
        ShamirShare{static_cast<uint16_t>(v), SecretBytes::CopyFrom(entry.share)});
  }
  participants_[v]->received[4] = true;
  return absl::OkStatus();
}

absl::Status Server::CheckRecoverable(const std::vector<bool>& responders) const {
  std::string failures;
  size_t failing = 0;
  for (uint32_t u = 1; u <= context_.size(); ++u) {
    const Participant& participant = *participants_[u];
    bool needed = Contains(survivors_, u);
    if (!needed && participant.received[1]) {
      // A dropped site some survivor masked with: its mask key is needed.
      for (uint32_t v : survivors_) {
        if (HoldsSharesOf(v, u)) {
          needed = true;
          break;
        }
      }
    }
    if (!needed) continue;
    std::vector<uint32_t> missing;
    size_t available = 0;
    for (uint32_t v : context_.graph().Neighbours(u)) {
      if (responders[v] && HoldsSharesOf(v, u)) {
        ++available;
      } else {
        missing.push_back(v);
      }
    }
    if (available >= context_.threshold()) continue;
    ++failing;
    absl::StrAppend(&failures, failing == 1 ? "" : "; ", "`", context_.SiteId(u), "` (", available,
                    " of ", context_.threshold(), "; missing ", context_.DescribeSites(missing),
                    ")");
  }
  if (failing == 0) return absl::OkStatus();
  return absl::AbortedError(
      absl::StrCat("secure aggregation of round ", context_.round(), " of job `", context_.job_id(),
                   "` cannot complete: the masks of ", failing,
                   " site(s) cannot be removed because fewer "
                   "than t = ",
                   context_.threshold(), " of their neighbours returned shares: ", failures));
}

absl::Status Server::RemoveMasks(std::vector<std::string>& misbehaving) {
  auto note_misbehaving = [&](const std::vector<uint16_t>& holders) {
    for (uint16_t holder : holders) misbehaving.push_back(context_.SiteId(holder));
  };
  std::vector<MaskKey> masks;
  for (uint32_t u = 1; u <= context_.size(); ++u) {
    Participant& participant = *participants_[u];
    if (participant.revealed_shares.empty()) continue;
    if (Contains(survivors_, u)) {
      // Survivor: reconstruct b_u against its commitment, remove PRG(b_u).
      absl::StatusOr<CheckedSecret> seed = ShamirReconstructCommitted(
          participant.revealed_shares, context_.threshold(), participant.self_mask_commitment,
          SelfMaskCommitmentContext(context_, u));
      if (!seed.ok()) {
        return absl::DataLossError(absl::StrCat("cannot reconstruct the self-mask seed of site `",
                                                context_.SiteId(u),
                                                "`: ", seed.status().message()));
      }
      note_misbehaving(seed->inconsistent_indices);
      TESSERA_ASSIGN_OR_RETURN(SecretBytes key, SelfMaskKey(seed->secret.span(), context_, u));
      masks.push_back(MaskKey{std::move(key), /*add=*/false});
      continue;
    }
    // Dropped after sharing: reconstruct s_u^SK, checked against the public
    // key it advertised, and remove the pairwise masks survivors added with u.
    absl::StatusOr<CheckedSecret> mask_key = ShamirReconstructChecked(
        participant.revealed_shares, context_.threshold(), [&](ByteSpan candidate) {
          absl::StatusOr<X25519PrivateKey> key = X25519PrivateKey::FromBytes(candidate);
          return key.ok() && key->public_key() == participant.mask_public_key;
        });
    if (!mask_key.ok()) {
      return absl::DataLossError(absl::StrCat("cannot reconstruct the mask key of site `",
                                              context_.SiteId(u),
                                              "`: ", mask_key.status().message()));
    }
    note_misbehaving(mask_key->inconsistent_indices);
    TESSERA_ASSIGN_OR_RETURN(X25519PrivateKey key,
                             X25519PrivateKey::FromBytes(mask_key->secret.span()));
    for (uint32_t v : survivors_) {
      if (!HoldsSharesOf(v, u)) continue;
      TESSERA_ASSIGN_OR_RETURN(SecretBytes agreement, key.Agree(participants_[v]->mask_public_key));
      TESSERA_ASSIGN_OR_RETURN(SecretBytes pairwise, PairwiseMaskKey(agreement, context_, u, v));
      // v added +PRG when v < u and -PRG when v > u; undo that.
      masks.push_back(MaskKey{std::move(pairwise), /*add=*/v > u});
    }
  }
  return ApplyMasks(masks, absl::MakeSpan(sum_));
}

absl::StatusOr<AggregateResult> Server::FinishUnmask() {
  TESSERA_RETURN_IF_ERROR(CheckFinish(Stage::kUnmask, "unmask"));
  std::vector<bool> responders(context_.size() + 1, false);
  for (uint32_t u = 1; u <= context_.size(); ++u) responders[u] = participants_[u]->received[4];
  absl::Status recoverable = CheckRecoverable(responders);
  if (!recoverable.ok()) return Abort(recoverable);

  AggregateResult result;
  absl::Status removed = RemoveMasks(result.misbehaving_sites);
  if (!removed.ok()) return Abort(removed);
  std::sort(result.misbehaving_sites.begin(), result.misbehaving_sites.end());
  result.misbehaving_sites.erase(
      std::unique(result.misbehaving_sites.begin(), result.misbehaving_sites.end()),
      result.misbehaving_sites.end());

  if (context_.bit_width() < 32) {
    const uint32_t mask = (uint32_t{1} << context_.bit_width()) - 1;
    for (uint32_t& value : sum_) value &= mask;
  }
  result.sum = std::move(sum_);
  for (uint32_t u = 1; u <= context_.size(); ++u) {
    (Contains(survivors_, u) ? result.included_sites : result.excluded_sites)
        .push_back(context_.SiteId(u));
  }
  stage_ = Stage::kDone;
  return result;
}

}  // namespace tessera::crypto::secagg
