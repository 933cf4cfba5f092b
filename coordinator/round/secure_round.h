// One secure-aggregation round as the coordinator runs it: the SecAgg+
// server state machine (crypto/secagg/server.h) plus what the protocol
// leaves to its caller — byte payloads in and out, a deadline per stage,
// and idempotent submissions.
//
// The coordinator's round strand feeds it each site's payload with Submit()
// and calls Advance() whenever something may have changed (a submission
// arrived, a timer fired). A stage closes as soon as every site asked for
// its message has sent it, or when its deadline passes; the sites that did
// not answer in time are dropouts, and the protocol carries on without them
// while its threshold allows.
//
// Idempotency: a site that re-sends the payload it already sent for a stage
// (say, after a lost acknowledgement) gets OK with `duplicate` set; a
// different payload for the same stage, or any payload for a stage that has
// closed, is refused with FAILED_PRECONDITION.
//
// Pure: no clock (times are passed in), no I/O.
//
// Thread-safety: not thread-safe; drive each round from one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/bytes.h"
#include "crypto/secagg/server.h"
#include "crypto/sha256.h"

namespace tessera::coordinator {

// The protocol's stages in order (the secagg server's own; the wire's proto
// Stage names the same steps).
using SecAggStage = crypto::secagg::Server::Stage;

// "advertise keys", "share keys", ... for messages and logs.
const char* SecAggStageName(SecAggStage stage);

// A payload for one site: the input of its next stage.
struct StageDelivery {
  std::string site_id;
  SecAggStage stage;  // the stage the site should now produce a message for
  std::vector<uint8_t> payload;
};

class SecureRound {
 public:
  // Starts a round at `now`; the first stage (advertise keys) is open until
  // now + stage_timeout. Errors as crypto::secagg::Server::Create, and
  // INVALID_ARGUMENT for a non-positive timeout.
  static absl::StatusOr<std::unique_ptr<SecureRound>> Create(
      crypto::secagg::ServerConfig config, absl::Duration stage_timeout, absl::Time now);

  SecureRound(const SecureRound&) = delete;
  SecureRound& operator=(const SecureRound&) = delete;

  SecAggStage stage() const { return stage_; }
  absl::Time stage_deadline() const { return deadline_; }
  // Sites asked for the current stage's message that have not sent it.
  std::vector<std::string> PendingSites() const { return server_->PendingSites(); }

  // Stops waiting for `site` (it refused the round, or is known to be gone):
  // a stage whose other messages are all in closes without waiting for its
  // deadline. The site stays a participant of the protocol, which treats it
  // as a dropout; a later message from it is still accepted if it comes
  // before the stage closes.
  void Drop(const std::string& site) { dropped_.insert(site); }

  // Messages accepted so far in the open stage.
  size_t accepted_count() const { return accepted_.size(); }

  struct SubmitResult {
    bool duplicate = false;
  };
  // Takes `site`'s message for `stage`. FAILED_PRECONDITION when `stage` is
  // not the open one, or the site already sent a different message for it;
  // the secagg server's errors (INVALID_ARGUMENT, UNAUTHENTICATED, ...)
  // otherwise. A refused message changes nothing.
  absl::StatusOr<SubmitResult> Submit(const std::string& site, SecAggStage stage,
                                      crypto::ByteSpan payload);

  // Closes the open stage when all its messages are in or `now` has reached
  // its deadline, and returns what to deliver for the next one (nothing if
  // the stage stays open). After the last stage the round is kDone and
  // result() holds the sum; if the protocol cannot go on it is kAborted and
  // abort_status() says which sites were missing. Errors only for calls
  // after the round ended (FAILED_PRECONDITION).
  absl::StatusOr<std::vector<StageDelivery>> Advance(absl::Time now);

  // Each site that was asked for a stage's message and had not sent an
  // accepted one when that stage closed (at its deadline, or early because
  // every other site had answered and this one was dropped), with that
  // stage: the first it missed. Such a site takes no further part.
  const std::map<std::string, SecAggStage>& missed() const { return missed_; }

  // The aggregate; only when stage() is kDone.
  const crypto::secagg::AggregateResult& result() const { return result_; }
  const absl::Status& abort_status() const { return abort_status_; }

 private:
  SecureRound(std::unique_ptr<crypto::secagg::Server> server, absl::Duration stage_timeout,
              absl::Time now);
  absl::StatusOr<std::vector<StageDelivery>> CloseStage();

  std::unique_ptr<crypto::secagg::Server> server_;
  const absl::Duration stage_timeout_;
  SecAggStage stage_ = SecAggStage::kAdvertiseKeys;
  absl::Time deadline_;
  // Digest of each accepted payload of the open stage, by site.
  std::map<std::string, crypto::Sha256Digest> accepted_;
  std::set<std::string> dropped_;
  std::map<std::string, SecAggStage> missed_;
  crypto::secagg::AggregateResult result_;
  absl::Status abort_status_;
};

}  // namespace tessera::coordinator
