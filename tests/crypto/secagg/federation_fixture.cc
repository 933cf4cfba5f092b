#include "tests/crypto/secagg/federation_fixture.h"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "crypto/secagg/messages.h"

namespace tessera::crypto::secagg::testing {
namespace {

using crypto::testing::TestKeyType;
using crypto::testing::TestNow;
using crypto::testing::TestPki;

template <typename T>
T ValueOrDie(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "test federation setup failed (%s): %s\n", what,
                 value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

// Shared state of one RunRound.
struct RunState {
  const TestFederation& federation;
  const DropPlan& plan;
  RoundRun& run;
  std::unique_ptr<Server> server;
  std::vector<std::unique_ptr<Client>> clients;  // [u]
  std::vector<bool> stalled;                     // [u]: sends nothing more

  uint32_t IndexOf(const std::string& site_id) const { return *server->context().IndexOf(site_id); }
  const std::string& Site(uint32_t u) const { return server->context().SiteId(u); }
  void Unexpected(std::string what) { run.unexpected.push_back(std::move(what)); }
};

// Encodes `message` and parses it back, as a transport would, counting the
// bytes against `site` (sent or received).
template <typename Message>
Message OverTheWire(RunState& state, const Message& message,
                    absl::StatusOr<Message> (*parse)(ByteSpan), uint32_t site, bool sent) {
  const std::vector<uint8_t> bytes = Serialize(message);
  (sent ? state.run.bytes_sent : state.run.bytes_received)[site] += bytes.size();
  absl::StatusOr<Message> parsed = parse(bytes);
  if (!parsed.ok()) {
    state.Unexpected(
        absl::StrCat("an honest message failed to parse: ", parsed.status().ToString()));
    return message;
  }
  return *std::move(parsed);
}

// One stage after the first: each site that got a coordinator message and is
// not stalled answers it (unless it goes silent now); answers go to the
// coordinator in time or, for late sites, after the stage closed. Returns
// the late answers.
template <typename In, typename Reply>
std::vector<std::pair<uint32_t, Reply>> ClientsAnswer(
    RunState& state, size_t stage, const std::vector<Outgoing<In>>& incoming,
    absl::StatusOr<In> (*parse_in)(ByteSpan),
    const std::function<absl::StatusOr<Reply>(Client&, const In&, uint32_t)>& step,
    absl::StatusOr<Reply> (*parse_reply)(ByteSpan),
    const std::function<absl::Status(const std::string&, const Reply&)>& handle) {
  std::vector<std::pair<uint32_t, Reply>> late;
  for (const Outgoing<In>& out : incoming) {
    const uint32_t u = state.IndexOf(out.site_id);
    if (state.stalled[u]) continue;
    const In message = OverTheWire(state, out.message, parse_in, u, /*sent=*/false);
    if (state.plan.silent[stage][u]) {
      state.stalled[u] = true;
      continue;
    }
    absl::StatusOr<Reply> reply = step(*state.clients[u], message, u);
    if (!reply.ok()) {
      state.Unexpected(absl::StrCat("site ", u, " refused its stage-", stage,
                                    " message: ", reply.status().ToString()));
      state.stalled[u] = true;
      continue;
    }
    Reply sent = OverTheWire(state, *reply, parse_reply, u, /*sent=*/true);
    if (state.plan.late[stage][u]) {
      late.emplace_back(u, std::move(sent));
      state.stalled[u] = true;
      continue;
    }
    absl::Status accepted = handle(out.site_id, sent);
    if (!accepted.ok()) {
      state.Unexpected(absl::StrCat("the coordinator refused site ", u, "'s stage-", stage,
                                    " message: ", accepted.ToString()));
    }
  }
  return late;
}

template <typename Reply>
void DeliverLate(RunState& state, size_t stage, const std::vector<std::pair<uint32_t, Reply>>& late,
                 const std::function<absl::Status(const std::string&, const Reply&)>& handle) {
  for (const auto& [u, message] : late) {
    absl::Status status = handle(state.Site(u), message);
    if (status.code() != absl::StatusCode::kFailedPrecondition) {
      state.Unexpected(absl::StrCat("a late stage-", stage, " message from site ", u, " got ",
                                    status.ToString(), " instead of FAILED_PRECONDITION"));
    }
  }
}

}  // namespace

const TestFederation& TestFederation::Get() {
  static const TestFederation* const federation = [] {
    auto* created = new TestFederation();
    created->pki_ =
        ValueOrDie(TestPki::Create("Tessera test federation CA", TestKeyType::kEcdsaP256), "CA");
    for (uint32_t i = 1; i <= kMaxTestSites; ++i) {
      created->site_ids_.push_back(absl::StrFormat("site-%03d", i));
      created->identities_.push_back(ValueOrDie(
          created->pki_->Issue(created->site_ids_.back(), "site", TestKeyType::kEcdsaP256),
          "site"));
      created->signers_.push_back(ValueOrDie(
          PrivateKeySigner::FromPem(created->identities_.back().private_key_pem), "signer"));
    }
    created->shared_authenticator_ = created->Authenticator();
    return created;
  }();
  return *federation;
}

RoundParameters TestFederation::Parameters(uint32_t n, uint32_t neighbours, uint32_t threshold,
                                           uint32_t bit_width, uint64_t vector_length,
                                           uint64_t seed, uint64_t round) const {
  RoundParameters parameters;
  parameters.job_id = "job-secagg-test";
  parameters.round = round;
  for (uint32_t i = 1; i <= n; ++i) parameters.participants.push_back(site_id(i));
  parameters.threshold = threshold;
  parameters.neighbours = neighbours;
  parameters.bit_width = bit_width;
  parameters.vector_length = vector_length;
  std::mt19937_64 rng(seed);
  for (uint8_t& byte : parameters.graph_seed) byte = static_cast<uint8_t>(rng());
  return parameters;
}

TrustSettings TestFederation::Trust() const {
  TrustSettings trust;
  trust.ca_certificate_pem = ca_pem();
  return trust;
}

std::shared_ptr<const PeerAuthenticator> TestFederation::Authenticator() const {
  return ValueOrDie(PeerAuthenticator::Create(Trust()), "authenticator");
}

absl::StatusOr<std::unique_ptr<Client>> TestFederation::MakeClient(
    const RoundParameters& parameters, uint32_t participant,
    std::shared_ptr<const PeerAuthenticator> authenticator) const {
  ClientConfig config;
  config.round = parameters;
  config.site_id = parameters.participants[participant - 1];
  // Participants are federation sites; find this one's identity by its id.
  uint32_t site = 0;
  for (uint32_t i = 1; i <= kMaxTestSites; ++i) {
    if (site_ids_[i - 1] == config.site_id) site = i;
  }
  if (site == 0) return absl::NotFoundError(absl::StrCat("no test site ", config.site_id));
  config.certificate_pem = certificate_pem(site);
  config.authenticator = std::move(authenticator);
  config.now = TestNow();
  return Client::Create(std::move(config), signer(site));
}

absl::StatusOr<std::unique_ptr<Server>> TestFederation::MakeServer(
    const RoundParameters& parameters,
    std::shared_ptr<const PeerAuthenticator> authenticator) const {
  return Server::Create(ServerConfig{parameters, std::move(authenticator), TestNow()});
}

DropPlan DropPlan::None(uint32_t n) {
  DropPlan plan;
  for (size_t s = 0; s < kStageCount; ++s) {
    plan.silent[s].assign(n + 1, false);
    plan.late[s].assign(n + 1, false);
  }
  return plan;
}

RoundRun RunRound(const RoundParameters& parameters, const DropPlan& plan, uint64_t input_seed) {
  const TestFederation& federation = TestFederation::Get();
  const auto n = static_cast<uint32_t>(parameters.participants.size());
  RoundRun run;
  run.bytes_sent.assign(n + 1, 0);
  run.bytes_received.assign(n + 1, 0);
  RunState state{federation, plan, run, nullptr, {}, std::vector<bool>(n + 1, false)};

  const std::shared_ptr<const PeerAuthenticator> authenticator = federation.shared_authenticator();
  absl::StatusOr<std::unique_ptr<Server>> server = federation.MakeServer(parameters, authenticator);
  if (!server.ok()) {
    run.result = server.status();
    return run;
  }
  state.server = *std::move(server);
  std::mt19937_64 rng(input_seed);
  const uint32_t value_mask =
      parameters.bit_width == 32 ? 0xFFFFFFFFu : (uint32_t{1} << parameters.bit_width) - 1;
  run.inputs.assign(n + 1, {});
  state.clients.resize(n + 1);
  for (uint32_t u = 1; u <= n; ++u) {
    absl::StatusOr<std::unique_ptr<Client>> client =
        federation.MakeClient(parameters, u, authenticator);
    if (!client.ok()) {
      run.result = client.status();
      return run;
    }
    state.clients[u] = *std::move(client);
    run.inputs[u].resize(parameters.vector_length);
    for (uint32_t& value : run.inputs[u]) value = static_cast<uint32_t>(rng()) & value_mask;
  }
  Server& coordinator = *state.server;

  // Stage 0: advertise keys.
  const std::function<absl::Status(const std::string&, const AdvertiseKeys&)> handle_advertise =
      [&](const std::string& site, const AdvertiseKeys& m) {
        return coordinator.HandleAdvertiseKeys(site, m);
      };
  std::vector<std::pair<uint32_t, AdvertiseKeys>> late_advertise;
  for (uint32_t u = 1; u <= n; ++u) {
    if (plan.silent[0][u]) {
      state.stalled[u] = true;
      continue;
    }
    absl::StatusOr<AdvertiseKeys> keys = state.clients[u]->Start();
    if (!keys.ok()) {
      state.Unexpected(absl::StrCat("site ", u, " could not start: ", keys.status().ToString()));
      continue;
    }
    AdvertiseKeys sent = OverTheWire(state, *keys, &ParseAdvertiseKeys, u, /*sent=*/true);
    if (plan.late[0][u]) {
      late_advertise.emplace_back(u, std::move(sent));
      state.stalled[u] = true;
      continue;
    }
    absl::Status accepted = handle_advertise(state.Site(u), sent);
    if (!accepted.ok()) state.Unexpected(accepted.ToString());
  }
  absl::StatusOr<std::vector<Outgoing<KeyList>>> key_lists = coordinator.FinishAdvertiseKeys();
  DeliverLate(state, 0, late_advertise, handle_advertise);
  if (!key_lists.ok()) {
    run.result = key_lists.status();
    return run;
  }

  // Stage 1: share keys.
  const std::function<absl::Status(const std::string&, const ShareKeys&)> handle_shares =
      [&](const std::string& site, const ShareKeys& m) {
        return coordinator.HandleShareKeys(site, m);
      };
  auto late_shares = ClientsAnswer<KeyList, ShareKeys>(
      state, 1, *key_lists, &ParseKeyList,
      [](Client& client, const KeyList& m, uint32_t) { return client.HandleKeyList(m); },
      &ParseShareKeys, handle_shares);
  absl::StatusOr<std::vector<Outgoing<ShareRelay>>> relays = coordinator.FinishShareKeys();
  DeliverLate(state, 1, late_shares, handle_shares);
  if (!relays.ok()) {
    run.result = relays.status();
    return run;
  }

  // Stage 2: masked input.
  const std::function<absl::Status(const std::string&, const MaskedInput&)> handle_masked =
      [&](const std::string& site, const MaskedInput& m) {
        return coordinator.HandleMaskedInput(site, m);
      };
  auto late_masked = ClientsAnswer<ShareRelay, MaskedInput>(
      state, 2, *relays, &ParseShareRelay,
      [&run](Client& client, const ShareRelay& m, uint32_t u) {
        return client.HandleShareRelay(m, run.inputs[u]);
      },
      &ParseMaskedInput, handle_masked);
  absl::StatusOr<std::vector<Outgoing<SurvivorSet>>> survivor_sets =
      coordinator.FinishMaskedInput();
  DeliverLate(state, 2, late_masked, handle_masked);
  if (!survivor_sets.ok()) {
    run.result = survivor_sets.status();
    return run;
  }

  // Stage 3: consistency check.
  const std::function<absl::Status(const std::string&, const ConsistencySignature&)>
      handle_signature = [&](const std::string& site, const ConsistencySignature& m) {
        return coordinator.HandleConsistencySignature(site, m);
      };
  auto late_signatures = ClientsAnswer<SurvivorSet, ConsistencySignature>(
      state, 3, *survivor_sets, &ParseSurvivorSet,
      [](Client& client, const SurvivorSet& m, uint32_t) { return client.HandleSurvivorSet(m); },
      &ParseConsistencySignature, handle_signature);
  absl::StatusOr<std::vector<Outgoing<UnmaskRequest>>> requests =
      coordinator.FinishConsistencyCheck();
  DeliverLate(state, 3, late_signatures, handle_signature);
  if (!requests.ok()) {
    run.result = requests.status();
    return run;
  }

  // Stage 4: unmask.
  const std::function<absl::Status(const std::string&, const UnmaskShares&)> handle_unmask =
      [&](const std::string& site, const UnmaskShares& m) {
        return coordinator.HandleUnmaskShares(site, m);
      };
  auto late_unmask = ClientsAnswer<UnmaskRequest, UnmaskShares>(
      state, 4, *requests, &ParseUnmaskRequest,
      [](Client& client, const UnmaskRequest& m, uint32_t) {
        return client.HandleUnmaskRequest(m);
      },
      &ParseUnmaskShares, handle_unmask);
  run.result = coordinator.FinishUnmask();
  DeliverLate(state, 4, late_unmask, handle_unmask);
  return run;
}

}  // namespace tessera::crypto::secagg::testing
