// Test fixtures for secure aggregation: one in-memory federation PKI with up
// to 200 site identities (certificates and signers), round parameters for
// them, and a driver that runs a whole round between one Server and n
// Clients with a chosen set of dropouts and late messages, passing every
// message through its byte encoding.
//
// Thread-safety: TestFederation::Get() is initialised once (thread-safe);
// everything else is single-threaded.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/secagg/client.h"
#include "crypto/secagg/round_parameters.h"
#include "crypto/secagg/server.h"
#include "crypto/signature.h"
#include "tests/crypto/test_pki.h"

namespace tessera::crypto::secagg::testing {

inline constexpr uint32_t kMaxTestSites = 200;

class TestFederation {
 public:
  // The shared federation: a P-256 CA and sites "site-001".."site-200"
  // (OU=site), each with a P-256 key.
  static const TestFederation& Get();

  const std::string& ca_pem() const { return pki_->ca().certificate_pem; }
  const crypto::testing::TestPki& pki() const { return *pki_; }
  // Site number i (1-based).
  const std::string& site_id(uint32_t i) const { return site_ids_[i - 1]; }
  const std::string& certificate_pem(uint32_t i) const {
    return identities_[i - 1].certificate_pem;
  }
  const Signer& signer(uint32_t i) const { return *signers_[i - 1]; }

  // Parameters for a round among sites 1..n.
  RoundParameters Parameters(uint32_t n, uint32_t neighbours, uint32_t threshold,
                             uint32_t bit_width, uint64_t vector_length, uint64_t seed,
                             uint64_t round = 7) const;
  TrustSettings Trust() const;
  // A fresh authenticator for this federation's CA. Clients and servers made
  // here check certificates at TestNow().
  std::shared_ptr<const PeerAuthenticator> Authenticator() const;
  // One authenticator shared by every RunRound, as a daemon shares one
  // across rounds: each certificate is parsed and chain-checked once.
  std::shared_ptr<const PeerAuthenticator> shared_authenticator() const {
    return shared_authenticator_;
  }
  // A client for site `participant` of `parameters` (participants must be
  // this federation's site ids).
  absl::StatusOr<std::unique_ptr<Client>> MakeClient(
      const RoundParameters& parameters, uint32_t participant,
      std::shared_ptr<const PeerAuthenticator> authenticator) const;
  absl::StatusOr<std::unique_ptr<Server>> MakeServer(
      const RoundParameters& parameters,
      std::shared_ptr<const PeerAuthenticator> authenticator) const;

 private:
  TestFederation() = default;
  std::unique_ptr<crypto::testing::TestPki> pki_;
  std::vector<std::string> site_ids_;
  std::vector<crypto::testing::TestIdentity> identities_;
  std::vector<std::unique_ptr<PrivateKeySigner>> signers_;
  std::shared_ptr<const PeerAuthenticator> shared_authenticator_;
};

// Stages as numbered in the protocol: 0 advertise keys, 1 share keys,
// 2 masked input, 3 consistency check, 4 unmask.
inline constexpr size_t kStageCount = 5;

struct DropPlan {
  // silent[s][u]: site u sends nothing from stage s on (it crashed before,
  // or while, producing its stage-s message). Indexed 1..n.
  std::array<std::vector<bool>, kStageCount> silent;
  // late[s][u]: site u's stage-s message arrives after the coordinator
  // closed stage s; it must be refused, and u hears nothing more.
  std::array<std::vector<bool>, kStageCount> late;

  static DropPlan None(uint32_t n);
};

struct RoundRun {
  std::vector<std::vector<uint32_t>> inputs;  // [u], u = 1..n
  absl::StatusOr<AggregateResult> result = absl::UnknownError("not run");
  // Anything an honest participant did not expect: a client refusing a
  // message, the server refusing an honest message, a late message accepted.
  std::vector<std::string> unexpected;
  // Bytes each site sent and received, as encoded.
  std::vector<uint64_t> bytes_sent;
  std::vector<uint64_t> bytes_received;
};

// Runs one round with random inputs from `input_seed`; all parties use the
// federation's shared authenticator.
RoundRun RunRound(const RoundParameters& parameters, const DropPlan& plan, uint64_t input_seed);

}  // namespace tessera::crypto::secagg::testing
