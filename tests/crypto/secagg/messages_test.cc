#include "crypto/secagg/messages.h"

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto::secagg {
namespace {

using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

MessageHeader SampleHeader() {
  MessageHeader header;
  header.job_id = "job-42";
  header.round = 0x0102030405060708;
  for (size_t i = 0; i < header.parameters_digest.size(); ++i) {
    header.parameters_digest[i] = static_cast<uint8_t>(i);
  }
  return header;
}

std::vector<uint8_t> Bytes(size_t size, uint8_t first) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(first + i);
  return bytes;
}

X25519PublicKey Key(uint8_t first) {
  X25519PublicKey key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(first + i);
  return key;
}

void ExpectHeaderEq(const MessageHeader& a, const MessageHeader& b) {
  EXPECT_EQ(a.job_id, b.job_id);
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.parameters_digest, b.parameters_digest);
}

AdvertiseKeys SampleAdvertiseKeys() {
  return AdvertiseKeys{SampleHeader(), Key(1), Key(2), Bytes(300, 3), Bytes(71, 4)};
}
KeyList SampleKeyList() {
  KeyList m{SampleHeader(), {}};
  m.neighbours.push_back({2, Key(5), Key(6), Bytes(290, 7), Bytes(64, 8)});
  m.neighbours.push_back({9, Key(9), Key(10), Bytes(310, 11), Bytes(72, 12)});
  return m;
}
ShareKeys SampleShareKeys() {
  ShareKeys m{SampleHeader(), {}, {}};
  m.self_mask_commitment[0] = 0xAA;
  m.shares.push_back({3, Bytes(kEncryptedSharesSize, 13)});
  m.shares.push_back({4, Bytes(kEncryptedSharesSize, 14)});
  return m;
}
ShareRelay SampleShareRelay() {
  ShareRelay m{SampleHeader(), {}};
  m.shares.push_back({1, Bytes(kEncryptedSharesSize, 15)});
  m.shares.push_back({65535, Bytes(kEncryptedSharesSize, 16)});
  return m;
}
MaskedInput SampleMaskedInput() {
  return MaskedInput{SampleHeader(), 12, 5, {0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0x0F}};
}
SurvivorSet SampleSurvivorSet() { return SurvivorSet{SampleHeader(), {1, 2, 5, 300}}; }
ConsistencySignature SampleConsistencySignature() {
  return ConsistencySignature{SampleHeader(), Bytes(70, 17)};
}
UnmaskRequest SampleUnmaskRequest() {
  UnmaskRequest m{SampleHeader(), {1, 2, 3}, {}};
  m.signatures.push_back({1, Bytes(70, 18)});
  m.signatures.push_back({3, Bytes(64, 19)});
  return m;
}
UnmaskShares SampleUnmaskShares() {
  UnmaskShares m{SampleHeader(), {}};
  RevealedShare a{2, ShareKind::kSelfMaskSeed, {}};
  a.share[0] = 1;
  RevealedShare b{7, ShareKind::kMaskKey, {}};
  b.share[31] = 2;
  m.shares = {a, b};
  return m;
}

TEST(MessagesTest, EveryMessageRoundTrips) {
  {
    const AdvertiseKeys m = SampleAdvertiseKeys();
    ASSERT_OK_AND_ASSIGN(AdvertiseKeys p, ParseAdvertiseKeys(Serialize(m)));
    ExpectHeaderEq(p.header, m.header);
    EXPECT_EQ(p.encryption_public_key, m.encryption_public_key);
    EXPECT_EQ(p.mask_public_key, m.mask_public_key);
    EXPECT_EQ(p.certificate_der, m.certificate_der);
    EXPECT_EQ(p.signature, m.signature);
  }
  {
    const KeyList m = SampleKeyList();
    ASSERT_OK_AND_ASSIGN(KeyList p, ParseKeyList(Serialize(m)));
    ExpectHeaderEq(p.header, m.header);
    ASSERT_EQ(p.neighbours.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(p.neighbours[i].participant, m.neighbours[i].participant);
      EXPECT_EQ(p.neighbours[i].encryption_public_key, m.neighbours[i].encryption_public_key);
      EXPECT_EQ(p.neighbours[i].mask_public_key, m.neighbours[i].mask_public_key);
      EXPECT_EQ(p.neighbours[i].certificate_der, m.neighbours[i].certificate_der);
      EXPECT_EQ(p.neighbours[i].signature, m.neighbours[i].signature);
    }
  }
  {
    const ShareKeys m = SampleShareKeys();
    ASSERT_OK_AND_ASSIGN(ShareKeys p, ParseShareKeys(Serialize(m)));
    ExpectHeaderEq(p.header, m.header);
    EXPECT_EQ(p.self_mask_commitment, m.self_mask_commitment);
    ASSERT_EQ(p.shares.size(), 2u);
    EXPECT_EQ(p.shares[1].peer, 4u);
    EXPECT_EQ(p.shares[1].ciphertext, m.shares[1].ciphertext);
  }
  {
    const ShareRelay m = SampleShareRelay();
    ASSERT_OK_AND_ASSIGN(ShareRelay p, ParseShareRelay(Serialize(m)));
    ASSERT_EQ(p.shares.size(), 2u);
    EXPECT_EQ(p.shares[1].peer, 65535u);
    EXPECT_EQ(p.shares[0].ciphertext, m.shares[0].ciphertext);
  }
  {
    const MaskedInput m = SampleMaskedInput();
    ASSERT_OK_AND_ASSIGN(MaskedInput p, ParseMaskedInput(Serialize(m)));
    EXPECT_EQ(p.bit_width, 12u);
    EXPECT_EQ(p.length, 5u);
    EXPECT_EQ(p.packed, m.packed);
  }
  {
    ASSERT_OK_AND_ASSIGN(SurvivorSet p, ParseSurvivorSet(Serialize(SampleSurvivorSet())));
    EXPECT_EQ(p.survivors, SampleSurvivorSet().survivors);
  }
  {
    ASSERT_OK_AND_ASSIGN(ConsistencySignature p,
                         ParseConsistencySignature(Serialize(SampleConsistencySignature())));
    EXPECT_EQ(p.signature, SampleConsistencySignature().signature);
  }
  {
    const UnmaskRequest m = SampleUnmaskRequest();
    ASSERT_OK_AND_ASSIGN(UnmaskRequest p, ParseUnmaskRequest(Serialize(m)));
    EXPECT_EQ(p.survivors, m.survivors);
    ASSERT_EQ(p.signatures.size(), 2u);
    EXPECT_EQ(p.signatures[1].signer, 3u);
    EXPECT_EQ(p.signatures[1].signature, m.signatures[1].signature);
  }
  {
    const UnmaskShares m = SampleUnmaskShares();
    ASSERT_OK_AND_ASSIGN(UnmaskShares p, ParseUnmaskShares(Serialize(m)));
    ASSERT_EQ(p.shares.size(), 2u);
    EXPECT_EQ(p.shares[0].kind, ShareKind::kSelfMaskSeed);
    EXPECT_EQ(p.shares[1].kind, ShareKind::kMaskKey);
    EXPECT_EQ(p.shares[1].owner, 7u);
    EXPECT_EQ(p.shares[1].share, m.shares[1].share);
  }
}

// Every message encoding with its parser, as (type, bytes, parse) triples.
struct Encoded {
  MessageType type;
  std::vector<uint8_t> bytes;
  std::function<absl::Status(ByteSpan)> parse;
};

template <typename Message>
Encoded Encode(MessageType type, const Message& message,
               absl::StatusOr<Message> (*parse)(ByteSpan)) {
  return Encoded{type, Serialize(message),
                 [parse](ByteSpan bytes) { return parse(bytes).status(); }};
}

std::vector<Encoded> AllSamples() {
  return {Encode(MessageType::kAdvertiseKeys, SampleAdvertiseKeys(), &ParseAdvertiseKeys),
          Encode(MessageType::kKeyList, SampleKeyList(), &ParseKeyList),
          Encode(MessageType::kShareKeys, SampleShareKeys(), &ParseShareKeys),
          Encode(MessageType::kShareRelay, SampleShareRelay(), &ParseShareRelay),
          Encode(MessageType::kMaskedInput, SampleMaskedInput(), &ParseMaskedInput),
          Encode(MessageType::kSurvivorSet, SampleSurvivorSet(), &ParseSurvivorSet),
          Encode(MessageType::kConsistencySignature, SampleConsistencySignature(),
                 &ParseConsistencySignature),
          Encode(MessageType::kUnmaskRequest, SampleUnmaskRequest(), &ParseUnmaskRequest),
          Encode(MessageType::kUnmaskShares, SampleUnmaskShares(), &ParseUnmaskShares)};
}

TEST(MessagesTest, EveryTruncationAndExtensionIsRejected) {
  for (const Encoded& sample : AllSamples()) {
    const std::string name = MessageTypeName(sample.type);
    ASSERT_OK(sample.parse(sample.bytes)) << name;
    EXPECT_THAT(PeekMessageType(sample.bytes), IsOkAndHolds(sample.type));
    for (size_t length = 0; length < sample.bytes.size(); ++length) {
      EXPECT_THAT(sample.parse(ByteSpan(sample.bytes.data(), length)),
                  StatusIs(absl::StatusCode::kInvalidArgument))
          << name << " truncated to " << length;
    }
    std::vector<uint8_t> longer = sample.bytes;
    longer.push_back(0);
    EXPECT_THAT(sample.parse(longer),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing")))
        << name;
  }
}

TEST(MessagesTest, WrongVersionOrTypeIsRejected) {
  for (const Encoded& sample : AllSamples()) {
    std::vector<uint8_t> version = sample.bytes;
    version[0] = 2;
    EXPECT_THAT(sample.parse(version),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("wire version 2")));
    EXPECT_THAT(PeekMessageType(version), StatusIs(absl::StatusCode::kInvalidArgument));
    std::vector<uint8_t> type = sample.bytes;
    type[1] = static_cast<uint8_t>(type[1] % 9 + 1);  // another valid type
    EXPECT_THAT(sample.parse(type), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr(MessageTypeName(sample.type))));
    type[1] = 0x7F;
    EXPECT_THAT(PeekMessageType(type), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(MessagesTest, ListsMustBeSortedWithValidParticipants) {
  SurvivorSet unsorted = SampleSurvivorSet();
  std::swap(unsorted.survivors[0], unsorted.survivors[1]);
  EXPECT_THAT(ParseSurvivorSet(Serialize(unsorted)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of order")));
  SurvivorSet repeated = SampleSurvivorSet();
  repeated.survivors[1] = repeated.survivors[0];
  EXPECT_THAT(ParseSurvivorSet(Serialize(repeated)), StatusIs(absl::StatusCode::kInvalidArgument));
  SurvivorSet zero = SampleSurvivorSet();
  zero.survivors[0] = 0;
  EXPECT_THAT(ParseSurvivorSet(Serialize(zero)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a participant")));
  SurvivorSet huge = SampleSurvivorSet();
  huge.survivors.back() = 70000;
  EXPECT_THAT(ParseSurvivorSet(Serialize(huge)), StatusIs(absl::StatusCode::kInvalidArgument));

  KeyList keys = SampleKeyList();
  std::swap(keys.neighbours[0], keys.neighbours[1]);
  EXPECT_THAT(ParseKeyList(Serialize(keys)), StatusIs(absl::StatusCode::kInvalidArgument));
  ShareRelay relay = SampleShareRelay();
  relay.shares[1].peer = relay.shares[0].peer;
  EXPECT_THAT(ParseShareRelay(Serialize(relay)), StatusIs(absl::StatusCode::kInvalidArgument));
  UnmaskShares shares = SampleUnmaskShares();
  std::swap(shares.shares[0], shares.shares[1]);
  EXPECT_THAT(ParseUnmaskShares(Serialize(shares)), StatusIs(absl::StatusCode::kInvalidArgument));
  UnmaskRequest request = SampleUnmaskRequest();
  std::swap(request.signatures[0], request.signatures[1]);
  EXPECT_THAT(ParseUnmaskRequest(Serialize(request)), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MessagesTest, FieldContentsAreValidated) {
  UnmaskShares kind = SampleUnmaskShares();
  std::vector<uint8_t> bytes = Serialize(kind);
  // The kind byte of the first share follows the header, the count and the owner.
  const size_t header_size = 1 + 1 + 2 + kind.header.job_id.size() + 8 + 32;
  bytes[header_size + 4 + 4] = 3;
  EXPECT_THAT(ParseUnmaskShares(bytes),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("share kind 3")));

  MaskedInput width = SampleMaskedInput();
  width.bit_width = 33;
  EXPECT_THAT(ParseMaskedInput(Serialize(width)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bit width 33")));
  width.bit_width = 0;
  EXPECT_THAT(ParseMaskedInput(Serialize(width)), StatusIs(absl::StatusCode::kInvalidArgument));
  MaskedInput padding = SampleMaskedInput();  // 5 x 12 bits = 60 bits: 4 padding bits
  padding.packed.back() = 0xF0;
  EXPECT_THAT(ParseMaskedInput(Serialize(padding)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("padding")));
  MaskedInput length = SampleMaskedInput();
  length.length = 0;
  EXPECT_THAT(ParseMaskedInput(Serialize(length)), StatusIs(absl::StatusCode::kInvalidArgument));

  ConsistencySignature empty = SampleConsistencySignature();
  empty.signature.clear();
  EXPECT_THAT(ParseConsistencySignature(Serialize(empty)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  AdvertiseKeys big = SampleAdvertiseKeys();
  big.certificate_der.assign(kMaxCertificateSize + 1, 0x30);
  EXPECT_THAT(ParseAdvertiseKeys(Serialize(big)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most")));
  AdvertiseKeys no_job = SampleAdvertiseKeys();
  no_job.header.job_id.clear();
  EXPECT_THAT(ParseAdvertiseKeys(Serialize(no_job)), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Random corruptions of valid encodings: parsing must return (OK or an
// error) without crashing or reading out of bounds (run it under the
// sanitizer build, TESSERA_SANITIZE=ON, to check the latter).
TEST(MessagesTest, RandomCorruptionsNeverCrash) {
  std::mt19937 rng(11);
  const std::vector<Encoded> samples = AllSamples();
  int rejected = 0;
  for (int trial = 0; trial < 30000; ++trial) {
    const Encoded& sample = samples[static_cast<size_t>(trial) % samples.size()];
    std::vector<uint8_t> bytes = sample.bytes;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    }
    if (rng() % 4 == 0) bytes.resize(rng() % bytes.size());
    rejected += sample.parse(bytes).ok() ? 0 : 1;
  }
  // Most corruptions hit lengths, counts, order or the header.
  EXPECT_GT(rejected, 1000);
}

}  // namespace
}  // namespace tessera::crypto::secagg
