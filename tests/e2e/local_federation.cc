#include "tests/e2e/local_federation.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace tessera::testing {

std::string Binaries::Coordinator() { return TESSERA_COORDINATOR_BIN; }
std::string Binaries::Agent() { return TESSERA_AGENT_BIN; }
std::string Binaries::Cli() { return TESSERA_CLI_BIN; }
std::string Binaries::LocalPki() { return TESSERA_LOCAL_PKI_SCRIPT; }
std::string Binaries::BuildDir() { return TESSERA_BUILD_DIR; }

namespace {

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status MakePki(const std::string& dir, const std::vector<std::string>& sites) {
  std::vector<std::string> pki_args = {"/bin/bash", Binaries::LocalPki(), Binaries::BuildDir(), dir};
  pki_args.insert(pki_args.end(), sites.begin(), sites.end());
  auto pki = RunCommand(pki_args, absl::Seconds(60));
  if (!pki.ok()) return pki.status();
  if (pki->exit_code != 0) return absl::InternalError("local-pki.sh failed: " + pki->output);
  return absl::OkStatus();
}


// Making a PKI runs the project's PKI tools a dozen times, seconds of work
// for every federation. Federations of one build share one PKI per list of
// sites, made once (by whichever test process gets there first, under a
// lock) in the build folder and copied; it is made afresh when the tools
// are rebuilt, and every day, so its certificates never come near expiry.
absl::StatusOr<std::string> CachedPki(const std::vector<std::string>& sites) {
  std::string key = absl::StrCat(absl::StrJoin(sites, ","), "|", absl::ToUnixSeconds(absl::Now()) / 86400);
  for (const std::string& tool :
       {Binaries::Cli(), Binaries::Agent(), Binaries::LocalPki()}) {
    struct stat info {};
    if (::stat(tool.c_str(), &info) != 0) return absl::NotFoundError("missing " + tool);
    absl::StrAppend(&key, "|", info.st_mtim.tv_sec, ".", info.st_mtim.tv_nsec, ".", info.st_size);
  }
  const std::string root = Binaries::BuildDir() + "/e2e-pki";
  const std::string dir = absl::StrCat(root, "/", absl::Hex(std::hash<std::string>{}(key)));
  if (std::filesystem::exists(dir)) return dir;
  std::error_code error;
  std::filesystem::create_directories(root, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", root, ": ", error.message()));
  const int lock = ::open((root + "/.lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
    if (lock >= 0) ::close(lock);
    return absl::InternalError("cannot lock " + root + "/.lock");
  }
  absl::Status made = absl::OkStatus();
  if (!std::filesystem::exists(dir)) {
    // Made aside and renamed, so a copy never sees half a PKI.
    const std::string building = absl::StrCat(dir, ".building-", ::getpid());
    std::filesystem::remove_all(building, error);
    made = MakePki(building, sites);
    if (made.ok() && ::rename(building.c_str(), dir.c_str()) != 0) {
      made = absl::InternalError(absl::StrCat("cannot rename ", building, " to ", dir));
    }
  }
  ::close(lock);
  if (!made.ok()) return made;
  return dir;
}
}  // namespace

absl::StatusOr<std::unique_ptr<LocalFederation>> LocalFederation::Start(
    const std::vector<std::string>& sites, bool reuse_pki) {
  std::unique_ptr<LocalFederation> federation(new LocalFederation());
  if (reuse_pki) {
    auto cached = CachedPki(sites);
    if (!cached.ok()) return cached.status();
    std::error_code error;
    std::filesystem::copy(*cached, federation->Pki(""), std::filesystem::copy_options::recursive,
                          error);
    if (error) return absl::InternalError("cannot copy the PKI: " + error.message());
  } else if (absl::Status status = MakePki(federation->Pki(""), sites); !status.ok()) {
    return status;
  }

  absl::Status started = federation->StartCoordinator();
  if (!started.ok()) return started;
  return federation;
}

absl::Status LocalFederation::StartCoordinator() {
  if (processes_.count("coordinator") > 0) {
    return absl::FailedPreconditionError("the coordinator is already running");
  }
  // The first start picks a free port; restarts reuse it, as agents dial it.
  const std::string listen = absl::StrCat("127.0.0.1:", port_);
  const std::string config = dir_.File("coordinator.toml");
  auto status = WriteText(config, absl::StrCat("[server]\nlisten = \"", listen, "\"\n[tls]\n",
                                               "ca_file = \"", Pki("ca.pem"), "\"\n",
                                               "cert_file = \"", Pki("coordinator.pem"),
                                               "\"\nkey_file = \"", Pki("coordinator.key"),
                                               "\"\n", "crl_file = \"", CrlFile(), "\"\n",
                                               "[storage]\ndir = \"", dir_.File("coordinator-state"),
                                               "\"\n", coordinator_extra_toml_));
  if (!status.ok()) return status;
  const std::string port_file = dir_.File("coordinator.port");
  ::unlink(port_file.c_str());
  ++coordinator_starts_;
  auto process = Subprocess::Start(
      {Binaries::Coordinator(), "serve", "--config", config, "--port-file", port_file},
      dir_.File(absl::StrCat("coordinator-", coordinator_starts_, ".log")));
  if (!process.ok()) return process.status();
  auto [it, inserted] = processes_.emplace("coordinator", std::move(*process));
  auto port_text = WaitForFile(port_file, absl::Seconds(30));
  if (!port_text.ok()) {
    return absl::InternalError(absl::StrCat("coordinator did not start: ", it->second.Output()));
  }
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*port_text), &port_)) {
    return absl::InternalError("bad port file: " + *port_text);
  }
  return absl::OkStatus();
}

absl::StatusOr<RunResult> LocalFederation::StopCoordinator(absl::Duration timeout) {
  auto it = processes_.find("coordinator");
  if (it == processes_.end()) return absl::FailedPreconditionError("the coordinator is not running");
  it->second.Signal(SIGTERM);
  auto result = it->second.Wait(timeout);
  if (result.ok()) processes_.erase(it);
  return result;
}

absl::Status LocalFederation::KillCoordinator() {
  auto it = processes_.find("coordinator");
  if (it == processes_.end()) return absl::FailedPreconditionError("the coordinator is not running");
  it->second.Signal(SIGKILL);
  auto result = it->second.Wait(absl::Seconds(10));
  if (!result.ok()) return result.status();
  processes_.erase(it);
  return absl::OkStatus();
}

absl::Status LocalFederation::SignalCoordinator(int signal_number) {
  auto it = processes_.find("coordinator");
  if (it == processes_.end()) return absl::FailedPreconditionError("the coordinator is not running");
  it->second.Signal(signal_number);
  return absl::OkStatus();
}

std::string LocalFederation::CoordinatorOutput() const {
  auto it = processes_.find("coordinator");
  return it == processes_.end() ? "" : it->second.Output();
}

std::string LocalFederation::AgentOutput(const std::string& site) const {
  auto it = processes_.find("agent-" + site);
  return it == processes_.end() ? "" : it->second.Output();
}

absl::Status LocalFederation::StartAgent(const std::string& site,
                                         const std::map<std::string, std::string>& env) {
  // Each site offers one small dataset: 150 records, reported as ~100.
  const std::string csv = dir_.File("cohort-" + site + ".csv");
  const AgentSetup setup = setups_.count(site) > 0 ? setups_.at(site) : AgentSetup{};
  std::string rows = setup.cohort_csv;
  if (rows.empty()) {
    rows = "age,outcome\n";
    for (int i = 0; i < 150; ++i) absl::StrAppend(&rows, 40 + i % 40, ",", i % 2, "\n");
  }
  if (auto written = WriteText(csv, rows); !written.ok()) return written;
  const std::string config = dir_.File("agent-" + site + ".toml");
  auto status = WriteText(
      config, absl::StrCat("[coordinator]\naddress = \"",
                           setup.coordinator_address.empty() ? address() : setup.coordinator_address,
                           "\"\nheartbeat_seconds = 1\nretry_max_seconds = 3\n[tls]\nca_file = \"", Pki("ca.pem"),
                           "\"\ncert_file = \"", Pki("site-" + site + ".pem"),
                           "\"\nkey_file = \"", Pki("site-" + site + ".key"), "\"\n",
                           "[state]\ndir = \"", AgentStateDir(site), "\"\n",
                           "[datasets.cohort]\nkind = \"csv\"\npath = \"", csv, "\"\n",
                           setup.extra_toml));
  if (!status.ok()) return status;
  auto process = Subprocess::Start({Binaries::Agent(), "run", "--config", config},
                                   dir_.File("agent-" + site + ".log"), env);
  if (!process.ok()) return process.status();
  processes_.emplace("agent-" + site, std::move(*process));
  return absl::OkStatus();
}

absl::Status LocalFederation::KillAgent(const std::string& site) {
  auto it = processes_.find("agent-" + site);
  if (it == processes_.end()) return absl::NotFoundError(absl::StrCat("no agent for ", site));
  it->second.Signal(SIGKILL);
  auto result = it->second.Wait(absl::Seconds(10));
  if (!result.ok()) return result.status();
  processes_.erase(it);
  return absl::OkStatus();
}

absl::Status LocalFederation::SignalAgent(const std::string& site, int signal_number) {
  auto it = processes_.find("agent-" + site);
  if (it == processes_.end()) return absl::NotFoundError(absl::StrCat("no agent for ", site));
  it->second.Signal(signal_number);
  return absl::OkStatus();
}

absl::StatusOr<RunResult> LocalFederation::WaitForAgentExit(const std::string& site,
                                                            absl::Duration timeout) {
  auto it = processes_.find("agent-" + site);
  if (it == processes_.end()) return absl::NotFoundError("no agent started for site " + site);
  auto result = it->second.Wait(timeout);
  if (result.ok()) processes_.erase(it);
  return result;
}

absl::StatusOr<RunResult> LocalFederation::Cli(const std::vector<std::string>& args,
                                               const std::string& role, absl::Duration timeout) {
  std::vector<std::string> argv = {Binaries::Cli()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout,
                    {{"TESSERA_COORDINATOR", address()},
                     {"TESSERA_CA", Pki("ca.pem")},
                     {"TESSERA_CERT", Pki("person-" + role + ".pem")},
                     {"TESSERA_KEY", Pki("person-" + role + ".key")}});
}

absl::Status LocalFederation::WaitForConnectedSites(size_t count, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (absl::Now() < deadline) {
    auto result = Cli({"sites", "list", "--json"});
    if (result.ok() && result->exit_code == 0) {
      last = result->output;
      auto json = nlohmann::json::parse(result->output, nullptr, /*allow_exceptions=*/false);
      if (!json.is_discarded() && json.contains("sites")) {
        size_t connected = 0;
        for (const auto& site : json["sites"]) connected += site.value("connected", false) ? 1u : 0u;
        if (connected >= count) return absl::OkStatus();
      }
    } else if (result.ok()) {
      last = result->output;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(count, " sites did not connect within ", absl::FormatDuration(timeout),
                   "; last answer: ", last));
}

absl::StatusOr<std::map<std::string, RunResult>> LocalFederation::Stop(absl::Duration timeout) {
  std::map<std::string, RunResult> results;
  // Agents first, so they do not log the coordinator going away.
  for (auto& [name, process] : processes_) {
    if (name != "coordinator") process.Signal(SIGTERM);
  }
  for (auto& [name, process] : processes_) {
    if (name == "coordinator") continue;
    auto result = process.Wait(timeout);
    if (!result.ok()) return result.status();
    results[name] = *result;
  }
  if (processes_.count("coordinator") > 0) {
    auto result = StopCoordinator(timeout);
    if (!result.ok()) return result.status();
    results["coordinator"] = *result;
  }
  processes_.clear();
  return results;
}

}  // namespace tessera::testing
