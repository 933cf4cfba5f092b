// Everything secure aggregation derives or signs, in one place, each with
// its own label so no value can be mistaken for another:
//
//  * signed payloads: a client's advertised keys (Bonawitz et al. 2017,
//    ePrint 2017/281, Fig. 4 round 0, "sign (c_u^PK || s_u^PK)") and its
//    consistency-check signature over the survivor set (round 3);
//  * HKDF-SHA-256 (RFC 5869) keys: the share-encryption key for one
//    direction between two neighbours, from X25519(c_u, c_v); the pairwise
//    mask key, from X25519(s_u, s_v); the self-mask key, from the seed b_u;
//  * the associated data of sealed shares, binding job, round, sender and
//    receiver;
//  * the context of the self-mask seed's Shamir commitment.
//
// Every item also binds the digest of the round parameters (RoundContext).
//
// Thread-safety: stateless.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "crypto/bytes.h"
#include "crypto/secagg/round_parameters.h"
#include "crypto/secret_bytes.h"
#include "crypto/x25519.h"

namespace tessera::crypto::secagg {

// What a client signs in stage 0: label, job id, round, its site id and
// number, the parameters digest, and both public keys.
std::vector<uint8_t> AdvertiseSignaturePayload(const RoundContext& context, uint32_t participant,
                                               const X25519PublicKey& encryption_public_key,
                                               const X25519PublicKey& mask_public_key);

// What a client signs in stage 3: label, job id, round, its site id and
// number, the parameters digest, and the survivor set.
std::vector<uint8_t> ConsistencySignaturePayload(const RoundContext& context, uint32_t participant,
                                                 absl::Span<const uint32_t> survivors);

// Associated data of the shares `sender` seals for `receiver`: label, job id,
// round, sender and receiver numbers and site ids, parameters digest.
std::vector<uint8_t> ShareAssociatedData(const RoundContext& context, uint32_t sender,
                                         uint32_t receiver);

// The AES-256-GCM key for shares sent from `sender` to `receiver`:
// HKDF(ikm = X25519(c_sender, c_receiver), salt = parameters digest,
// info = label || sender || receiver). Each direction gets its own key.
absl::StatusOr<SecretBytes> ShareEncryptionKey(const SecretBytes& agreement,
                                               const RoundContext& context, uint32_t sender,
                                               uint32_t receiver);

// The AES-256-CTR key of the pairwise mask between participants a and b
// (order-independent): HKDF(ikm = X25519(s_a, s_b), salt = parameters
// digest, info = label || min(a,b) || max(a,b)).
absl::StatusOr<SecretBytes> PairwiseMaskKey(const SecretBytes& agreement,
                                            const RoundContext& context, uint32_t a, uint32_t b);

// The AES-256-CTR key of participant's self mask: HKDF(ikm = b_u, salt =
// parameters digest, info = label || participant).
absl::StatusOr<SecretBytes> SelfMaskKey(ByteSpan seed, const RoundContext& context,
                                        uint32_t participant);

// The context under which a participant commits to its self-mask seed
// (ShamirCommitment): label, parameters digest, participant number.
std::vector<uint8_t> SelfMaskCommitmentContext(const RoundContext& context, uint32_t participant);

// One mask to add (or subtract): the AES-256-CTR key of its generator.
struct MaskKey {
  SecretBytes key;
  bool add = true;
};

// vector += PRG(key) for masks with `add`, vector -= PRG(key) for the others
// (mod 2^32), with the generator of crypto/aes_ctr_prg.h. Works through the
// vector one cache-sized block at a time, adding every mask to a block before
// moving on, so the vector crosses memory once rather than once per mask.
// INVALID_ARGUMENT for a key that is not 32 bytes.
absl::Status ApplyMasks(const std::vector<MaskKey>& masks, absl::Span<uint32_t> vector);

}  // namespace tessera::crypto::secagg
