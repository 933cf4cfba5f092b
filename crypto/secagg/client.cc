#include "crypto/secagg/client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/aes_gcm.h"
#include "crypto/random.h"
#include "crypto/secagg/key_schedule.h"
#include "crypto/secagg/wire.h"
#include "crypto/shamir.h"

namespace tessera::crypto::secagg {

struct Client::Neighbour {
  X25519PublicKey encryption_public_key{};
  X25519PublicKey mask_public_key{};
  std::shared_ptr<const SignatureVerifier> verifier;
  // The key of the shares it seals for us (from one X25519 agreement in
  // stage 1, which also gives the key of ours to it).
  SecretBytes receive_key;
  // The shares of this neighbour's secrets it sent us (stage 2 onwards).
  SecretBytes self_mask_seed_share;
  SecretBytes mask_key_share;
};

namespace {

// OK when `participants` is strictly increasing (lists the coordinator builds
// are sorted; messages built in memory rather than parsed are checked here).
absl::Status CheckSorted(absl::Span<const uint32_t> participants, absl::string_view what) {
  for (size_t i = 1; i < participants.size(); ++i) {
    if (participants[i] <= participants[i - 1]) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is not sorted or repeats participant ", participants[i]));
    }
  }
  return absl::OkStatus();
}

template <typename Entry, typename Key>
std::vector<uint32_t> Participants(const std::vector<Entry>& entries, Key key) {
  std::vector<uint32_t> participants;
  participants.reserve(entries.size());
  for (const Entry& entry : entries) participants.push_back(key(entry));
  return participants;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientConfig config, const Signer& signer) {
  TESSERA_ASSIGN_OR_RETURN(RoundContext context, RoundContext::Create(config.round));
  TESSERA_ASSIGN_OR_RETURN(uint32_t self, context.IndexOf(config.site_id));
  if (config.authenticator == nullptr) {
    return absl::InvalidArgumentError("a secure-aggregation client needs a PeerAuthenticator");
  }
  if (config.now == absl::InfinitePast() || config.now == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError(
        "a secure-aggregation client needs the current time to check certificates");
  }
  absl::StatusOr<PeerAuthenticator::OwnCertificate> own =
      config.authenticator->CheckOwnCertificate(context, self, config.certificate_pem, config.now);
  if (!own.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this site's certificate cannot be used for secure aggregation: ", own.status().message()));
  }
  if (own->der.size() > kMaxCertificateSize) {
    return absl::FailedPreconditionError(
        absl::StrCat("this site's certificate is ", own->der.size(),
                     " bytes; secure aggregation carries at most ", kMaxCertificateSize));
  }
  return std::unique_ptr<Client>(
      new Client(std::move(config), std::move(context), self, signer, *std::move(own)));
}

Client::Client(ClientConfig config, RoundContext context, uint32_t self, const Signer& signer,
               PeerAuthenticator::OwnCertificate own_certificate)
    : config_(std::move(config)),
      context_(std::move(context)),
      self_(self),
      signer_(signer),
      own_certificate_(std::move(own_certificate)),
      graph_neighbours_(context_.graph().Neighbours(self)) {}

Client::~Client() = default;

MessageHeader Client::Header() const {
  return MessageHeader{context_.job_id(), context_.round(), context_.digest()};
}

absl::Status Client::CheckMessage(const MessageHeader& header, Stage expected,
                                  absl::string_view message_name) const {
  if (header.job_id != context_.job_id() || header.round != context_.round()) {
    return absl::InvalidArgumentError(absl::StrCat(
        message_name, " is for round ", header.round, " of job `", header.job_id, "`, but site `",
        config_.site_id, "` is in round ", context_.round(), " of job `", context_.job_id(), "`"));
  }
  if (header.parameters_digest != context_.digest()) {
    return absl::InvalidArgumentError(
        absl::StrCat(message_name,
                     " was made for different round parameters (participants, threshold, "
                     "neighbours, bit width, vector length or graph seed)"));
  }
  if (stage_ == Stage::kAborted) {
    return absl::FailedPreconditionError(
        absl::StrCat("site `", config_.site_id, "` aborted this round: ", abort_status_.message()));
  }
  if (stage_ == Stage::kDone) {
    return absl::FailedPreconditionError(
        absl::StrCat("site `", config_.site_id, "` already revealed its shares for round ",
                     context_.round(), " and answers only once; ", message_name, " refused"));
  }
  if (stage_ != expected) {
    return absl::FailedPreconditionError(
        absl::StrCat(message_name, " arrived at site `", config_.site_id,
                     "` in the wrong stage of the round; ignored"));
  }
  return absl::OkStatus();
}

absl::Status Client::Abort(absl::Status status) {
  stage_ = Stage::kAborted;
  abort_status_ = status;
  encryption_key_.reset();
  mask_key_.reset();
  self_mask_seed_.Clear();
  neighbours_.clear();
  return status;
}

absl::Status Client::RequireEnough(const std::vector<uint32_t>& present, absl::string_view what) {
  if (present.size() >= context_.threshold()) return absl::OkStatus();
  std::vector<uint32_t> missing;
  std::set_difference(graph_neighbours_.begin(), graph_neighbours_.end(), present.begin(),
                      present.end(), std::back_inserter(missing));
  return absl::AbortedError(absl::StrCat(
      "site `", config_.site_id, "` cannot continue: only ", present.size(), " of its ",
      graph_neighbours_.size(), " neighbours ", what, ", the threshold is ", context_.threshold(),
      "; missing: ", context_.DescribeSites(missing)));
}

absl::StatusOr<AdvertiseKeys> Client::Start() {
  if (stage_ != Stage::kStart) {
    return absl::FailedPreconditionError(
        absl::StrCat("site `", config_.site_id, "` already started round ", context_.round()));
  }
  TESSERA_ASSIGN_OR_RETURN(X25519PrivateKey encryption_key, X25519PrivateKey::Generate());
  TESSERA_ASSIGN_OR_RETURN(X25519PrivateKey mask_key, X25519PrivateKey::Generate());
  AdvertiseKeys message;
  message.header = Header();
  message.encryption_public_key = encryption_key.public_key();
  message.mask_public_key = mask_key.public_key();
  const std::vector<uint8_t> payload = AdvertiseSignaturePayload(
      context_, self_, message.encryption_public_key, message.mask_public_key);
  TESSERA_ASSIGN_OR_RETURN(message.signature, signer_.Sign(payload));
  message.certificate_der = own_certificate_.der;
  // Catch a signer whose key is not this certificate's before neighbours do.
  if (!own_certificate_.verifier->Verify(payload, message.signature).ok()) {
    return Abort(absl::FailedPreconditionError(absl::StrCat(
        "the signing key of site `", config_.site_id, "` does not match its certificate")));
  }
  encryption_key_.emplace(std::move(encryption_key));
  mask_key_.emplace(std::move(mask_key));
  stage_ = Stage::kAwaitingKeyList;
  return message;
}

absl::StatusOr<ShareKeys> Client::HandleKeyList(const KeyList& message) {
  TESSERA_RETURN_IF_ERROR(CheckMessage(message.header, Stage::kAwaitingKeyList, "KeyList"));
  absl::StatusOr<ShareKeys> reply = ShareKeysFor(message);
  if (!reply.ok()) return Abort(reply.status());
  stage_ = Stage::kAwaitingShares;
  return reply;
}

absl::StatusOr<ShareKeys> Client::ShareKeysFor(const KeyList& message) {
  const std::vector<uint32_t> holders = Participants(
      message.neighbours, [](const NeighbourKeys& entry) { return entry.participant; });
  TESSERA_RETURN_IF_ERROR(CheckSorted(holders, "KeyList"));
  for (uint32_t holder : holders) {
    if (holder == 0 || holder > context_.size() || !context_.graph().AreNeighbours(self_, holder)) {
      return absl::InvalidArgumentError(absl::StrCat("KeyList lists participant ", holder,
                                                     ", which is not a neighbour of site `",
                                                     config_.site_id, "`"));
    }
  }
  TESSERA_RETURN_IF_ERROR(RequireEnough(holders, "advertised keys"));

  // Authenticate every neighbour's keys before using any of them.
  for (const NeighbourKeys& entry : message.neighbours) {
    TESSERA_ASSIGN_OR_RETURN(
        std::shared_ptr<const SignatureVerifier> verifier,
        config_.authenticator->AuthenticateKeys(
            context_, entry.participant, entry.encryption_public_key, entry.mask_public_key,
            entry.certificate_der, entry.signature, config_.now));
    auto neighbour = std::make_unique<Neighbour>();
    neighbour->encryption_public_key = entry.encryption_public_key;
    neighbour->mask_public_key = entry.mask_public_key;
    neighbour->verifier = std::move(verifier);
    neighbours_[entry.participant] = std::move(neighbour);
  }

  TESSERA_ASSIGN_OR_RETURN(self_mask_seed_, RandomSecret(kShamirSecretSize));
  std::vector<uint16_t> points(holders.begin(), holders.end());
  TESSERA_ASSIGN_OR_RETURN(std::vector<ShamirShare> seed_shares,
                           ShamirSplit(self_mask_seed_.span(), context_.threshold(), points));
  TESSERA_ASSIGN_OR_RETURN(
      std::vector<ShamirShare> key_shares,
      ShamirSplit(mask_key_->private_bytes().span(), context_.threshold(), points));

  ShareKeys reply;
  reply.header = Header();
  reply.self_mask_commitment =
      ShamirCommitment(self_mask_seed_.span(), SelfMaskCommitmentContext(context_, self_));
  for (size_t i = 0; i < holders.size(); ++i) {
    const uint32_t holder = holders[i];
    Neighbour& neighbour = *neighbours_[holder];
    TESSERA_ASSIGN_OR_RETURN(SecretBytes agreement,
                             encryption_key_->Agree(neighbour.encryption_public_key));
    TESSERA_ASSIGN_OR_RETURN(SecretBytes key,
                             ShareEncryptionKey(agreement, context_, self_, holder));
    TESSERA_ASSIGN_OR_RETURN(neighbour.receive_key,
                             ShareEncryptionKey(agreement, context_, holder, self_));
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<AesGcm256> aead, AesGcm256::Create(key.span()));
    SecretBytes plaintext = seed_shares[i].value.Clone();
    plaintext.Append(key_shares[i].value.span());
    TESSERA_ASSIGN_OR_RETURN(
        std::vector<uint8_t> sealed,
        aead->SealWithRandomNonce(plaintext.span(), ShareAssociatedData(context_, self_, holder)));
    reply.shares.push_back(EncryptedShares{holder, std::move(sealed)});
  }
  return reply;
}

absl::StatusOr<MaskedInput> Client::HandleShareRelay(const ShareRelay& message,
                                                     absl::Span<const uint32_t> input) {
  TESSERA_RETURN_IF_ERROR(CheckMessage(message.header, Stage::kAwaitingShares, "ShareRelay"));
  if (input.size() != context_.vector_length()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the input has ", input.size(), " values, the round expects ", context_.vector_length()));
  }
  if (context_.bit_width() < 32) {
    const uint32_t limit = uint32_t{1} << context_.bit_width();
    for (size_t i = 0; i < input.size(); ++i) {
      if (input[i] >= limit) {
        return absl::InvalidArgumentError(
            absl::StrCat("input value ", i, " is not below 2^", context_.bit_width()));
      }
    }
  }
  absl::StatusOr<MaskedInput> reply = MaskInput(message, input);
  if (!reply.ok()) return Abort(reply.status());
  stage_ = Stage::kAwaitingSurvivors;
  return reply;
}

absl::StatusOr<MaskedInput> Client::MaskInput(const ShareRelay& message,
                                              absl::Span<const uint32_t> input) {
  const std::vector<uint32_t> senders =
      Participants(message.shares, [](const EncryptedShares& entry) { return entry.peer; });
  TESSERA_RETURN_IF_ERROR(CheckSorted(senders, "ShareRelay"));
  for (uint32_t sender : senders) {
    if (!neighbours_.contains(sender)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ShareRelay carries shares from participant ", sender,
          ", which was not among the neighbours whose keys site `", config_.site_id, "` got"));
    }
  }
  TESSERA_RETURN_IF_ERROR(RequireEnough(senders, "sent their shares"));

  for (const EncryptedShares& entry : message.shares) {
    Neighbour& neighbour = *neighbours_[entry.peer];
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<AesGcm256> aead,
                             AesGcm256::Create(neighbour.receive_key.span()));
    absl::StatusOr<SecretBytes> plaintext = aead->OpenWithRandomNonce(
        entry.ciphertext, ShareAssociatedData(context_, entry.peer, self_));
    if (!plaintext.ok() || plaintext->size() != 2 * kShareSize) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the shares from site `", context_.SiteId(entry.peer),
          "` fail authentication: altered in transit, or not sealed by that site for site `",
          config_.site_id, "`"));
    }
    neighbour.self_mask_seed_share =
        SecretBytes::CopyFrom(plaintext->span().subspan(0, kShareSize));
    neighbour.mask_key_share = SecretBytes::CopyFrom(plaintext->span().subspan(kShareSize));
  }

  // y = x + PRG(b) + sum over senders v of (+PRG(s_uv) if u < v, -PRG(s_uv) if u > v).
  std::vector<MaskKey> masks;
  masks.reserve(senders.size() + 1);
  TESSERA_ASSIGN_OR_RETURN(SecretBytes self_key,
                           SelfMaskKey(self_mask_seed_.span(), context_, self_));
  masks.push_back(MaskKey{std::move(self_key), /*add=*/true});
  for (uint32_t sender : senders) {
    TESSERA_ASSIGN_OR_RETURN(SecretBytes agreement,
                             mask_key_->Agree(neighbours_[sender]->mask_public_key));
    TESSERA_ASSIGN_OR_RETURN(SecretBytes key, PairwiseMaskKey(agreement, context_, self_, sender));
    masks.push_back(MaskKey{std::move(key), /*add=*/self_ < sender});
  }
  std::vector<uint32_t> masked(input.begin(), input.end());
  TESSERA_RETURN_IF_ERROR(ApplyMasks(masks, absl::MakeSpan(masked)));

  MaskedInput reply;
  reply.header = Header();
  reply.bit_width = context_.bit_width();
  reply.length = context_.vector_length();
  reply.packed.resize(PackedSize(reply.length, reply.bit_width));
  PackBits(masked, reply.bit_width, absl::MakeSpan(reply.packed));
  share_senders_ = senders;
  return reply;
}

absl::StatusOr<ConsistencySignature> Client::HandleSurvivorSet(const SurvivorSet& message) {
  TESSERA_RETURN_IF_ERROR(CheckMessage(message.header, Stage::kAwaitingSurvivors, "SurvivorSet"));
  absl::StatusOr<ConsistencySignature> reply = SignSurvivors(message);
  if (!reply.ok()) return Abort(reply.status());
  stage_ = Stage::kAwaitingUnmask;
  return reply;
}

absl::StatusOr<ConsistencySignature> Client::SignSurvivors(const SurvivorSet& message) {
  const std::vector<uint32_t>& survivors = message.survivors;
  TESSERA_RETURN_IF_ERROR(CheckSorted(survivors, "SurvivorSet"));
  if (!survivors.empty() && (survivors.front() < 1 || survivors.back() > context_.size())) {
    return absl::InvalidArgumentError("SurvivorSet names a participant number out of range");
  }
  if (!std::binary_search(survivors.begin(), survivors.end(), self_)) {
    return absl::InvalidArgumentError(absl::StrCat("SurvivorSet omits site `", config_.site_id,
                                                   "`, which sent its masked input"));
  }
  std::vector<uint32_t> surviving_neighbours;
  std::set_intersection(survivors.begin(), survivors.end(), graph_neighbours_.begin(),
                        graph_neighbours_.end(), std::back_inserter(surviving_neighbours));
  for (uint32_t neighbour : surviving_neighbours) {
    if (!std::binary_search(share_senders_.begin(), share_senders_.end(), neighbour)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SurvivorSet claims site `", context_.SiteId(neighbour),
          "` sent a masked input, but its shares never reached site `", config_.site_id, "`"));
    }
  }
  TESSERA_RETURN_IF_ERROR(RequireEnough(surviving_neighbours, "sent masked inputs"));
  ConsistencySignature reply;
  reply.header = Header();
  TESSERA_ASSIGN_OR_RETURN(reply.signature,
                           signer_.Sign(ConsistencySignaturePayload(context_, self_, survivors)));
  signed_survivors_ = survivors;
  return reply;
}

absl::StatusOr<UnmaskShares> Client::HandleUnmaskRequest(const UnmaskRequest& message) {
  TESSERA_RETURN_IF_ERROR(CheckMessage(message.header, Stage::kAwaitingUnmask, "UnmaskRequest"));
  absl::StatusOr<UnmaskShares> reply = RevealShares(message);
  if (!reply.ok()) return Abort(reply.status());
  // Nothing is revealed twice: the held shares and keys go now.
  stage_ = Stage::kDone;
  encryption_key_.reset();
  mask_key_.reset();
  self_mask_seed_.Clear();
  neighbours_.clear();
  return reply;
}

absl::StatusOr<UnmaskShares> Client::RevealShares(const UnmaskRequest& message) {
  if (message.survivors != signed_survivors_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the UnmaskRequest's survivor set differs from the one site `", config_.site_id,
        "` signed; refusing to reveal any share (the coordinator may be lying about who "
        "dropped out)"));
  }
  const std::vector<uint32_t> signers =
      Participants(message.signatures, [](const PeerSignature& entry) { return entry.signer; });
  TESSERA_RETURN_IF_ERROR(CheckSorted(signers, "UnmaskRequest"));
  for (const PeerSignature& entry : message.signatures) {
    const bool surviving_neighbour =
        std::binary_search(signed_survivors_.begin(), signed_survivors_.end(), entry.signer) &&
        std::binary_search(share_senders_.begin(), share_senders_.end(), entry.signer);
    if (!surviving_neighbour) {
      return absl::InvalidArgumentError(
          absl::StrCat("UnmaskRequest carries a signature of participant ", entry.signer,
                       ", which is not a surviving neighbour of site `", config_.site_id, "`"));
    }
    const std::vector<uint8_t> payload =
        ConsistencySignaturePayload(context_, entry.signer, signed_survivors_);
    if (!neighbours_[entry.signer]->verifier->Verify(payload, entry.signature).ok()) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the consistency signature of site `", context_.SiteId(entry.signer),
          "` does not verify over the survivor set site `", config_.site_id, "` signed"));
    }
  }
  TESSERA_RETURN_IF_ERROR(RequireEnough(signers, "signed the same survivor set"));

  UnmaskShares reply;
  reply.header = Header();
  for (uint32_t owner : share_senders_) {
    const Neighbour& neighbour = *neighbours_[owner];
    RevealedShare revealed;
    revealed.owner = owner;
    const bool survived =
        std::binary_search(signed_survivors_.begin(), signed_survivors_.end(), owner);
    revealed.kind = survived ? ShareKind::kSelfMaskSeed : ShareKind::kMaskKey;
    const SecretBytes& share = survived ? neighbour.self_mask_seed_share : neighbour.mask_key_share;
    std::copy(share.data(), share.data() + kShareSize, revealed.share.begin());
    reply.shares.push_back(revealed);
  }
  return reply;
}

}  // namespace tessera::crypto::secagg
