// An honest SecAgg+ round between one Server and n sites, driven stage by
// stage through the messages' bytes, for the secure-aggregation fuzz
// targets: they let the round reach a stage honestly, put their input in
// place of one message of that stage, and let the round go on.
//
// Sites are the agent's own SecAggSession (agent/round/secagg_session.h),
// which parses what the coordinator sends and drives crypto::secagg::Client,
// so the client-side targets fuzz exactly what the agent runs. Identities
// come from the crypto tests' federation (tests/crypto/secagg/).
//
// Thread-safety: none; one round per thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/round/secagg_session.h"
#include "crypto/secagg/server.h"

namespace tessera::fuzz {

class SecAggRound {
 public:
  static constexpr uint32_t kSites = 4;
  static constexpr uint64_t kLength = 8;

  // A round among kSites sites (complete graph, threshold 3, 16-bit ring);
  // every site has advertised its keys (stage 0 messages are in
  // from_sites()). Aborts when an honest round cannot be set up.
  SecAggRound();

  // The coordinator takes the sites' messages of stage `stage` (0 advertise
  // keys .. 4 unmask shares) from from_sites(), in site order, refusing what
  // does not parse or does not check, closes the stage and, before the last,
  // puts its messages to the sites in to_sites(). Returns the server's
  // verdict on closing the stage.
  absl::Status ServerStage(int stage);
  // Each site answers its message of coordinator stage `stage` (0 key list ..
  // 3 unmask request) from to_sites(); answers go to from_sites(). A site
  // that refuses sends nothing.
  void SitesAnswer(int stage);

  const std::string& site_id(uint32_t i) const;  // i in 0..kSites-1
  agent::SecAggSession& site(uint32_t i) { return *sites_[i]; }
  crypto::secagg::Server& server() { return *server_; }
  std::map<std::string, std::vector<uint8_t>>& to_sites() { return to_sites_; }
  std::map<std::string, std::vector<uint8_t>>& from_sites() { return from_sites_; }
  // The input vector of site i.
  std::vector<uint32_t> Input(uint32_t i) const;
  // The aggregate, once stage 4 closed successfully.
  const std::optional<crypto::secagg::AggregateResult>& result() const { return result_; }
  // Checks what any finished round must satisfy: a sum of the right length
  // from at least the threshold of sites, every site included or excluded;
  // with `honest`, also that every site is included and the sum is exact.
  // Aborts (a finding) otherwise.
  void CheckResult(bool honest) const;

 private:
  std::unique_ptr<crypto::secagg::Server> server_;
  std::vector<std::unique_ptr<agent::SecAggSession>> sites_;
  std::map<std::string, std::vector<uint8_t>> to_sites_;
  std::map<std::string, std::vector<uint8_t>> from_sites_;
  std::optional<crypto::secagg::AggregateResult> result_;
};

}  // namespace tessera::fuzz
