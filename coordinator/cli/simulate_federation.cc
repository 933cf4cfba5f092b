#include "coordinator/cli/simulate_federation.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/status.h"
#include "coordinator/cli/admin_client.h"
#include "coordinator/cli/ca_directory.h"
#include "nlohmann/json.hpp"
#include "transport/pki.h"

namespace tessera::cli {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(25);
constexpr absl::Duration kStopGrace = absl::Seconds(10);

bool Executable(const std::string& path) {
  return !path.empty() && ::access(path.c_str(), X_OK) == 0 && !std::filesystem::is_directory(path);
}

// The first executable of `candidates`, else `name` on PATH.
std::string FindExecutable(const std::vector<std::string>& candidates, const std::string& name) {
  for (const std::string& candidate : candidates) {
    if (Executable(candidate)) return std::filesystem::path(candidate).lexically_normal().string();
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "", ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (Executable(candidate)) return candidate;
  }
  return "";
}

std::string Tail(const std::string& text, int lines) {
  std::vector<absl::string_view> all = absl::StrSplit(text, '\n', absl::SkipEmpty());
  const size_t from =
      all.size() > static_cast<size_t>(lines) ? all.size() - static_cast<size_t>(lines) : 0;
  std::string out;
  for (size_t i = from; i < all.size(); ++i) absl::StrAppend(&out, "\n  ", all[i]);
  return out;
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  return WriteFileAtomically(path, text, 0600);
}

std::string Quoted(const std::string& path) { return absl::StrCat("\"", path, "\""); }

}  // namespace

absl::StatusOr<FederationBinaries> FederationBinaries::Find() {
  FederationBinaries binaries;
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return absl::InternalError("cannot find this executable (/proc/self/exe)");
  binaries.cli = self.string();
  const std::filesystem::path here = self.parent_path();
  auto env = [](const char* name) {
    const char* value = std::getenv(name);
    return std::string(value != nullptr ? value : "");
  };
  binaries.coordinator =
      FindExecutable({env("TESSERA_COORDINATOR_BIN"), (here / "tessera-coordinator").string(),
                      (here / ".." / "tessera-coordinator").string()},
                     "tessera-coordinator");
  binaries.agent = FindExecutable({env("TESSERA_AGENT_BIN"), (here / "tessera-agent").string(),
                                   (here / ".." / ".." / "agent" / "tessera-agent").string()},
                                  "tessera-agent");
  if (binaries.coordinator.empty()) {
    return absl::NotFoundError(
        "cannot find tessera-coordinator next to tessera or on PATH; install the tessera "
        "package or set TESSERA_COORDINATOR_BIN");
  }
  if (binaries.agent.empty()) {
    return absl::NotFoundError(
        "cannot find tessera-agent next to tessera or on PATH; install the tessera package or "
        "set TESSERA_AGENT_BIN");
  }
  return binaries;
}

absl::StatusOr<std::unique_ptr<SimulatedFederation>> SimulatedFederation::Start(
    const FederationBinaries& binaries, const FederationSettings& settings, absl::Duration timeout,
    const CancelCheck& cancelled) {
  TESSERA_ASSIGN_OR_RETURN(TempDir dir, TempDir::Create("tessera-simulate"));
  std::unique_ptr<SimulatedFederation> federation(
      new SimulatedFederation(binaries, settings, std::move(dir)));
  TESSERA_RETURN_IF_ERROR(federation->CreatePki());
  TESSERA_RETURN_IF_ERROR(federation->StartCoordinator(cancelled));
  for (const SimulatedSite& site : settings.sites) {
    TESSERA_RETURN_IF_ERROR(federation->StartAgent(site.site));
  }
  TESSERA_RETURN_IF_ERROR(federation->WaitForConnectedSites(timeout, cancelled));
  return federation;
}

SimulatedFederation::~SimulatedFederation() {
  if (!stopped_) (void)Stop();
}

absl::Status SimulatedFederation::CreatePki() {
  const absl::Time now = absl::Now();
  const absl::Duration lifetime = absl::Hours(24);
  // Valid from a minute ago: the processes check validity against their own clocks.
  const absl::Time from = now - absl::Minutes(1);
  TESSERA_ASSIGN_OR_RETURN(CaDirectory ca,
                           CaDirectory::Init(Pki(""), "Tessera simulation",
                                             transport::KeyType::kEcdsaP256, lifetime, from));
  auto issue = [&](const std::string& id, transport::Role role, const std::string& name,
                   const std::vector<std::string>& dns,
                   const std::vector<std::string>& ips) -> absl::Status {
    TESSERA_ASSIGN_OR_RETURN(std::string key,
                             transport::GeneratePrivateKeyPem(transport::KeyType::kEcdsaP256));
    TESSERA_ASSIGN_OR_RETURN(std::string public_key, transport::PublicKeyPemOf(key));
    TESSERA_ASSIGN_OR_RETURN(std::string cert,
                             ca.Issue({id, role}, public_key, lifetime, from, dns, ips));
    TESSERA_RETURN_IF_ERROR(WriteFileAtomically(Pki(name + ".key"), key, 0600));
    return WriteFileAtomically(Pki(name + ".pem"), cert, 0644);
  };
  TESSERA_RETURN_IF_ERROR(issue("coordinator", transport::Role::kCoordinator, "coordinator",
                                {"localhost"}, {"127.0.0.1"}));
  TESSERA_RETURN_IF_ERROR(
      issue("simulation-ml-lead", transport::Role::kMlLead, "person-ml-lead", {}, {}));
  TESSERA_RETURN_IF_ERROR(
      issue("simulation-governance", transport::Role::kGovernance, "person-governance", {}, {}));
  for (const SimulatedSite& site : settings_.sites) {
    TESSERA_RETURN_IF_ERROR(issue(site.site, transport::Role::kSite, "site-" + site.site, {}, {}));
  }
  return absl::OkStatus();
}

absl::Status SimulatedFederation::StartCoordinator(const CancelCheck& cancelled) {
  const std::string config = dir_.File("coordinator.toml");
  // Polling the job every few tens of milliseconds is far above the default
  // per-caller rate; a crashed agent must stop counting as connected quickly.
  TESSERA_RETURN_IF_ERROR(WriteText(
      config, absl::StrCat("[server]\nlisten = \"127.0.0.1:0\"\n[tls]\nca_file = ",
                           Quoted(Pki("ca.pem")), "\ncert_file = ", Quoted(Pki("coordinator.pem")),
                           "\nkey_file = ", Quoted(Pki("coordinator.key")),
                           "\n[storage]\ndir = ", Quoted(dir_.File("coordinator-state")),
                           "\n[limits]\nrequests_per_second = 2000\nburst = 10000\n"
                           "[sites]\nliveness_seconds = 5\n")));
  const std::string port_file = dir_.File("coordinator.port");
  const std::string log = dir_.File("coordinator.log");
  TESSERA_ASSIGN_OR_RETURN(
      Subprocess process,
      Subprocess::Start(
          {binaries_.coordinator, "serve", "--config", config, "--port-file", port_file}, log));
  coordinator_ = std::make_unique<Subprocess>(std::move(process));
  logs_.push_back(log);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (true) {
    std::ifstream in(port_file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!text.empty() && absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port_) && port_ > 0) {
      return absl::OkStatus();
    }
    if (auto ended = coordinator_->Poll(); ended.has_value()) {
      return absl::InternalError(absl::StrCat("tessera-coordinator exited (code ", ended->exit_code,
                                              ") before listening:", Tail(ended->output, 8)));
    }
    if (cancelled()) return absl::CancelledError("cancelled");
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "tessera-coordinator did not listen within 30 s:", Tail(coordinator_->Output(), 8)));
    }
    absl::SleepFor(kPoll);
  }
}

std::string SimulatedFederation::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::Status SimulatedFederation::StartAgent(const std::string& site) {
  if (AgentRunning(site)) {
    return absl::FailedPreconditionError(absl::StrCat("the agent of ", site, " is running"));
  }
  const SimulatedSite* found = nullptr;
  for (const SimulatedSite& s : settings_.sites) {
    if (s.site == site) found = &s;
  }
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("no site ", site));
  const std::string config = dir_.File("agent-" + site + ".toml");
  if (agent_starts_[site] == 0) {
    const std::string state = dir_.File("state-" + site);
    TESSERA_RETURN_IF_ERROR(CreatePrivateDirectory(state));
    TESSERA_RETURN_IF_ERROR(WriteText(
        config,
        absl::StrCat("[coordinator]\naddress = \"", address(),
                     "\"\nheartbeat_seconds = 1\nretry_max_seconds = 1\n[tls]\nca_file = ",
                     Quoted(Pki("ca.pem")), "\ncert_file = ", Quoted(Pki("site-" + site + ".pem")),
                     "\nkey_file = ", Quoted(Pki("site-" + site + ".key")),
                     "\n[state]\ndir = ", Quoted(state), "\n[policy]\nmax_epsilon = 100\ndelta = ",
                     absl::StrFormat("%.17g", settings_.policy_delta),
                     "\nmin_noise_multiplier = 0\nmax_clip_norm = 1000000\nallow_non_private = ",
                     settings_.allow_non_private ? "true" : "false",
                     "\n[datasets.simulation]\nkind = \"csv\"\npath = ", Quoted(found->csv_path),
                     "\n")));
  }
  const int start = ++agent_starts_[site];
  const std::string log = dir_.File(start == 1 ? absl::StrCat("agent-", site, ".log")
                                               : absl::StrCat("agent-", site, ".", start, ".log"));
  TESSERA_ASSIGN_OR_RETURN(Subprocess process,
                           Subprocess::Start({binaries_.agent, "run", "--config", config}, log));
  agents_.erase(site);
  agents_.emplace(site, std::move(process));
  logs_.push_back(log);
  return absl::OkStatus();
}

absl::Status SimulatedFederation::KillAgent(const std::string& site) {
  auto it = agents_.find(site);
  if (it == agents_.end() || !it->second.running()) {
    return absl::NotFoundError(absl::StrCat("the agent of ", site, " is not running"));
  }
  it->second.Signal(SIGKILL);
  TESSERA_RETURN_IF_ERROR(it->second.Wait(absl::Seconds(10)).status());
  agents_.erase(it);
  return absl::OkStatus();
}

absl::Status SimulatedFederation::PauseAgent(const std::string& site) {
  if (!AgentRunning(site)) {
    return absl::NotFoundError(absl::StrCat("the agent of ", site, " is not running"));
  }
  agents_.at(site).Signal(SIGSTOP);
  return absl::OkStatus();
}

absl::Status SimulatedFederation::ResumeAgent(const std::string& site) {
  if (!AgentRunning(site)) {
    return absl::NotFoundError(absl::StrCat("the agent of ", site, " is not running"));
  }
  agents_.at(site).Signal(SIGCONT);
  return absl::OkStatus();
}

bool SimulatedFederation::AgentRunning(const std::string& site) const {
  auto it = agents_.find(site);
  return it != agents_.end() && it->second.running();
}

ConnectionOptions SimulatedFederation::Connection(const std::string& role) const {
  ConnectionOptions options;
  options.coordinator = address();
  options.ca_file = Pki("ca.pem");
  options.cert_file = Pki("person-" + role + ".pem");
  options.key_file = Pki("person-" + role + ".key");
  options.timeout_seconds = 10;
  return options;
}

absl::Status SimulatedFederation::WaitForConnectedSites(absl::Duration timeout,
                                                        const CancelCheck& cancelled) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(Connection("ml-lead")));
  const absl::Time deadline = absl::Now() + timeout;
  size_t connected = 0;
  while (true) {
    tessera::v1::ListSitesResponse response;
    auto context = client.NewContext();
    if (client.stub().ListSites(context.get(), {}, &response).ok()) {
      connected = 0;
      for (const auto& site : response.sites()) connected += site.connected() ? 1u : 0u;
      if (connected >= settings_.sites.size()) return absl::OkStatus();
    }
    for (auto& [site, agent] : agents_) {
      if (auto ended = agent.Poll(); ended.has_value()) {
        return absl::InternalError(absl::StrCat("the tessera-agent of ", site, " exited (code ",
                                                ended->exit_code, "):", Tail(ended->output, 8)));
      }
    }
    if (cancelled()) return absl::CancelledError("cancelled");
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "only ", connected, " of ", settings_.sites.size(), " agents connected within ",
          absl::FormatDuration(timeout), ":", CoordinatorLogTail(8)));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::StatusOr<Subprocess> SimulatedFederation::StartCli(const std::vector<std::string>& args,
                                                         const std::string& role) {
  std::vector<std::string> argv = {binaries_.cli};
  argv.insert(argv.end(), args.begin(), args.end());
  const ConnectionOptions connection = Connection(role);
  const std::string log =
      dir_.File(absl::StrCat("tessera-", ++cli_runs_, "-", args.empty() ? "" : args[0], ".out"));
  return Subprocess::Start(argv, log,
                           {{"TESSERA_COORDINATOR", connection.coordinator},
                            {"TESSERA_CA", connection.ca_file},
                            {"TESSERA_CERT", connection.cert_file},
                            {"TESSERA_KEY", connection.key_file}});
}

absl::StatusOr<RunResult> SimulatedFederation::Cli(const std::vector<std::string>& args,
                                                   const std::string& role, absl::Duration timeout,
                                                   const CancelCheck& cancelled) {
  TESSERA_ASSIGN_OR_RETURN(Subprocess process, StartCli(args, role));
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (auto ended = process.Poll(); ended.has_value()) return *ended;
    if (cancelled()) return absl::CancelledError("cancelled");  // the destructor kills it
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("`tessera ", absl::StrJoin(args, " "),
                                                      "` did not finish within ",
                                                      absl::FormatDuration(timeout)));
    }
    absl::SleepFor(kPoll);
  }
}

absl::StatusOr<double> SimulatedFederation::EpsilonSpent(const std::string& site) {
  TESSERA_ASSIGN_OR_RETURN(RunResult result,
                           RunCommand({binaries_.agent, "budget", "--config",
                                       dir_.File("agent-" + site + ".toml"), "--json"},
                                      absl::Seconds(30)));
  if (result.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("tessera-agent budget failed for ", site, ":", Tail(result.output, 4)));
  }
  // The JSON object is the output's last part (logs may precede it).
  const size_t start = result.output.find('{');
  nlohmann::json parsed = nlohmann::json::parse(
      start == std::string::npos ? std::string() : result.output.substr(start), nullptr, false);
  if (parsed.is_discarded() || !parsed.contains("datasets") || !parsed["datasets"].is_array()) {
    return absl::InternalError(absl::StrCat("tessera-agent budget gave no JSON for ", site));
  }
  for (const auto& dataset : parsed["datasets"]) {
    if (dataset.value("dataset", "") == "simulation") return dataset.value("epsilon_spent", 0.0);
  }
  return absl::InternalError(absl::StrCat("no dataset `simulation` in the budget of ", site));
}

absl::Status SimulatedFederation::CopyLogs(const std::string& dir) const {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", dir, ": ", error.message()));
  }
  for (const std::string& log : logs_) {
    std::filesystem::copy_file(log,
                               std::filesystem::path(dir) / std::filesystem::path(log).filename(),
                               std::filesystem::copy_options::overwrite_existing, error);
    if (error) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot copy ", log, " to ", dir, ": ", error.message()));
    }
  }
  return absl::OkStatus();
}

std::string SimulatedFederation::CoordinatorLogTail(int lines) const {
  std::ifstream in(dir_.File("coordinator.log"));
  std::ostringstream text;
  text << in.rdbuf();
  return Tail(text.str(), lines);
}

absl::Status SimulatedFederation::Stop() {
  stopped_ = true;
  absl::Status first = absl::OkStatus();
  auto note = [&first](const std::string& name, const absl::StatusOr<RunResult>& result) {
    if (!first.ok()) return;
    if (!result.ok()) {
      first = Annotate(result.status(), name);
    } else if (result->signal == SIGKILL) {
      first = absl::InternalError(absl::StrCat(
          name, " did not stop within ", absl::FormatDuration(kStopGrace), " and was killed"));
    }
  };
  // Everyone is told at once: an agent notices its stop signal only when
  // its long poll for work returns, which the coordinator's shutdown ends.
  for (auto& [site, agent] : agents_) {
    agent.Signal(SIGCONT);  // a paused process would only act on SIGTERM once continued
    agent.Signal(SIGTERM);
  }
  if (coordinator_ != nullptr) coordinator_->Signal(SIGTERM);
  for (auto& [site, agent] : agents_) {
    if (agent.running()) note("tessera-agent of " + site, agent.Terminate(kStopGrace));
  }
  agents_.clear();
  if (coordinator_ != nullptr && coordinator_->running()) {
    note("tessera-coordinator", coordinator_->Terminate(kStopGrace));
  }
  coordinator_.reset();
  dir_.Remove();
  return first;
}

}  // namespace tessera::cli
