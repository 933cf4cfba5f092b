// The client (site) side of one SecAgg+ round: a pure state machine that
// turns the coordinator's messages into its own, holding the site's secrets
// for the round and nothing else.
//
// Protocol: Bell et al. 2020 (ePrint 2020/704), SecAgg+, which runs
// Bonawitz et al. 2017 (ePrint 2017/281, Figure 4, the active-adversary
// variant with signatures and the consistency check) on a sparse random
// neighbour graph. Per round this client
//   0. Start: makes two X25519 key pairs (c for share encryption, s for
//      pairwise masks) and signs both public keys with its certificate key;
//   1. HandleKeyList: authenticates every neighbour's keys (certificate
//      chains to the federation CA, commonName is the neighbour's site id,
//      signature verifies) and aborts on any failure; draws the self-mask
//      seed b; Shamir-shares b and s^SK t-out-of-|neighbours|; seals each
//      neighbour's two shares with AES-256-GCM under a key from X25519(c, c')
//      bound to job, round, sender and receiver; commits to b;
//   2. HandleShareRelay: decrypts its neighbours' shares and sends
//      y = x + PRG(b) + sum_{v < u} PRG(s_uv) - sum_{v > u} PRG(s_uv) mod 2^b
//      over the neighbours whose shares it received (Bonawitz eq. in round 2,
//      restricted to the graph as in Bell et al.);
//   3. HandleSurvivorSet: signs the survivor set it is shown;
//   4. HandleUnmaskRequest: checks that at least t neighbours signed the
//      same set, then reveals for each neighbour exactly one share: of b for
//      survivors, of s^SK for the others. It answers once; a client never
//      reveals both shares of the same neighbour, so a coordinator that lies
//      about who dropped out learns nothing it may not.
//
// Errors. A message for another job, round or parameter set is
// INVALID_ARGUMENT, and one for another stage FAILED_PRECONDITION; both leave
// the state unchanged. Once a message for the current stage is accepted, any
// fault in it (a bad signature or certificate: UNAUTHENTICATED; a
// contradiction with earlier messages: INVALID_ARGUMENT; fewer than t
// neighbours left: ABORTED) aborts the round for this client: its secrets
// are wiped and every later call returns FAILED_PRECONDITION with the reason.
//
// Thread-safety: not thread-safe; one Client per site per round, driven from
// one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "crypto/secagg/authentication.h"
#include "crypto/secagg/messages.h"
#include "crypto/secagg/round_parameters.h"
#include "crypto/secret_bytes.h"
#include "crypto/signature.h"
#include "crypto/x25519.h"

namespace tessera::crypto::secagg {

struct ClientConfig {
  RoundParameters round;
  // This site's id: its certificate's commonName and an entry of
  // round.participants.
  std::string site_id;
  // This site's certificate (PEM), sent to its neighbours with its keys.
  std::string certificate_pem;
  // Checks certificates against the federation CA; keep one for the life of
  // the process (see authentication.h).
  std::shared_ptr<const PeerAuthenticator> authenticator;
  // The time certificates must be valid at: the caller's clock when the
  // round starts (this library reads no clock).
  absl::Time now = absl::InfinitePast();
};

class Client {
 public:
  enum class Stage {
    kStart,              // Start() not called yet
    kAwaitingKeyList,    // sent AdvertiseKeys
    kAwaitingShares,     // sent ShareKeys
    kAwaitingSurvivors,  // sent MaskedInput
    kAwaitingUnmask,     // sent ConsistencySignature
    kDone,               // sent UnmaskShares
    kAborted,
  };

  // Validates the configuration: the round parameters, that site_id is a
  // participant, that an authenticator and a finite time are given, and that
  // the site's certificate chains to the CA with the right commonName and
  // role. INVALID_ARGUMENT or FAILED_PRECONDITION naming the problem.
  // `signer` signs with the key of `certificate_pem`; it is not owned and
  // must outlive the client.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientConfig config, const Signer& signer);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  Stage stage() const { return stage_; }
  // The reason of the abort, OK unless stage() is kAborted.
  const absl::Status& abort_status() const { return abort_status_; }
  uint32_t participant() const { return self_; }

  // Stage 0. FAILED_PRECONDITION if called twice; FAILED_PRECONDITION when
  // the signer's key does not match this site's certificate; INTERNAL on
  // crypto failures.
  absl::StatusOr<AdvertiseKeys> Start();
  // Stage 1. See the class comment for errors.
  absl::StatusOr<ShareKeys> HandleKeyList(const KeyList& message);
  // Stage 2. `input` must have vector_length values, each below 2^bit_width
  // (INVALID_ARGUMENT otherwise, without aborting).
  absl::StatusOr<MaskedInput> HandleShareRelay(const ShareRelay& message,
                                               absl::Span<const uint32_t> input);
  // Stage 3.
  absl::StatusOr<ConsistencySignature> HandleSurvivorSet(const SurvivorSet& message);
  // Stage 4.
  absl::StatusOr<UnmaskShares> HandleUnmaskRequest(const UnmaskRequest& message);

 private:
  struct Neighbour;

  Client(ClientConfig config, RoundContext context, uint32_t self, const Signer& signer,
         PeerAuthenticator::OwnCertificate own_certificate);

  MessageHeader Header() const;
  // INVALID_ARGUMENT for another job, round or parameter set;
  // FAILED_PRECONDITION when not in `expected` (or aborted).
  absl::Status CheckMessage(const MessageHeader& header, Stage expected,
                            absl::string_view message_name) const;
  // Moves to kAborted, wipes all secrets and returns `status`.
  absl::Status Abort(absl::Status status);
  // OK when `present` (sorted neighbours) has at least t members; ABORTED
  // naming the missing neighbours otherwise.
  absl::Status RequireEnough(const std::vector<uint32_t>& present, absl::string_view what);

  absl::StatusOr<ShareKeys> ShareKeysFor(const KeyList& message);
  absl::StatusOr<MaskedInput> MaskInput(const ShareRelay& message,
                                        absl::Span<const uint32_t> input);
  absl::StatusOr<ConsistencySignature> SignSurvivors(const SurvivorSet& message);
  absl::StatusOr<UnmaskShares> RevealShares(const UnmaskRequest& message);

  ClientConfig config_;
  RoundContext context_;
  uint32_t self_;
  const Signer& signer_;
  PeerAuthenticator::OwnCertificate own_certificate_;
  std::vector<uint32_t> graph_neighbours_;

  Stage stage_ = Stage::kStart;
  absl::Status abort_status_;

  std::optional<X25519PrivateKey> encryption_key_;
  std::optional<X25519PrivateKey> mask_key_;
  SecretBytes self_mask_seed_;
  // Neighbours that advertised keys (from the KeyList), by participant.
  absl::flat_hash_map<uint32_t, std::unique_ptr<Neighbour>> neighbours_;
  // Neighbours whose shares were relayed to this client, sorted: the ones
  // its masked input has pairwise masks with.
  std::vector<uint32_t> share_senders_;
  std::vector<uint32_t> signed_survivors_;
};

}  // namespace tessera::crypto::secagg
