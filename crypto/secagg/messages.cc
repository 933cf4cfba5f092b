#include "crypto/secagg/messages.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/secagg/round_parameters.h"
#include "crypto/secagg/wire.h"

namespace tessera::crypto::secagg {
namespace {

// Fixed sizes of list entries, for bounding counts by the bytes left.
constexpr size_t kNeighbourKeysMinSize = 4 + 32 + 32 + 2 + 2;
constexpr size_t kEncryptedSharesEntrySize = 4 + kEncryptedSharesSize;
constexpr size_t kPeerSignatureMinSize = 4 + 2;
constexpr size_t kRevealedShareSize = 4 + 1 + kShareSize;

// ---- writing ----

WireWriter StartMessage(MessageType type, const MessageHeader& header) {
  WireWriter writer;
  writer.U8(kWireVersion);
  writer.U8(static_cast<uint8_t>(type));
  writer.Blob16(AsBytes(header.job_id));
  writer.U64(header.round);
  writer.Raw(header.parameters_digest);
  return writer;
}

void WriteEncryptedShares(WireWriter& writer, const std::vector<EncryptedShares>& shares) {
  writer.U32(static_cast<uint32_t>(shares.size()));
  for (const EncryptedShares& entry : shares) {
    writer.U32(entry.peer);
    writer.Raw(entry.ciphertext);
  }
}

void WriteParticipants(WireWriter& writer, const std::vector<uint32_t>& participants) {
  writer.U32(static_cast<uint32_t>(participants.size()));
  for (uint32_t participant : participants) writer.U32(participant);
}

// ---- reading ----

template <size_t N>
absl::Status ReadArray(WireReader& reader, std::array<uint8_t, N>& out, absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(ByteSpan bytes, reader.Raw(N, field));
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return absl::OkStatus();
}

absl::Status ReadBlob16(WireReader& reader, size_t max, bool allow_empty, std::vector<uint8_t>& out,
                        absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(ByteSpan bytes, reader.Blob16(max, field));
  if (bytes.empty() && !allow_empty) return reader.Error(absl::StrCat("`", field, "` is empty"));
  out.assign(bytes.begin(), bytes.end());
  return absl::OkStatus();
}

absl::Status ReadHeader(WireReader& reader, MessageType expected, MessageHeader& header) {
  TESSERA_ASSIGN_OR_RETURN(uint8_t version, reader.U8("version"));
  if (version != kWireVersion) {
    return reader.Error(absl::StrCat("wire version ", version,
                                     " is not supported (this build speaks ", kWireVersion, ")"));
  }
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, reader.U8("type"));
  if (type != static_cast<uint8_t>(expected)) {
    return reader.Error(absl::StrCat("message type ", type, " is not ", MessageTypeName(expected)));
  }
  TESSERA_ASSIGN_OR_RETURN(ByteSpan job_id, reader.Blob16(kMaxJobIdLength, "job_id"));
  if (job_id.empty()) return reader.Error("`job_id` is empty");
  header.job_id = std::string(AsStringView(job_id));
  TESSERA_ASSIGN_OR_RETURN(header.round, reader.U64("round"));
  return ReadArray(reader, header.parameters_digest, "parameters_digest");
}

// Reads a participant number that must exceed `previous` (lists are sorted
// without repeats) and fit the 16-bit range of participant numbers.
absl::StatusOr<uint32_t> ReadParticipant(WireReader& reader, uint32_t previous,
                                         absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t participant, reader.U32(field));
  if (participant == 0 || participant > kMaxParticipants) {
    return reader.Error(
        absl::StrCat("`", field, "` ", participant, " is not a participant number"));
  }
  if (participant <= previous) {
    return reader.Error(absl::StrCat("`", field, "` ", participant,
                                     " is out of order or repeated (lists are sorted)"));
  }
  return participant;
}

absl::StatusOr<std::vector<EncryptedShares>> ReadEncryptedShares(WireReader& reader,
                                                                 absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t count,
                           reader.Count(kMaxParticipants, kEncryptedSharesEntrySize, field));
  std::vector<EncryptedShares> shares(count);
  uint32_t previous = 0;
  for (EncryptedShares& entry : shares) {
    TESSERA_ASSIGN_OR_RETURN(entry.peer, ReadParticipant(reader, previous, "peer"));
    previous = entry.peer;
    TESSERA_ASSIGN_OR_RETURN(ByteSpan ciphertext, reader.Raw(kEncryptedSharesSize, "ciphertext"));
    entry.ciphertext.assign(ciphertext.begin(), ciphertext.end());
  }
  return shares;
}

absl::StatusOr<std::vector<uint32_t>> ReadParticipants(WireReader& reader,
                                                       absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t count, reader.Count(kMaxParticipants, 4, field));
  std::vector<uint32_t> participants(count);
  uint32_t previous = 0;
  for (uint32_t& participant : participants) {
    TESSERA_ASSIGN_OR_RETURN(participant, ReadParticipant(reader, previous, field));
    previous = participant;
  }
  return participants;
}

// Parses `bytes` as message type `type` with `body` reading the fields after
// the header, and requires that nothing is left over.
template <typename Message, typename Body>
absl::StatusOr<Message> Parse(ByteSpan bytes, MessageType type, Body body) {
  WireReader reader(bytes, MessageTypeName(type));
  Message message;
  TESSERA_RETURN_IF_ERROR(ReadHeader(reader, type, message.header));
  TESSERA_RETURN_IF_ERROR(body(reader, message));
  TESSERA_RETURN_IF_ERROR(reader.ExpectEnd());
  return message;
}

}  // namespace

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kAdvertiseKeys:
      return "AdvertiseKeys";
    case MessageType::kKeyList:
      return "KeyList";
    case MessageType::kShareKeys:
      return "ShareKeys";
    case MessageType::kShareRelay:
      return "ShareRelay";
    case MessageType::kMaskedInput:
      return "MaskedInput";
    case MessageType::kSurvivorSet:
      return "SurvivorSet";
    case MessageType::kConsistencySignature:
      return "ConsistencySignature";
    case MessageType::kUnmaskRequest:
      return "UnmaskRequest";
    case MessageType::kUnmaskShares:
      return "UnmaskShares";
  }
  return "unknown message";
}

absl::StatusOr<MessageType> PeekMessageType(ByteSpan bytes) {
  WireReader reader(bytes, "secure-aggregation message");
  TESSERA_ASSIGN_OR_RETURN(uint8_t version, reader.U8("version"));
  if (version != kWireVersion) {
    return reader.Error(absl::StrCat("wire version ", version, " is not supported"));
  }
  TESSERA_ASSIGN_OR_RETURN(uint8_t type, reader.U8("type"));
  if (type < static_cast<uint8_t>(MessageType::kAdvertiseKeys) ||
      type > static_cast<uint8_t>(MessageType::kUnmaskShares)) {
    return reader.Error(absl::StrCat("unknown message type ", type));
  }
  return static_cast<MessageType>(type);
}

// AdvertiseKeys: header, c_pk[32], s_pk[32], u16 len + certificate DER,
// u16 len + signature.
std::vector<uint8_t> Serialize(const AdvertiseKeys& message) {
  WireWriter writer = StartMessage(MessageType::kAdvertiseKeys, message.header);
  writer.Raw(message.encryption_public_key);
  writer.Raw(message.mask_public_key);
  writer.Blob16(message.certificate_der);
  writer.Blob16(message.signature);
  return std::move(writer).Finish();
}

absl::StatusOr<AdvertiseKeys> ParseAdvertiseKeys(ByteSpan bytes) {
  return Parse<AdvertiseKeys>(
      bytes, MessageType::kAdvertiseKeys, [](WireReader& reader, AdvertiseKeys& message) {
        TESSERA_RETURN_IF_ERROR(
            ReadArray(reader, message.encryption_public_key, "encryption_public_key"));
        TESSERA_RETURN_IF_ERROR(ReadArray(reader, message.mask_public_key, "mask_public_key"));
        TESSERA_RETURN_IF_ERROR(
            ReadBlob16(reader, kMaxCertificateSize, false, message.certificate_der, "certificate"));
        return ReadBlob16(reader, kMaxSignatureSize, false, message.signature, "signature");
      });
}

// KeyList: header, u32 count, then per neighbour: u32 participant, c_pk[32],
// s_pk[32], u16 len + certificate DER, u16 len + signature.
std::vector<uint8_t> Serialize(const KeyList& message) {
  WireWriter writer = StartMessage(MessageType::kKeyList, message.header);
  writer.U32(static_cast<uint32_t>(message.neighbours.size()));
  for (const NeighbourKeys& entry : message.neighbours) {
    writer.U32(entry.participant);
    writer.Raw(entry.encryption_public_key);
    writer.Raw(entry.mask_public_key);
    writer.Blob16(entry.certificate_der);
    writer.Blob16(entry.signature);
  }
  return std::move(writer).Finish();
}

absl::StatusOr<KeyList> ParseKeyList(ByteSpan bytes) {
  return Parse<KeyList>(bytes, MessageType::kKeyList, [](WireReader& reader, KeyList& message) {
    TESSERA_ASSIGN_OR_RETURN(uint32_t count,
                             reader.Count(kMaxParticipants, kNeighbourKeysMinSize, "neighbours"));
    message.neighbours.resize(count);
    uint32_t previous = 0;
    for (NeighbourKeys& entry : message.neighbours) {
      TESSERA_ASSIGN_OR_RETURN(entry.participant, ReadParticipant(reader, previous, "participant"));
      previous = entry.participant;
      TESSERA_RETURN_IF_ERROR(
          ReadArray(reader, entry.encryption_public_key, "encryption_public_key"));
      TESSERA_RETURN_IF_ERROR(ReadArray(reader, entry.mask_public_key, "mask_public_key"));
      TESSERA_RETURN_IF_ERROR(
          ReadBlob16(reader, kMaxCertificateSize, false, entry.certificate_der, "certificate"));
      TESSERA_RETURN_IF_ERROR(
          ReadBlob16(reader, kMaxSignatureSize, false, entry.signature, "signature"));
    }
    return absl::OkStatus();
  });
}

// ShareKeys: header, commitment[32], u32 count, then per recipient:
// u32 participant, sealed shares[92].
std::vector<uint8_t> Serialize(const ShareKeys& message) {
  WireWriter writer = StartMessage(MessageType::kShareKeys, message.header);
  writer.Raw(message.self_mask_commitment);
  WriteEncryptedShares(writer, message.shares);
  return std::move(writer).Finish();
}

absl::StatusOr<ShareKeys> ParseShareKeys(ByteSpan bytes) {
  return Parse<ShareKeys>(
      bytes, MessageType::kShareKeys, [](WireReader& reader, ShareKeys& message) {
        TESSERA_RETURN_IF_ERROR(
            ReadArray(reader, message.self_mask_commitment, "self_mask_commitment"));
        TESSERA_ASSIGN_OR_RETURN(message.shares, ReadEncryptedShares(reader, "shares"));
        return absl::OkStatus();
      });
}

// ShareRelay: header, u32 count, then per sender: u32 participant, sealed
// shares[92].
std::vector<uint8_t> Serialize(const ShareRelay& message) {
  WireWriter writer = StartMessage(MessageType::kShareRelay, message.header);
  WriteEncryptedShares(writer, message.shares);
  return std::move(writer).Finish();
}

absl::StatusOr<ShareRelay> ParseShareRelay(ByteSpan bytes) {
  return Parse<ShareRelay>(
      bytes, MessageType::kShareRelay, [](WireReader& reader, ShareRelay& message) {
        TESSERA_ASSIGN_OR_RETURN(message.shares, ReadEncryptedShares(reader, "shares"));
        return absl::OkStatus();
      });
}

// MaskedInput: header, u8 bit width, u64 length, then ceil(length * bit
// width / 8) bytes of packed values (no length prefix: it follows from the
// two fields).
std::vector<uint8_t> Serialize(const MaskedInput& message) {
  WireWriter writer = StartMessage(MessageType::kMaskedInput, message.header);
  writer.U8(static_cast<uint8_t>(message.bit_width));
  writer.U64(message.length);
  writer.Raw(message.packed);
  return std::move(writer).Finish();
}

absl::StatusOr<MaskedInput> ParseMaskedInput(ByteSpan bytes) {
  return Parse<MaskedInput>(
      bytes, MessageType::kMaskedInput, [](WireReader& reader, MaskedInput& message) {
        TESSERA_ASSIGN_OR_RETURN(uint8_t bit_width, reader.U8("bit_width"));
        if (bit_width < 1 || bit_width > 32) {
          return reader.Error(absl::StrCat("bit width ", bit_width, " is outside 1..32"));
        }
        message.bit_width = bit_width;
        TESSERA_ASSIGN_OR_RETURN(message.length, reader.U64("length"));
        if (message.length < 1 || message.length > kMaxVectorLength) {
          return reader.Error(
              absl::StrCat("length ", message.length, " is outside 1..", kMaxVectorLength));
        }
        const uint64_t size = PackedSize(message.length, message.bit_width);
        TESSERA_ASSIGN_OR_RETURN(ByteSpan packed, reader.Raw(size, "packed"));
        TESSERA_RETURN_IF_ERROR(CheckPacked(packed, message.length, message.bit_width));
        message.packed.assign(packed.begin(), packed.end());
        return absl::OkStatus();
      });
}

// SurvivorSet: header, u32 count, u32 participant each.
std::vector<uint8_t> Serialize(const SurvivorSet& message) {
  WireWriter writer = StartMessage(MessageType::kSurvivorSet, message.header);
  WriteParticipants(writer, message.survivors);
  return std::move(writer).Finish();
}

absl::StatusOr<SurvivorSet> ParseSurvivorSet(ByteSpan bytes) {
  return Parse<SurvivorSet>(
      bytes, MessageType::kSurvivorSet, [](WireReader& reader, SurvivorSet& message) {
        TESSERA_ASSIGN_OR_RETURN(message.survivors, ReadParticipants(reader, "survivors"));
        return absl::OkStatus();
      });
}

// ConsistencySignature: header, u16 len + signature.
std::vector<uint8_t> Serialize(const ConsistencySignature& message) {
  WireWriter writer = StartMessage(MessageType::kConsistencySignature, message.header);
  writer.Blob16(message.signature);
  return std::move(writer).Finish();
}

absl::StatusOr<ConsistencySignature> ParseConsistencySignature(ByteSpan bytes) {
  return Parse<ConsistencySignature>(bytes, MessageType::kConsistencySignature,
                                     [](WireReader& reader, ConsistencySignature& message) {
                                       return ReadBlob16(reader, kMaxSignatureSize, false,
                                                         message.signature, "signature");
                                     });
}

// UnmaskRequest: header, survivors as in SurvivorSet, u32 count, then per
// signer: u32 participant, u16 len + signature.
std::vector<uint8_t> Serialize(const UnmaskRequest& message) {
  WireWriter writer = StartMessage(MessageType::kUnmaskRequest, message.header);
  WriteParticipants(writer, message.survivors);
  writer.U32(static_cast<uint32_t>(message.signatures.size()));
  for (const PeerSignature& entry : message.signatures) {
    writer.U32(entry.signer);
    writer.Blob16(entry.signature);
  }
  return std::move(writer).Finish();
}

absl::StatusOr<UnmaskRequest> ParseUnmaskRequest(ByteSpan bytes) {
  return Parse<UnmaskRequest>(
      bytes, MessageType::kUnmaskRequest, [](WireReader& reader, UnmaskRequest& message) {
        TESSERA_ASSIGN_OR_RETURN(message.survivors, ReadParticipants(reader, "survivors"));
        TESSERA_ASSIGN_OR_RETURN(
            uint32_t count, reader.Count(kMaxParticipants, kPeerSignatureMinSize, "signatures"));
        message.signatures.resize(count);
        uint32_t previous = 0;
        for (PeerSignature& entry : message.signatures) {
          TESSERA_ASSIGN_OR_RETURN(entry.signer, ReadParticipant(reader, previous, "signer"));
          previous = entry.signer;
          TESSERA_RETURN_IF_ERROR(
              ReadBlob16(reader, kMaxSignatureSize, false, entry.signature, "signature"));
        }
        return absl::OkStatus();
      });
}

// UnmaskShares: header, u32 count, then per owner: u32 participant, u8 kind
// (1 self-mask seed, 2 mask key), share[32].
std::vector<uint8_t> Serialize(const UnmaskShares& message) {
  WireWriter writer = StartMessage(MessageType::kUnmaskShares, message.header);
  writer.U32(static_cast<uint32_t>(message.shares.size()));
  for (const RevealedShare& entry : message.shares) {
    writer.U32(entry.owner);
    writer.U8(static_cast<uint8_t>(entry.kind));
    writer.Raw(entry.share);
  }
  return std::move(writer).Finish();
}

absl::StatusOr<UnmaskShares> ParseUnmaskShares(ByteSpan bytes) {
  return Parse<UnmaskShares>(
      bytes, MessageType::kUnmaskShares, [](WireReader& reader, UnmaskShares& message) {
        TESSERA_ASSIGN_OR_RETURN(uint32_t count,
                                 reader.Count(kMaxParticipants, kRevealedShareSize, "shares"));
        message.shares.resize(count);
        uint32_t previous = 0;
        for (RevealedShare& entry : message.shares) {
          TESSERA_ASSIGN_OR_RETURN(entry.owner, ReadParticipant(reader, previous, "owner"));
          previous = entry.owner;
          TESSERA_ASSIGN_OR_RETURN(uint8_t kind, reader.U8("kind"));
          if (kind != static_cast<uint8_t>(ShareKind::kSelfMaskSeed) &&
              kind != static_cast<uint8_t>(ShareKind::kMaskKey)) {
            return reader.Error(absl::StrCat("share kind ", kind, " is unknown"));
          }
          entry.kind = static_cast<ShareKind>(kind);
          TESSERA_RETURN_IF_ERROR(ReadArray(reader, entry.share, "share"));
        }
        return absl::OkStatus();
      });
}

}  // namespace tessera::crypto::secagg
