#include "crypto/secagg/key_schedule.h"

#include <algorithm>

#include "common/status.h"
#include "crypto/aes_ctr_prg.h"
#include "crypto/hkdf.h"
#include "crypto/secagg/wire.h"

namespace tessera::crypto::secagg {
namespace {

constexpr char kAdvertiseLabel[] = "tessera/secagg/v1/advertise-keys";
constexpr char kConsistencyLabel[] = "tessera/secagg/v1/consistency-check";
constexpr char kShareAdLabel[] = "tessera/secagg/v1/share-associated-data";
constexpr char kShareKeyLabel[] = "tessera/secagg/v1/share-encryption-key";
constexpr char kPairwiseLabel[] = "tessera/secagg/v1/pairwise-mask-key";
constexpr char kSelfMaskLabel[] = "tessera/secagg/v1/self-mask-key";
constexpr char kCommitmentLabel[] = "tessera/secagg/v1/self-mask-commitment";

// label, job id, round, participant number and site id, parameters digest.
WireWriter Preamble(absl::string_view label, const RoundContext& context, uint32_t participant) {
  WireWriter writer;
  writer.Blob16(AsBytes(label));
  writer.Blob16(AsBytes(context.job_id()));
  writer.U64(context.round());
  writer.U32(participant);
  writer.Blob16(AsBytes(context.SiteId(participant)));
  writer.Raw(context.digest());
  return writer;
}

absl::StatusOr<SecretBytes> DeriveKey(ByteSpan ikm, const RoundContext& context,
                                      absl::string_view label, uint32_t first, uint32_t second) {
  WireWriter info;
  info.Blob16(AsBytes(label));
  info.U32(first);
  info.U32(second);
  return HkdfSha256(ikm, context.digest(), std::move(info).Finish(), AesCtrPrg::kKeySize);
}

}  // namespace

std::vector<uint8_t> AdvertiseSignaturePayload(const RoundContext& context, uint32_t participant,
                                               const X25519PublicKey& encryption_public_key,
                                               const X25519PublicKey& mask_public_key) {
  WireWriter writer = Preamble(kAdvertiseLabel, context, participant);
  writer.Raw(encryption_public_key);
  writer.Raw(mask_public_key);
  return std::move(writer).Finish();
}

std::vector<uint8_t> ConsistencySignaturePayload(const RoundContext& context, uint32_t participant,
                                                 absl::Span<const uint32_t> survivors) {
  WireWriter writer = Preamble(kConsistencyLabel, context, participant);
  writer.U32(static_cast<uint32_t>(survivors.size()));
  for (uint32_t survivor : survivors) writer.U32(survivor);
  return std::move(writer).Finish();
}

std::vector<uint8_t> ShareAssociatedData(const RoundContext& context, uint32_t sender,
                                         uint32_t receiver) {
  WireWriter writer = Preamble(kShareAdLabel, context, sender);
  writer.U32(receiver);
  writer.Blob16(AsBytes(context.SiteId(receiver)));
  return std::move(writer).Finish();
}

absl::StatusOr<SecretBytes> ShareEncryptionKey(const SecretBytes& agreement,
                                               const RoundContext& context, uint32_t sender,
                                               uint32_t receiver) {
  return DeriveKey(agreement.span(), context, kShareKeyLabel, sender, receiver);
}

absl::StatusOr<SecretBytes> PairwiseMaskKey(const SecretBytes& agreement,
                                            const RoundContext& context, uint32_t a, uint32_t b) {
  return DeriveKey(agreement.span(), context, kPairwiseLabel, std::min(a, b), std::max(a, b));
}

absl::StatusOr<SecretBytes> SelfMaskKey(ByteSpan seed, const RoundContext& context,
                                        uint32_t participant) {
  return DeriveKey(seed, context, kSelfMaskLabel, participant, participant);
}

std::vector<uint8_t> SelfMaskCommitmentContext(const RoundContext& context, uint32_t participant) {
  return std::move(Preamble(kCommitmentLabel, context, participant)).Finish();
}

absl::Status ApplyMasks(const std::vector<MaskKey>& masks, absl::Span<uint32_t> vector) {
  // 16 KiB of the vector at a time stays in the L1 cache while every mask is
  // added to it.
  constexpr size_t kBlockWords = 4096;
  std::vector<std::unique_ptr<AesCtrPrg>> generators;
  generators.reserve(masks.size());
  for (const MaskKey& mask : masks) {
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<AesCtrPrg> generator,
                             AesCtrPrg::Create(mask.key.span()));
    generators.push_back(std::move(generator));
  }
  for (size_t offset = 0; offset < vector.size(); offset += kBlockWords) {
    const absl::Span<uint32_t> block = vector.subspan(offset, kBlockWords);
    for (size_t i = 0; i < masks.size(); ++i) {
      if (masks[i].add) {
        generators[i]->AddTo(block);
      } else {
        generators[i]->SubtractFrom(block);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera::crypto::secagg
