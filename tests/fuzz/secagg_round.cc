#include "tests/fuzz/secagg_round.h"

#include <cstdio>
#include <cstdlib>

#include "crypto/secagg/messages.h"
#include "tests/crypto/secagg/federation_fixture.h"

namespace tessera::fuzz {
namespace {

namespace secagg = crypto::secagg;
using secagg::testing::TestFederation;

template <typename T>
T OrDie(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "honest secure-aggregation round: %s: %s\n", what,
                 value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

const secagg::RoundParameters& Parameters() {
  static const secagg::RoundParameters parameters = TestFederation::Get().Parameters(
      SecAggRound::kSites, /*neighbours=*/0, /*threshold=*/3, /*bit_width=*/16,
      SecAggRound::kLength, /*seed=*/11);
  return parameters;
}

// Parses `bytes` as the message of the stage and hands it to the server.
template <typename Message>
absl::Status Deliver(const std::vector<uint8_t>& bytes,
                     absl::StatusOr<Message> (*parse)(crypto::ByteSpan),
                     const std::function<absl::Status(const Message&)>& handle) {
  absl::StatusOr<Message> message = parse(bytes);
  if (!message.ok()) return message.status();
  return handle(*message);
}

template <typename Message>
void Post(const absl::StatusOr<std::vector<secagg::Outgoing<Message>>>& outgoing,
          std::map<std::string, std::vector<uint8_t>>& to_sites) {
  to_sites.clear();
  if (!outgoing.ok()) return;
  for (const auto& out : *outgoing) to_sites[out.site_id] = secagg::Serialize(out.message);
}

}  // namespace

SecAggRound::SecAggRound() {
  const TestFederation& federation = TestFederation::Get();
  auto authenticator = federation.shared_authenticator();
  server_ = OrDie(federation.MakeServer(Parameters(), authenticator), "server");
  for (uint32_t i = 0; i < kSites; ++i) {
    sites_.push_back(std::make_unique<agent::SecAggSession>(
        OrDie(federation.MakeClient(Parameters(), i + 1, authenticator), "client")));
    from_sites_[site_id(i)] = OrDie(sites_.back()->Start(), "advertise keys");
  }
}

const std::string& SecAggRound::site_id(uint32_t i) const { return Parameters().participants[i]; }

std::vector<uint32_t> SecAggRound::Input(uint32_t i) const {
  std::vector<uint32_t> input(kLength);
  for (uint64_t k = 0; k < kLength; ++k) input[k] = (i + 1) * 1000 + static_cast<uint32_t>(k);
  return input;
}

absl::Status SecAggRound::ServerStage(int stage) {
  secagg::Server& s = *server_;
  for (const auto& entry : from_sites_) {
    const std::string& site = entry.first;
    const std::vector<uint8_t>& bytes = entry.second;
    absl::Status handled;
    switch (stage) {
      case 0:
        handled = Deliver<secagg::AdvertiseKeys>(bytes, secagg::ParseAdvertiseKeys,
            [&](const auto& m) { return s.HandleAdvertiseKeys(site, m); });
        break;
      case 1:
        handled = Deliver<secagg::ShareKeys>(bytes, secagg::ParseShareKeys,
            [&](const auto& m) { return s.HandleShareKeys(site, m); });
        break;
      case 2:
        handled = Deliver<secagg::MaskedInput>(bytes, secagg::ParseMaskedInput,
            [&](const auto& m) { return s.HandleMaskedInput(site, m); });
        break;
      case 3:
        handled = Deliver<secagg::ConsistencySignature>(bytes, secagg::ParseConsistencySignature,
            [&](const auto& m) { return s.HandleConsistencySignature(site, m); });
        break;
      default:
        handled = Deliver<secagg::UnmaskShares>(bytes, secagg::ParseUnmaskShares,
            [&](const auto& m) { return s.HandleUnmaskShares(site, m); });
        break;
    }
    (void)handled;  // a refused message is the fuzz targets' business
  }
  from_sites_.clear();
  switch (stage) {
    case 0: {
      auto out = s.FinishAdvertiseKeys();
      Post(out, to_sites_);
      return out.status();
    }
    case 1: {
      auto out = s.FinishShareKeys();
      Post(out, to_sites_);
      return out.status();
    }
    case 2: {
      auto out = s.FinishMaskedInput();
      Post(out, to_sites_);
      return out.status();
    }
    case 3: {
      auto out = s.FinishConsistencyCheck();
      Post(out, to_sites_);
      return out.status();
    }
    default: {
      to_sites_.clear();
      auto result = s.FinishUnmask();
      if (result.ok()) result_ = *std::move(result);
      return result.status();
    }
  }
}

void SecAggRound::CheckResult(bool honest) const {
  const auto fail = [](const char* what) {
    std::fprintf(stderr, "secure-aggregation result: %s\n", what);
    __builtin_trap();
  };
  if (!result_.has_value()) {
    if (honest) fail("an honest round has no result");
    return;
  }
  if (result_->sum.size() != kLength) fail("the sum has the wrong length");
  if (result_->included_sites.size() < Parameters().threshold) fail("fewer than t included");
  if (result_->included_sites.size() + result_->excluded_sites.size() != kSites) {
    fail("sites neither included nor excluded");
  }
  if (!honest) return;
  if (result_->included_sites.size() != kSites) fail("an honest site was excluded");
  for (uint64_t k = 0; k < kLength; ++k) {
    uint32_t expected = 0;
    for (uint32_t i = 0; i < kSites; ++i) expected += Input(i)[k];
    if (result_->sum[k] != (expected & 0xFFFFu)) fail("the honest sum is wrong");
  }
}

void SecAggRound::SitesAnswer(int stage) {
  static constexpr agent::SecAggInput kInputs[] = {
      agent::SecAggInput::kKeyList, agent::SecAggInput::kShareRelay,
      agent::SecAggInput::kSurvivorSet, agent::SecAggInput::kUnmaskRequest};
  from_sites_.clear();
  for (uint32_t i = 0; i < kSites; ++i) {
    auto message = to_sites_.find(site_id(i));
    if (message == to_sites_.end()) continue;
    auto answer = sites_[i]->Handle(kInputs[stage], message->second, [this, i] {
      return absl::StatusOr<std::vector<uint32_t>>(Input(i));
    });
    if (answer.ok()) from_sites_[site_id(i)] = *std::move(answer);
  }
  to_sites_.clear();
}

}  // namespace tessera::fuzz
