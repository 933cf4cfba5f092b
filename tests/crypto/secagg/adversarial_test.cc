// Secure aggregation against a malicious coordinator and misbehaving or
// broken sites: key substitution, a coordinator lying about who dropped out,
// tampered relays, corrupted unmasking shares, and malformed, replayed,
// duplicate or out-of-stage messages, which must be refused with a clear
// status while the round still completes for the honest parties.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "crypto/secagg/client.h"
#include "crypto/secagg/key_schedule.h"
#include "crypto/secagg/server.h"
#include "crypto/x25519.h"
#include "gtest/gtest.h"
#include "tests/crypto/secagg/federation_fixture.h"
#include "tests/crypto/test_pki.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto::secagg {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;
using testing::TestFederation;

template <typename T>
T Value(absl::StatusOr<T> value) {
  EXPECT_TRUE(value.ok()) << value.status();
  return *std::move(value);
}

template <typename Message>
std::map<uint32_t, Message> ByParticipant(const RoundContext& context,
                                          std::vector<Outgoing<Message>> outgoing) {
  std::map<uint32_t, Message> by;
  for (auto& out : outgoing) by.emplace(*context.IndexOf(out.site_id), std::move(out.message));
  return by;
}

// A round driven step by step, so a test can stand in for the coordinator
// (or a site) at any point. Sites are 1..n of the test federation.
class ManualRound {
 public:
  ManualRound(uint32_t n, uint32_t neighbours, uint32_t threshold, uint64_t round = 7,
              uint64_t vector_length = 9)
      : federation_(TestFederation::Get()),
        parameters_(
            federation_.Parameters(n, neighbours, threshold, 20, vector_length, 42 + n, round)),
        authenticator_(federation_.Authenticator()),
        server_(Value(federation_.MakeServer(parameters_, authenticator_))) {
    std::mt19937 rng(static_cast<uint32_t>(n * 31 + round));
    clients_.resize(n + 1);
    inputs_.resize(n + 1);
    for (uint32_t u = 1; u <= n; ++u) {
      clients_[u] = Value(federation_.MakeClient(parameters_, u, authenticator_));
      for (uint64_t i = 0; i < vector_length; ++i) inputs_[u].push_back(rng() & 0xFFFFF);
    }
  }

  uint32_t n() const { return static_cast<uint32_t>(clients_.size() - 1); }
  Server& server() { return *server_; }
  Client& client(uint32_t u) { return *clients_[u]; }
  const std::string& site(uint32_t u) const { return parameters_.participants[u - 1]; }
  const RoundParameters& parameters() const { return parameters_; }
  const RoundContext& context() const { return server_->context(); }
  const std::vector<uint32_t>& input(uint32_t u) const { return inputs_[u]; }

  std::map<uint32_t, AdvertiseKeys> StartAll() {
    std::map<uint32_t, AdvertiseKeys> out;
    for (uint32_t u = 1; u <= n(); ++u) out[u] = Value(clients_[u]->Start());
    return out;
  }
  void Deliver(const std::map<uint32_t, AdvertiseKeys>& messages) {
    for (const auto& [u, m] : messages) EXPECT_OK(server_->HandleAdvertiseKeys(site(u), m));
  }
  std::map<uint32_t, KeyList> KeyLists() {
    return ByParticipant(context(), Value(server_->FinishAdvertiseKeys()));
  }
  std::map<uint32_t, ShareKeys> Share(const std::map<uint32_t, KeyList>& lists) {
    std::map<uint32_t, ShareKeys> out;
    for (const auto& [u, list] : lists) out[u] = Value(clients_[u]->HandleKeyList(list));
    return out;
  }
  void Deliver(const std::map<uint32_t, ShareKeys>& messages) {
    for (const auto& [u, m] : messages) EXPECT_OK(server_->HandleShareKeys(site(u), m));
  }
  std::map<uint32_t, ShareRelay> Relays() {
    return ByParticipant(context(), Value(server_->FinishShareKeys()));
  }
  std::map<uint32_t, MaskedInput> Mask(const std::map<uint32_t, ShareRelay>& relays) {
    std::map<uint32_t, MaskedInput> out;
    for (const auto& [u, relay] : relays)
      out[u] = Value(clients_[u]->HandleShareRelay(relay, inputs_[u]));
    return out;
  }
  void Deliver(const std::map<uint32_t, MaskedInput>& messages) {
    for (const auto& [u, m] : messages) EXPECT_OK(server_->HandleMaskedInput(site(u), m));
  }
  std::map<uint32_t, SurvivorSet> SurvivorSets() {
    return ByParticipant(context(), Value(server_->FinishMaskedInput()));
  }
  std::map<uint32_t, ConsistencySignature> Sign(const std::map<uint32_t, SurvivorSet>& sets) {
    std::map<uint32_t, ConsistencySignature> out;
    for (const auto& [u, set] : sets) out[u] = Value(clients_[u]->HandleSurvivorSet(set));
    return out;
  }
  void Deliver(const std::map<uint32_t, ConsistencySignature>& messages) {
    for (const auto& [u, m] : messages) EXPECT_OK(server_->HandleConsistencySignature(site(u), m));
  }
  std::map<uint32_t, UnmaskRequest> UnmaskRequests() {
    return ByParticipant(context(), Value(server_->FinishConsistencyCheck()));
  }
  std::map<uint32_t, UnmaskShares> Reveal(const std::map<uint32_t, UnmaskRequest>& requests) {
    std::map<uint32_t, UnmaskShares> out;
    for (const auto& [u, request] : requests)
      out[u] = Value(clients_[u]->HandleUnmaskRequest(request));
    return out;
  }
  void Deliver(const std::map<uint32_t, UnmaskShares>& messages) {
    for (const auto& [u, m] : messages) EXPECT_OK(server_->HandleUnmaskShares(site(u), m));
  }

  // The sum of the inputs of `survivors` mod 2^20.
  std::vector<uint32_t> SumOf(const std::vector<uint32_t>& survivors) const {
    std::vector<uint32_t> sum(parameters_.vector_length, 0);
    for (uint32_t u : survivors) {
      for (size_t i = 0; i < sum.size(); ++i) sum[i] = (sum[i] + inputs_[u][i]) & 0xFFFFF;
    }
    return sum;
  }
  std::vector<uint32_t> Everyone() const {
    std::vector<uint32_t> all;
    for (uint32_t u = 1; u <= n(); ++u) all.push_back(u);
    return all;
  }

  // Runs the rest of an honest round from the masked-input stage and checks
  // the exact sum of everyone's inputs.
  void FinishHonestly(const std::map<uint32_t, ShareRelay>& relays) {
    Deliver(Mask(relays));
    Deliver(Sign(SurvivorSets()));
    Deliver(Reveal(UnmaskRequests()));
    absl::StatusOr<AggregateResult> result = server_->FinishUnmask();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->sum, SumOf(Everyone()));
  }

 private:
  const TestFederation& federation_;
  RoundParameters parameters_;
  std::shared_ptr<const PeerAuthenticator> authenticator_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::vector<std::vector<uint32_t>> inputs_;
};

NeighbourKeys& EntryFor(KeyList& list, uint32_t participant) {
  for (NeighbourKeys& entry : list.neighbours) {
    if (entry.participant == participant) return entry;
  }
  ADD_FAILURE() << "no entry for " << participant;
  return list.neighbours.front();
}

// ---- key substitution ----

TEST(KeySubstitutionTest, ASubstitutedMaskKeyIsDetectedAndTheClientAborts) {
  ManualRound round(5, 0, 3);
  round.Deliver(round.StartAll());
  std::map<uint32_t, KeyList> lists = round.KeyLists();
  // The coordinator swaps site 2's mask key, in site 1's list, for its own.
  X25519PrivateKey attacker = Value(X25519PrivateKey::Generate());
  EntryFor(lists[1], 2).mask_public_key = attacker.public_key();
  EXPECT_THAT(round.client(1).HandleKeyList(lists[1]),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("keys of site `site-002` are not signed")));
  EXPECT_EQ(round.client(1).stage(), Client::Stage::kAborted);
  // Every later message is refused with the reason.
  EXPECT_THAT(round.client(1).HandleShareRelay(ShareRelay{}, round.input(1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ShareRelay relay;
  relay.header = lists[1].header;
  EXPECT_THAT(round.client(1).HandleShareRelay(relay, round.input(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("aborted")));
}

TEST(KeySubstitutionTest, ASubstitutedEncryptionKeyIsDetected) {
  ManualRound round(4, 0, 2);
  round.Deliver(round.StartAll());
  std::map<uint32_t, KeyList> lists = round.KeyLists();
  EntryFor(lists[3], 4).encryption_public_key = Value(X25519PrivateKey::Generate()).public_key();
  EXPECT_THAT(round.client(3).HandleKeyList(lists[3]),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("site-004")));
}

TEST(KeySubstitutionTest, KeysSignedUnderAnotherCaOrAnotherSitesCertificateAreRejected) {
  ManualRound round(4, 0, 2);
  std::map<uint32_t, AdvertiseKeys> advertised = round.StartAll();
  round.Deliver(advertised);
  std::map<uint32_t, KeyList> lists = round.KeyLists();

  // (a) A rogue CA issues a certificate named site-002; the coordinator signs
  // its own keys with it.
  auto rogue = Value(crypto::testing::TestPki::Create("Tessera test federation CA",
                                                      crypto::testing::TestKeyType::kEcdsaP256));
  auto identity = Value(rogue->Issue("site-002", "site", crypto::testing::TestKeyType::kEcdsaP256));
  auto rogue_signer = Value(PrivateKeySigner::FromPem(identity.private_key_pem));
  X25519PrivateKey c = Value(X25519PrivateKey::Generate());
  X25519PrivateKey s = Value(X25519PrivateKey::Generate());
  KeyList forged = lists[1];
  NeighbourKeys& entry = EntryFor(forged, 2);
  entry.encryption_public_key = c.public_key();
  entry.mask_public_key = s.public_key();
  entry.certificate_der = Value(Certificate::FromPem(identity.certificate_pem))->Der();
  entry.signature = Value(rogue_signer->Sign(
      AdvertiseSignaturePayload(round.context(), 2, c.public_key(), s.public_key())));
  EXPECT_THAT(
      round.client(1).HandleKeyList(forged),
      StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("does not verify against CA")));

  // (b) Site 3's genuine, validly signed keys presented as site 2's.
  KeyList swapped = lists[4];
  NeighbourKeys& as_two = EntryFor(swapped, 2);
  const AdvertiseKeys& three = advertised[3];
  as_two.encryption_public_key = three.encryption_public_key;
  as_two.mask_public_key = three.mask_public_key;
  as_two.certificate_der = three.certificate_der;
  as_two.signature = three.signature;
  EXPECT_THAT(round.client(4).HandleKeyList(swapped),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("belongs to `site-003`")));
}

TEST(KeySubstitutionTest, TheCoordinatorRefusesBadKeysAndStaysUsable) {
  ManualRound round(4, 0, 2);
  std::map<uint32_t, AdvertiseKeys> advertised = round.StartAll();
  AdvertiseKeys tampered = advertised[2];
  tampered.mask_public_key[0] ^= 1;
  EXPECT_THAT(round.server().HandleAdvertiseKeys(round.site(2), tampered),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // Site 1's genuine keys sent over site 2's connection: wrong certificate.
  EXPECT_THAT(round.server().HandleAdvertiseKeys(round.site(2), advertised[1]),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("belongs to `site-001`")));
  // Neither counted: the genuine message is still accepted, and the round completes.
  round.Deliver(advertised);
  std::map<uint32_t, KeyList> lists = round.KeyLists();
  round.Deliver(round.Share(lists));
  round.FinishHonestly(round.Relays());
}

// ---- a coordinator that lies about who dropped out ----

TEST(LyingCoordinatorTest, AClientNeverRevealsBothSharesOfANeighbour) {
  ManualRound round(5, 0, 3);
  round.Deliver(round.StartAll());
  round.Deliver(round.Share(round.KeyLists()));
  std::map<uint32_t, ShareRelay> relays = round.Relays();
  std::map<uint32_t, MaskedInput> masked = round.Mask(relays);
  round.Deliver(masked);  // everyone's masked input arrived
  std::map<uint32_t, SurvivorSet> honest = round.SurvivorSets();

  // The coordinator claims site 5 dropped, to clients 1..4, and collects
  // their signatures on that lie.
  SurvivorSet lie = honest[1];
  lie.survivors = {1, 2, 3, 4};
  std::map<uint32_t, ConsistencySignature> signatures;
  for (uint32_t u = 1; u <= 4; ++u) signatures[u] = Value(round.client(u).HandleSurvivorSet(lie));
  UnmaskRequest request;
  request.header = lie.header;
  request.survivors = lie.survivors;
  for (uint32_t u : {2u, 3u, 4u}) request.signatures.push_back({u, signatures[u].signature});
  // Client 1 sees three valid signatures on the lie, so it reveals, for
  // site 5, the share of its mask key, and nothing of its self-mask seed.
  UnmaskShares revealed = Value(round.client(1).HandleUnmaskRequest(request));
  ASSERT_EQ(revealed.shares.size(), 4u);
  for (const RevealedShare& share : revealed.shares) {
    EXPECT_EQ(share.kind, share.owner == 5 ? ShareKind::kMaskKey : ShareKind::kSelfMaskSeed);
  }
  // Now the coordinator asks client 1 again with the truth (5 survived) to
  // get the self-mask-seed share too: refused.
  UnmaskRequest truth = request;
  truth.survivors = {1, 2, 3, 4, 5};
  EXPECT_THAT(round.client(1).HandleUnmaskRequest(truth),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("answers only once")));
  // And a client that signed the lie refuses a request built on another set.
  EXPECT_THAT(round.client(2).HandleUnmaskRequest(truth),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("differs from the one site `site-002` signed")));
  EXPECT_EQ(round.client(2).stage(), Client::Stage::kAborted);
}

TEST(LyingCoordinatorTest, SplitViewsOfTheSurvivorsGetTooFewSignatures) {
  // Complete graph of 7, t = 4. The coordinator tells sites 1-4 that site 7
  // dropped and sites 5-7 that everyone survived, hoping to get site 7's
  // mask-key shares from the first group and its self-mask-seed shares from
  // the second. Each site needs 4 of its neighbours' signatures on its own
  // view; honest sites sign once, so neither group has enough.
  ManualRound round(7, 0, 4);
  round.Deliver(round.StartAll());
  round.Deliver(round.Share(round.KeyLists()));
  round.Deliver(round.Mask(round.Relays()));
  std::map<uint32_t, SurvivorSet> honest = round.SurvivorSets();
  SurvivorSet lie = honest[1];
  lie.survivors = {1, 2, 3, 4, 5, 6};
  std::map<uint32_t, ConsistencySignature> signed_lie, signed_truth;
  for (uint32_t u = 1; u <= 4; ++u) signed_lie[u] = Value(round.client(u).HandleSurvivorSet(lie));
  for (uint32_t u = 5; u <= 7; ++u)
    signed_truth[u] = Value(round.client(u).HandleSurvivorSet(honest[u]));

  UnmaskRequest to_first_group{lie.header, lie.survivors, {}};
  for (uint32_t u : {2u, 3u, 4u}) to_first_group.signatures.push_back({u, signed_lie[u].signature});
  EXPECT_THAT(round.client(1).HandleUnmaskRequest(to_first_group),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("only 3 of its 6 neighbours signed")));
  // Adding a signature made over the other view does not help.
  to_first_group.signatures.push_back({5, signed_truth[5].signature});
  EXPECT_THAT(round.client(2).HandleUnmaskRequest(to_first_group),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a surviving neighbour")));
  UnmaskRequest to_second_group{honest[5].header, honest[5].survivors, {}};
  to_second_group.signatures.push_back({1, signed_lie[1].signature});  // made over the lie
  to_second_group.signatures.push_back({2, signed_lie[2].signature});
  to_second_group.signatures.push_back({6, signed_truth[6].signature});
  to_second_group.signatures.push_back({7, signed_truth[7].signature});
  EXPECT_THAT(round.client(5).HandleUnmaskRequest(to_second_group),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("does not verify")));
  for (uint32_t u : {1u, 2u, 5u}) EXPECT_EQ(round.client(u).stage(), Client::Stage::kAborted);
}

TEST(LyingCoordinatorTest, ClaimsThatContradictEarlierMessagesAbortTheClient) {
  ManualRound round(6, 4, 3);
  round.Deliver(round.StartAll());
  round.Deliver(round.Share(round.KeyLists()));
  std::map<uint32_t, ShareRelay> relays = round.Relays();
  round.Deliver(round.Mask(relays));
  std::map<uint32_t, SurvivorSet> sets = round.SurvivorSets();
  // A survivor set without the site itself.
  SurvivorSet without_self = sets[1];
  without_self.survivors.erase(
      std::find(without_self.survivors.begin(), without_self.survivors.end(), 1u));
  EXPECT_THAT(round.client(1).HandleSurvivorSet(without_self),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("omits site `site-001`")));
}

// ---- tampered relays and corrupted shares ----

TEST(TamperingTest, ATamperedOrRedirectedShareCiphertextAbortsTheRecipient) {
  ManualRound round(5, 0, 3);
  round.Deliver(round.StartAll());
  round.Deliver(round.Share(round.KeyLists()));
  std::map<uint32_t, ShareRelay> relays = round.Relays();
  ShareRelay flipped = relays[1];
  flipped.shares[0].ciphertext[40] ^= 0x01;
  EXPECT_THAT(round.client(1).HandleShareRelay(flipped, round.input(1)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("fail authentication")));
  // Shares sealed for site 3 delivered to site 2 as if from the same sender:
  // the associated data names the receiver, so they do not open.
  ShareRelay redirected = relays[2];
  for (EncryptedShares& entry : redirected.shares) {
    for (const EncryptedShares& to_three : relays[3].shares) {
      if (to_three.peer == entry.peer) entry.ciphertext = to_three.ciphertext;
    }
  }
  EXPECT_THAT(round.client(2).HandleShareRelay(redirected, round.input(2)),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(TamperingTest, ACorruptedUnmaskingShareIsOutvotedAndItsSenderNamed) {
  ManualRound round(6, 0, 3);
  round.Deliver(round.StartAll());
  round.Deliver(round.Share(round.KeyLists()));
  round.Deliver(round.Mask(round.Relays()));
  round.Deliver(round.Sign(round.SurvivorSets()));
  std::map<uint32_t, UnmaskShares> shares = round.Reveal(round.UnmaskRequests());
  shares[2].shares[0].share[5] ^= 0x40;  // site 2 lies about site 1's share
  round.Deliver(shares);
  ASSERT_OK_AND_ASSIGN(AggregateResult result, round.server().FinishUnmask());
  EXPECT_EQ(result.sum, round.SumOf(round.Everyone()));
  EXPECT_EQ(result.misbehaving_sites, std::vector<std::string>{"site-002"});
}

TEST(TamperingTest, ACorruptedMaskKeyShareOfADroppedSiteIsFoundByItsPublicKey) {
  ManualRound round(6, 0, 3);
  round.Deliver(round.StartAll());
  round.Deliver(round.Share(round.KeyLists()));
  std::map<uint32_t, MaskedInput> masked = round.Mask(round.Relays());
  masked.erase(6);  // site 6 drops after sharing its keys
  round.Deliver(masked);
  round.Deliver(round.Sign(round.SurvivorSets()));
  std::map<uint32_t, UnmaskShares> shares = round.Reveal(round.UnmaskRequests());
  RevealedShare& of_six = shares[4].shares.back();
  ASSERT_EQ(of_six.owner, 6u);
  ASSERT_EQ(of_six.kind, ShareKind::kMaskKey);
  of_six.share[0] ^= 0xFF;
  round.Deliver(shares);
  ASSERT_OK_AND_ASSIGN(AggregateResult result, round.server().FinishUnmask());
  EXPECT_EQ(result.sum, round.SumOf({1, 2, 3, 4, 5}));
  EXPECT_EQ(result.misbehaving_sites, std::vector<std::string>{"site-004"});
  EXPECT_EQ(result.excluded_sites, std::vector<std::string>{"site-006"});
}

TEST(TamperingTest, TooManyCorruptedSharesFailWithDataLoss) {
  ManualRound round(4, 0, 3);  // each site's secrets have exactly 3 holders, t = 3
  round.Deliver(round.StartAll());
  round.Deliver(round.Share(round.KeyLists()));
  round.Deliver(round.Mask(round.Relays()));
  round.Deliver(round.Sign(round.SurvivorSets()));
  std::map<uint32_t, UnmaskShares> shares = round.Reveal(round.UnmaskRequests());
  shares[2].shares[0].share[0] ^= 1;  // of site 1's seed
  round.Deliver(shares);
  EXPECT_THAT(
      round.server().FinishUnmask(),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("self-mask seed of site `site-001`")));
  EXPECT_EQ(round.server().stage(), Server::Stage::kAborted);
}

// ---- malformed, replayed, duplicate and out-of-stage messages ----

TEST(MalformedMessagesTest, TheCoordinatorRefusesThemAndCompletesTheRound) {
  ManualRound round(5, 4, 3, /*round=*/7);
  ManualRound previous(5, 4, 3, /*round=*/6);  // the same sites, the round before
  std::map<uint32_t, AdvertiseKeys> advertised = round.StartAll();
  std::map<uint32_t, AdvertiseKeys> old = previous.StartAll();
  Server& server = round.server();

  // A replay of the previous round's message.
  EXPECT_THAT(server.HandleAdvertiseKeys(round.site(1), old[1]),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("round 6")));
  // Another job.
  AdvertiseKeys other_job = advertised[1];
  other_job.header.job_id = "another-job";
  EXPECT_THAT(server.HandleAdvertiseKeys(round.site(1), other_job),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("another-job")));
  // Made for other parameters.
  AdvertiseKeys other_parameters = advertised[1];
  other_parameters.header.parameters_digest[0] ^= 1;
  EXPECT_THAT(
      server.HandleAdvertiseKeys(round.site(1), other_parameters),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("different round parameters")));
  // An unknown sender.
  EXPECT_THAT(server.HandleAdvertiseKeys("site-199", advertised[1]),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a participant")));
  // A message of a later stage.
  EXPECT_THAT(server.HandleMaskedInput(round.site(1), MaskedInput{advertised[1].header, 20, 9, {}}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("belongs to the masked input stage")));
  round.Deliver(advertised);
  // A duplicate.
  EXPECT_THAT(server.HandleAdvertiseKeys(round.site(1), advertised[1]),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("duplicate")));
  // Finishing a stage that is not current.
  EXPECT_THAT(server.FinishShareKeys(), StatusIs(absl::StatusCode::kFailedPrecondition));

  std::map<uint32_t, ShareKeys> shares = round.Share(round.KeyLists());
  ShareKeys missing_recipient = shares[1];
  missing_recipient.shares.pop_back();
  EXPECT_THAT(server.HandleShareKeys(round.site(1), missing_recipient),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("one 92-byte sealed pair")));
  ShareKeys short_ciphertext = shares[1];
  short_ciphertext.shares[0].ciphertext.pop_back();
  EXPECT_THAT(server.HandleShareKeys(round.site(1), short_ciphertext),
              StatusIs(absl::StatusCode::kInvalidArgument));
  round.Deliver(shares);

  std::map<uint32_t, MaskedInput> masked = round.Mask(round.Relays());
  MaskedInput short_vector = masked[2];
  short_vector.length = 8;
  EXPECT_THAT(server.HandleMaskedInput(round.site(2), short_vector),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("9 of 20")));
  MaskedInput truncated = masked[2];
  truncated.packed.pop_back();
  EXPECT_THAT(server.HandleMaskedInput(round.site(2), truncated),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bytes")));
  MaskedInput wrong_width = masked[2];
  wrong_width.bit_width = 21;
  EXPECT_THAT(server.HandleMaskedInput(round.site(2), wrong_width),
              StatusIs(absl::StatusCode::kInvalidArgument));
  round.Deliver(masked);
  EXPECT_THAT(server.HandleMaskedInput(round.site(2), masked[2]),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("duplicate")));

  std::map<uint32_t, ConsistencySignature> signatures = round.Sign(round.SurvivorSets());
  ConsistencySignature forged = signatures[3];
  forged.signature = signatures[4].signature;
  EXPECT_THAT(server.HandleConsistencySignature(round.site(3), forged),
              StatusIs(absl::StatusCode::kUnauthenticated));
  round.Deliver(signatures);

  std::map<uint32_t, UnmaskShares> unmask = round.Reveal(round.UnmaskRequests());
  UnmaskShares wrong_kind = unmask[1];
  wrong_kind.shares[0].kind = ShareKind::kMaskKey;  // its owner survived
  EXPECT_THAT(server.HandleUnmaskShares(round.site(1), wrong_kind),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly one share")));
  UnmaskShares extra = unmask[1];
  extra.shares.push_back(extra.shares.back());
  EXPECT_THAT(server.HandleUnmaskShares(round.site(1), extra),
              StatusIs(absl::StatusCode::kInvalidArgument));
  round.Deliver(unmask);

  // After all of that, the honest round completes exactly.
  ASSERT_OK_AND_ASSIGN(AggregateResult result, server.FinishUnmask());
  EXPECT_EQ(result.sum, round.SumOf(round.Everyone()));
  EXPECT_TRUE(result.misbehaving_sites.empty());
  // And nothing is accepted after the end.
  EXPECT_THAT(server.HandleUnmaskShares(round.site(1), unmask[1]),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(MalformedMessagesTest, AClientRefusesThemWithoutLosingItsState) {
  ManualRound round(4, 0, 2);
  round.Deliver(round.StartAll());
  std::map<uint32_t, KeyList> lists = round.KeyLists();
  Client& client = round.client(1);
  // Another round's message, and one for a later stage.
  KeyList replayed = lists[1];
  replayed.header.round = 6;
  EXPECT_THAT(client.HandleKeyList(replayed),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("round 6")));
  SurvivorSet early{lists[1].header, {1, 2, 3, 4}};
  EXPECT_THAT(client.HandleSurvivorSet(early),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("wrong stage")));
  EXPECT_EQ(client.stage(), Client::Stage::kAwaitingKeyList);
  EXPECT_THAT(client.Start(), StatusIs(absl::StatusCode::kFailedPrecondition));

  round.Deliver(round.Share(lists));
  std::map<uint32_t, ShareRelay> relays = round.Relays();
  // A wrong input is the caller's mistake: refused, not an abort.
  EXPECT_THAT(client.HandleShareRelay(relays[1], std::vector<uint32_t>(8, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("8 values")));
  std::vector<uint32_t> too_big = round.input(1);
  too_big[3] = 1u << 20;
  EXPECT_THAT(client.HandleShareRelay(relays[1], too_big),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not below 2^20")));
  EXPECT_EQ(client.stage(), Client::Stage::kAwaitingShares);
  // The honest round still completes with every site.
  round.FinishHonestly(relays);
}

TEST(MalformedMessagesTest, AKeyListWithAStrangerOrTooFewNeighboursAborts) {
  ManualRound round(6, 2, 2);  // k = 2: each site has exactly two neighbours
  round.Deliver(round.StartAll());
  std::map<uint32_t, KeyList> lists = round.KeyLists();
  KeyList few = lists[1];
  few.neighbours.pop_back();
  EXPECT_THAT(round.client(1).HandleKeyList(few),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("only 1 of its 2 neighbours")));
  // A list naming a site that is not a neighbour of the recipient.
  const std::vector<uint32_t> neighbours = round.context().graph().Neighbours(2);
  uint32_t stranger = 1;
  while (stranger == 2 || std::count(neighbours.begin(), neighbours.end(), stranger)) ++stranger;
  KeyList with_stranger = lists[2];
  with_stranger.neighbours.back().participant = stranger;
  std::sort(
      with_stranger.neighbours.begin(), with_stranger.neighbours.end(),
      [](const NeighbourKeys& a, const NeighbourKeys& b) { return a.participant < b.participant; });
  EXPECT_THAT(round.client(2).HandleKeyList(with_stranger),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a neighbour")));
}

// ---- configuration mistakes ----

TEST(ClientConfigTest, RefusesAMismatchedCertificateOrSigner) {
  const TestFederation& federation = TestFederation::Get();
  const RoundParameters parameters = federation.Parameters(4, 0, 2, 16, 3, 1);
  ClientConfig config;
  config.round = parameters;
  config.site_id = federation.site_id(1);
  config.certificate_pem = federation.certificate_pem(2);  // site 2's certificate
  config.authenticator = federation.Authenticator();
  EXPECT_THAT(Client::Create(config, federation.signer(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("current time")));
  config.now = crypto::testing::TestNow();
  EXPECT_THAT(Client::Create(config, federation.signer(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("belongs to `site-002`")));
  config.certificate_pem = federation.certificate_pem(1);
  config.site_id = "site-150";  // not a participant
  EXPECT_THAT(Client::Create(config, federation.signer(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a participant")));
  config.site_id = federation.site_id(1);
  // The right certificate with another site's signing key.
  ASSERT_OK_AND_ASSIGN(auto client, Client::Create(config, federation.signer(3)));
  EXPECT_THAT(client->Start(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("does not match its certificate")));
  config.authenticator = nullptr;
  EXPECT_THAT(Client::Create(config, federation.signer(1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ClientConfigTest, RefusesAnExpiredCertificateOrAWrongRole) {
  const TestFederation& federation = TestFederation::Get();
  const RoundParameters parameters = federation.Parameters(4, 0, 2, 16, 3, 1);
  ClientConfig config{parameters, federation.site_id(1), federation.certificate_pem(1),
                      federation.Authenticator(),
                      crypto::testing::TestNotAfter() + absl::Hours(24)};
  EXPECT_THAT(Client::Create(config, federation.signer(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("expired")));
  TrustSettings operators = federation.Trust();
  operators.required_role = "operator";
  config.authenticator = Value(PeerAuthenticator::Create(operators));
  config.now = crypto::testing::TestNow();
  EXPECT_THAT(Client::Create(config, federation.signer(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has role `site`")));
}

// An authenticator kept across rounds remembers certificates it checked, but
// still checks each round's time against their validity.
TEST(AuthenticatorTest, AKeptAuthenticatorStillChecksTheTimeOfEachRound) {
  const TestFederation& federation = TestFederation::Get();
  const std::shared_ptr<const PeerAuthenticator> authenticator = federation.Authenticator();
  const RoundContext context =
      Value(RoundContext::Create(federation.Parameters(4, 0, 2, 16, 3, 1)));
  auto check = [&](absl::Time now) {
    return authenticator->CheckOwnCertificate(context, 1, federation.certificate_pem(1), now)
        .status();
  };
  EXPECT_OK(check(crypto::testing::TestNow()));
  EXPECT_THAT(check(crypto::testing::TestNotAfter() + absl::Seconds(1)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("expired")));
  EXPECT_THAT(check(crypto::testing::TestNotBefore() - absl::Seconds(1)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not yet valid")));
  EXPECT_OK(check(crypto::testing::TestNotBefore()));
  EXPECT_OK(check(crypto::testing::TestNow()));
}

}  // namespace
}  // namespace tessera::crypto::secagg
