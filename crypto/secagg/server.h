// The coordinator side of one SecAgg+ round: a pure state machine that
// relays the clients' messages between neighbours, adds the masked inputs as
// they arrive, and at the end removes the masks to obtain the exact sum of
// the survivors' inputs mod 2^b, and nothing else.
//
// Protocol: Bell et al. 2020 (ePrint 2020/704) on Bonawitz et al. 2017
// (ePrint 2017/281, Figure 4); see crypto/secagg/client.h for the client's
// half and docs/secure-aggregation.md for the whole protocol. The caller
// (the coordinator daemon) decides when a stage closes (all expected
// messages in, or a deadline) and calls the stage's Finish method, which
// returns the messages to send, one per site that can go on.
//
// Sets, in the paper's notation: U1 = sites whose AdvertiseKeys arrived,
// U2 = whose ShareKeys arrived, U3 = whose MaskedInput arrived (the
// survivors: the result is the sum of exactly their inputs), U4 = whose
// consistency signature arrived, U5 = whose UnmaskShares arrived. N(u) is
// u's neighbourhood in the graph and t the threshold. A site goes on to the
// next stage only with at least t neighbours in the current set (otherwise
// it could not continue either: see Client).
//
// Completion condition (checked as early as it can be known, and finally in
// FinishUnmask): the round completes iff U3 is not empty and
//   (a) every survivor u in U3 has at least t neighbours in U5 that hold its
//       shares, so its self-mask seed b_u can be reconstructed; and
//   (b) every u in U2 \ U3 that some survivor masked with has at least t
//       neighbours in U5, so its mask key s_u can be reconstructed and the
//       pairwise masks it shares with survivors removed.
// Otherwise the Finish method returns ABORTED naming each site whose masks
// cannot be removed and which of its neighbours are missing.
//
// Memory: one running sum of d words (masked inputs are added on arrival and
// never stored), plus O(n * k) for keys, ciphertexts awaiting relay and
// unmasking shares.
//
// Errors from Handle methods never change the state, so honest sites are
// unaffected: INVALID_ARGUMENT for a message of another job, round or
// parameter set, an unknown sender, or malformed content;
// FAILED_PRECONDITION for a message in the wrong stage, from a site that was
// not asked for it, or a duplicate; UNAUTHENTICATED for keys or signatures
// that do not verify. Finish methods called in the wrong stage return
// FAILED_PRECONDITION; an abort is final and later calls return it again.
//
// Thread-safety: not thread-safe; drive one Server per round from one thread
// (the coordinator's round strand).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crypto/secagg/authentication.h"
#include "crypto/secagg/messages.h"
#include "crypto/secagg/round_parameters.h"

namespace tessera::crypto::secagg {

struct ServerConfig {
  RoundParameters round;
  // Checks the sites' certificates and signatures (see authentication.h).
  std::shared_ptr<const PeerAuthenticator> authenticator;
  // The time certificates must be valid at (the caller's clock).
  absl::Time now = absl::InfinitePast();
};

// A message for one site.
template <typename Message>
struct Outgoing {
  std::string site_id;
  Message message;
};

struct AggregateResult {
  // The sum of the survivors' inputs mod 2^bit_width, vector_length values.
  std::vector<uint32_t> sum;
  // U3: the sites whose inputs are in the sum, and the others.
  std::vector<std::string> included_sites;
  std::vector<std::string> excluded_sites;
  // Sites that returned a corrupted unmasking share (found and discarded by
  // reconstruction against the owner's commitment or public key).
  std::vector<std::string> misbehaving_sites;
};

class Server {
 public:
  enum class Stage {
    kAdvertiseKeys,
    kShareKeys,
    kMaskedInput,
    kConsistencyCheck,
    kUnmask,
    kDone,
    kAborted,
  };

  // INVALID_ARGUMENT for invalid round parameters, a missing authenticator
  // or a time that is not finite.
  static absl::StatusOr<std::unique_ptr<Server>> Create(ServerConfig config);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  Stage stage() const { return stage_; }
  const RoundContext& context() const { return context_; }
  // Sites that were asked for the current stage's message and have not sent
  // it yet (everyone in the first stage).
  std::vector<std::string> PendingSites() const;

  absl::Status HandleAdvertiseKeys(absl::string_view sender, const AdvertiseKeys& message);
  absl::StatusOr<std::vector<Outgoing<KeyList>>> FinishAdvertiseKeys();

  absl::Status HandleShareKeys(absl::string_view sender, const ShareKeys& message);
  absl::StatusOr<std::vector<Outgoing<ShareRelay>>> FinishShareKeys();

  absl::Status HandleMaskedInput(absl::string_view sender, const MaskedInput& message);
  absl::StatusOr<std::vector<Outgoing<SurvivorSet>>> FinishMaskedInput();

  absl::Status HandleConsistencySignature(absl::string_view sender,
                                          const ConsistencySignature& message);
  absl::StatusOr<std::vector<Outgoing<UnmaskRequest>>> FinishConsistencyCheck();

  absl::Status HandleUnmaskShares(absl::string_view sender, const UnmaskShares& message);
  absl::StatusOr<AggregateResult> FinishUnmask();

 private:
  struct Participant;

  Server(RoundContext context, std::shared_ptr<const PeerAuthenticator> authenticator,
         absl::Time now);

  MessageHeader Header() const;
  // Checks the header, the stage and the sender (known, asked for this
  // message, not a duplicate); returns the sender's number.
  absl::StatusOr<uint32_t> CheckIncoming(absl::string_view sender, const MessageHeader& header,
                                         Stage stage, absl::string_view message_name);
  absl::Status CheckFinish(Stage stage, absl::string_view what) const;
  absl::Status Abort(absl::Status status);
  // Whether u's neighbour v holds u's shares: v was sent a ShareRelay that
  // included u's sealed shares.
  bool HoldsSharesOf(uint32_t holder, uint32_t owner) const;
  // The completion condition, with `responders` in place of U5; OK or
  // ABORTED naming the sites whose masks cannot be removed.
  absl::Status CheckRecoverable(const std::vector<bool>& responders) const;
  absl::Status RemoveMasks(std::vector<std::string>& misbehaving);

  RoundContext context_;
  std::shared_ptr<const PeerAuthenticator> authenticator_;
  absl::Time now_;
  Stage stage_ = Stage::kAdvertiseKeys;
  absl::Status abort_status_;
  // Indexed by participant number; [0] unused.
  std::vector<std::unique_ptr<Participant>> participants_;
  // The running sum of masked inputs, mod 2^32 (reduced mod 2^b at the end).
  std::vector<uint32_t> sum_;
  std::vector<uint32_t> survivors_;  // U3, sorted
};

}  // namespace tessera::crypto::secagg
