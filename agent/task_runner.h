// The agent's work loop: it long-polls the coordinator for work (GetWork),
// and for each round it is given
//   1. checks the task — the job's canonical JSON parses, the dataset is
//      one this trust offers, the site is a participant, the public round
//      randomness is well formed — and what the round would cost against
//      the trust's local policy and its own privacy ledger (refusing with a
//      reason the coordinator records when a rule says no);
//   2. runs the site's half of secure aggregation (agent/round/
//      secagg_session.h), answering each stage input as it arrives;
//   3. at the masked-input stage computes its contribution (statistics, or
//      evaluation + local training, agent/local_round.h), RECORDS THE ROUND
//      IN ITS LEDGER, and only then encodes, masks and sends it — so a crash
//      can never leave privacy spent but unrecorded. A training round's
//      masked input goes with a receipt signed with the site key
//      (governance/receipt.h): the privacy settings applied, the ledger
//      entry's events, and ε before and after, for the governance board to
//      check against the site's certificate. Statistics rounds release no
//      model update and carry no receipt.
// A round the coordinator aborts, or one whose stage deadline passed, is
// forgotten with its secrets.
//
// Thread-safety: Run() blocks the calling thread until `stop` is notified;
// nothing else is shared.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/agent_config.h"
#include "agent/backoff.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "agent/round/local_policy.h"
#include "crypto/secagg/authentication.h"
#include "crypto/signature.h"
#include "tessera.grpc.pb.h"

namespace tessera::agent {

// Whether a round in progress may be forgotten: nothing has come for it
// since `heard_at` (when its task or last stage input arrived) for seven
// times the job's stage timeout. All three times are on the agent's own
// clock, so the answer does not depend on the coordinator's clock agreeing.
bool RoundOutlived(absl::Time heard_at, absl::Duration stage_timeout, absl::Time now);

class TaskRunner {
 public:
  // Loads the site's certificate and key; works over `channel`
  // (MakeCoordinatorChannel; no traffic yet). Errors name the file that
  // cannot be used.
  static absl::StatusOr<std::unique_ptr<TaskRunner>> Create(const AgentConfig& config,
                                                           PrivacyLedgerStore& ledger,
                                                           std::shared_ptr<grpc::Channel> channel);
  ~TaskRunner();

  // Polls for work until `stop` is notified. Returns OK on stop;
  // PERMISSION_DENIED / UNAUTHENTICATED at once when the coordinator refuses
  // this agent's certificate.
  absl::Status Run(absl::Notification& stop);

 private:
  struct Round;

  TaskRunner(const AgentConfig& config, PrivacyLedgerStore& ledger, std::string site_id,
             std::string certificate_pem, std::unique_ptr<crypto::Signer> signer,
             std::shared_ptr<const crypto::secagg::PeerAuthenticator> authenticator,
             std::unique_ptr<tessera::v1::Federation::Stub> stub);

  void HandleTask(const tessera::v1::Task& task);
  // OK when `ref` is after every attempt of its job this site took part in
  // (its ledger and started_); FAILED_PRECONDITION for a replayed task,
  // INTERNAL when the ledger cannot be read.
  absl::Status CheckNotReplayed(const tessera::v1::RoundRef& ref);
  void HandleStageInput(const tessera::v1::StageInput& input);
  // Prepares the round (data, policy) and starts secure aggregation; an
  // error becomes a refusal with `reason`.
  absl::Status StartRound(const tessera::v1::Task& task, Round& round,
                          tessera::v1::Refusal::Reason* reason);
  // This site's contribution (called once, at the masked-input stage).
  absl::StatusOr<std::vector<uint32_t>> Contribution(Round& round);
  // The receipt of a training round recorded in the ledger as
  // `participation`, signed with the site key. Errors as
  // governance::SignReceipt.
  absl::StatusOr<tessera::v1::SignedReceipt> SignRoundReceipt(
      const Round& round, const Participation& participation) const;
  // Sends `payload` for the stage of `ref` (inline, or uploaded first when
  // large), with `receipt` when given (the masked input of a training round).
  absl::Status Send(const tessera::v1::RoundRef& ref, const std::vector<uint8_t>& payload,
                    const tessera::v1::SignedReceipt* receipt = nullptr);
  // SubmitStage, retried while the coordinator is unreachable.
  absl::Status Submit(const tessera::v1::StageSubmission& submission);
  void Refuse(const tessera::v1::RoundRef& ref, tessera::v1::Refusal::Reason reason,
              const std::string& message);
  absl::StatusOr<std::string> Fetch(const tessera::v1::ObjectRef& ref);

  AgentConfig config_;
  PrivacyLedgerStore& ledger_;
  const std::string site_id_;
  const std::string certificate_pem_;
  std::unique_ptr<crypto::Signer> signer_;
  std::shared_ptr<const crypto::secagg::PeerAuthenticator> authenticator_;
  std::unique_ptr<tessera::v1::Federation::Stub> stub_;
  Backoff backoff_;
  // Rounds in progress, by "job/round/attempt".
  std::map<std::string, std::unique_ptr<Round>> rounds_;
  // The round attempts this process started secure aggregation for, by job
  // (statistics rounds included, which the ledger does not record): with
  // the ledger, what a replayed task is recognised by.
  std::map<std::string, std::vector<RoundAttempt>> started_;
};

}  // namespace tessera::agent
