// The messages of one SecAgg+ round (Bell et al. 2020, ePrint 2020/704,
// built on Bonawitz et al. 2017, ePrint 2017/281, Figure 4), as plain structs
// with an explicit byte encoding so any transport can carry them.
//
//   stage               client -> coordinator       coordinator -> client
//   0 advertise keys    AdvertiseKeys               KeyList (the neighbours' signed keys)
//   1 share keys        ShareKeys (encrypted shares) ShareRelay (shares addressed to it)
//   2 masked input      MaskedInput                 SurvivorSet (who sent a masked input)
//   3 consistency check ConsistencySignature        UnmaskRequest (neighbours' signatures)
//   4 unmask            UnmaskShares                (the coordinator computes the sum)
//
// Sites are named by their participant number (1-based position in
// RoundParameters::participants). The sender of a client message is never a
// field: the transport supplies it from the authenticated connection.
//
// Encoding: every message starts with a header (wire version 1, message
// type, job id, round, the 32-byte digest of the round parameters), then its
// fields as documented in messages.cc, all integers big-endian. Parse
// functions validate every length and count against the remaining bytes and
// fixed bounds, require lists to be sorted by participant number without
// repeats, reject trailing bytes, and return INVALID_ARGUMENT naming the
// message and field otherwise. They never crash on any input.
//
// Thread-safety: plain values; the functions are stateless.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/sha256.h"
#include "crypto/x25519.h"

namespace tessera::crypto::secagg {

inline constexpr uint8_t kWireVersion = 1;
inline constexpr size_t kMaxCertificateSize = 16 * 1024;
inline constexpr size_t kMaxSignatureSize = 512;
inline constexpr size_t kShareSize = 32;
// nonce (12) || AES-256-GCM(share of the self-mask seed || share of the
// mask key) (64) || tag (16).
inline constexpr size_t kEncryptedSharesSize = 12 + 2 * kShareSize + 16;

enum class MessageType : uint8_t {
  kAdvertiseKeys = 1,
  kKeyList = 2,
  kShareKeys = 3,
  kShareRelay = 4,
  kMaskedInput = 5,
  kSurvivorSet = 6,
  kConsistencySignature = 7,
  kUnmaskRequest = 8,
  kUnmaskShares = 9,
};

// The name of a message type ("AdvertiseKeys"), for messages to people.
const char* MessageTypeName(MessageType type);

struct MessageHeader {
  std::string job_id;
  uint64_t round = 0;
  Sha256Digest parameters_digest{};  // RoundContext::digest() of the sender
};

// Stage 0, client -> coordinator: the client's two fresh X25519 public keys
// (c for encrypting shares, s for pairwise masks), its certificate, and its
// signature over both keys bound to the job, round and its own site id.
struct AdvertiseKeys {
  MessageHeader header;
  X25519PublicKey encryption_public_key{};
  X25519PublicKey mask_public_key{};
  std::vector<uint8_t> certificate_der;
  std::vector<uint8_t> signature;
};

// One neighbour's advertised keys as relayed by the coordinator.
struct NeighbourKeys {
  uint32_t participant = 0;
  X25519PublicKey encryption_public_key{};
  X25519PublicKey mask_public_key{};
  std::vector<uint8_t> certificate_der;
  std::vector<uint8_t> signature;
};

// Stage 0, coordinator -> client: the keys of the client's neighbours that
// advertised, sorted by participant.
struct KeyList {
  MessageHeader header;
  std::vector<NeighbourKeys> neighbours;
};

// A sealed pair of shares between two neighbours. In ShareKeys `peer` is the
// recipient; in ShareRelay it is the sender.
struct EncryptedShares {
  uint32_t peer = 0;
  std::vector<uint8_t> ciphertext;  // kEncryptedSharesSize bytes
};

// Stage 1, client -> coordinator: one sealed pair of shares per neighbour in
// its KeyList (sorted by recipient) and the commitment to its self-mask seed.
struct ShareKeys {
  MessageHeader header;
  Sha256Digest self_mask_commitment{};
  std::vector<EncryptedShares> shares;
};

// Stage 1, coordinator -> client: the sealed shares neighbours addressed to
// it, sorted by sender.
struct ShareRelay {
  MessageHeader header;
  std::vector<EncryptedShares> shares;
};

// Stage 2, client -> coordinator: y = x + PRG(b) + sum of signed pairwise
// masks (mod 2^b), packed at bit_width bits per value.
struct MaskedInput {
  MessageHeader header;
  uint32_t bit_width = 0;
  uint64_t length = 0;
  std::vector<uint8_t> packed;
};

// Stage 2, coordinator -> client: the participants whose masked input arrived
// (Bonawitz's U3), sorted.
struct SurvivorSet {
  MessageHeader header;
  std::vector<uint32_t> survivors;
};

// Stage 3, client -> coordinator: the client's signature over the survivor
// set it was shown.
struct ConsistencySignature {
  MessageHeader header;
  std::vector<uint8_t> signature;
};

struct PeerSignature {
  uint32_t signer = 0;
  std::vector<uint8_t> signature;
};

// Stage 3, coordinator -> client: the survivor set again and the consistency
// signatures of the client's neighbours, sorted by signer.
struct UnmaskRequest {
  MessageHeader header;
  std::vector<uint32_t> survivors;
  std::vector<PeerSignature> signatures;
};

enum class ShareKind : uint8_t {
  kSelfMaskSeed = 1,  // b_u: revealed for neighbours that survived
  kMaskKey = 2,       // s_u^SK: revealed for neighbours that dropped out
};

struct RevealedShare {
  uint32_t owner = 0;  // whose secret this is a share of
  ShareKind kind = ShareKind::kSelfMaskSeed;
  std::array<uint8_t, kShareSize> share{};
};

// Stage 4, client -> coordinator: for each neighbour whose shares it holds,
// exactly one share, sorted by owner.
struct UnmaskShares {
  MessageHeader header;
  std::vector<RevealedShare> shares;
};

// The type of an encoded message, read from its header. INVALID_ARGUMENT
// for an unknown version or type or a truncated header.
absl::StatusOr<MessageType> PeekMessageType(ByteSpan bytes);

std::vector<uint8_t> Serialize(const AdvertiseKeys& message);
std::vector<uint8_t> Serialize(const KeyList& message);
std::vector<uint8_t> Serialize(const ShareKeys& message);
std::vector<uint8_t> Serialize(const ShareRelay& message);
std::vector<uint8_t> Serialize(const MaskedInput& message);
std::vector<uint8_t> Serialize(const SurvivorSet& message);
std::vector<uint8_t> Serialize(const ConsistencySignature& message);
std::vector<uint8_t> Serialize(const UnmaskRequest& message);
std::vector<uint8_t> Serialize(const UnmaskShares& message);

absl::StatusOr<AdvertiseKeys> ParseAdvertiseKeys(ByteSpan bytes);
absl::StatusOr<KeyList> ParseKeyList(ByteSpan bytes);
absl::StatusOr<ShareKeys> ParseShareKeys(ByteSpan bytes);
absl::StatusOr<ShareRelay> ParseShareRelay(ByteSpan bytes);
absl::StatusOr<MaskedInput> ParseMaskedInput(ByteSpan bytes);
absl::StatusOr<SurvivorSet> ParseSurvivorSet(ByteSpan bytes);
absl::StatusOr<ConsistencySignature> ParseConsistencySignature(ByteSpan bytes);
absl::StatusOr<UnmaskRequest> ParseUnmaskRequest(ByteSpan bytes);
absl::StatusOr<UnmaskShares> ParseUnmaskShares(ByteSpan bytes);

}  // namespace tessera::crypto::secagg
