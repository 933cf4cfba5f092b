#include "agent/check.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent/coordinator_link.h"
#include "agent/data/row_checker.h"
#include "agent/enrollment.h"

namespace tessera::agent {
namespace {

constexpr char kDatasetPrefix[] = "dataset ";
constexpr absl::Duration kProxyConnectTimeout = absl::Seconds(5);

const char kRenew[] =
    "renew: `tessera-agent enroll --key NEW_KEY_PATH --site ID --csr site.csr`, have the "
    "operator sign it, then `tessera-agent install-cert` (and point tls.key_file at the new key)";

// Opens and closes a TCP connection to host:port within `timeout`.
absl::Status TryTcpConnect(const std::string& host, const std::string& port,
                           absl::Duration timeout) {
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve `", host, "`: ", ::gai_strerror(rc)));
  }
  std::unique_ptr<struct addrinfo, void (*)(struct addrinfo*)> addresses(found, ::freeaddrinfo);
  std::string last_error = "no address";
  for (const struct addrinfo* address = found; address != nullptr; address = address->ai_next) {
    const int fd = ::socket(address->ai_family, address->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            address->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int error = 0;
    if (::connect(fd, address->ai_addr, address->ai_addrlen) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        struct pollfd poll_fd = {fd, POLLOUT, 0};
        const int ready = ::poll(&poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
        if (ready == 0) {
          error = ETIMEDOUT;
        } else {
          socklen_t length = sizeof(error);
          if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
            error = errno;
          }
        }
      }
    }
    ::close(fd);
    if (error == 0) return absl::OkStatus();
    last_error = std::strerror(error);
  }
  return absl::UnavailableError(
      absl::StrCat("cannot connect to ", host, ":", port, ": ", last_error));
}

std::string RecordsText(int64_t count) {
  return absl::StrCat(count, count == 1 ? " record" : " records");
}

// "dataset NAME": open the dataset as the agent does and read every record.
CheckResult CheckOneDataset(const data::DatasetConfig& dataset) {
  const std::string name = kDatasetPrefix + dataset.name;
  const std::string account = CurrentAccount().name;
  const std::string read_fix =
      absl::StrCat("check `datasets.", dataset.name, ".path` in agent.toml and that `", account,
                   "` may read the file and every folder above it");
  absl::StatusOr<std::unique_ptr<data::RecordSource>> source = data::OpenDataset(dataset);
  if (!source.ok()) return Fail(name, std::string(source.status().message()), read_fix);
  const absl::string_view position = data::PositionNoun(dataset.kind);
  data::Record record;
  int64_t records = 0;
  int64_t defective = 0;
  int64_t first_defective_line = 0;
  int64_t unreadable_cells = 0;
  int64_t first_unreadable_line = 0;
  while (true) {
    absl::StatusOr<bool> more = (*source)->Next(&record);
    if (!more.ok()) {
      return Fail(name,
                  absl::StrCat(more.status().message(), " (after ", RecordsText(records), ")"),
                  read_fix);
    }
    if (!*more) break;
    ++records;
    if (record.defect != data::RecordDefect::kNone) {
      if (defective++ == 0) first_defective_line = record.line;
      continue;
    }
    for (data::CellState cell : record.cells) {
      if (cell == data::CellState::kInvalidUtf8 || cell == data::CellState::kBlob) {
        if (unreadable_cells++ == 0) first_unreadable_line = record.line;
      }
    }
  }
  const std::string where = dataset.kind == data::DatasetKind::kSqlite
                                ? absl::StrCat("`", dataset.path, "` (sqlite query)")
                                : absl::StrCat("`", dataset.path, "` (csv)");
  std::string detail = absl::StrCat(where, ": ", RecordsText(records), ", ",
                                    (*source)->columns().size(), " columns");
  CheckResult result;
  if (records == 0) {
    result = Warn(name, absl::StrCat(detail, "; no job can train on it"),
                  "check that the file or query holds the records you mean to offer");
  } else if (defective > 0 || unreadable_cells > 0) {
    if (defective > 0) {
      absl::StrAppend(&detail, "; ", RecordsText(defective),
                      " with a wrong number of fields or bad quoting (first at ", position, " ",
                      first_defective_line, ")");
    }
    if (unreadable_cells > 0) {
      absl::StrAppend(&detail, "; ", unreadable_cells, " cells that are not UTF-8 text (first at ",
                      position, " ", first_unreadable_line, ")");
    }
    result = Warn(name, detail,
                  absl::StrCat("jobs skip such records or values; correct the ", position,
                               "s named if they should count"));
  } else {
    result = Ok(name, detail);
  }
  result.counts["records"] = records;
  result.counts["columns"] = static_cast<int64_t>((*source)->columns().size());
  result.counts["defective_records"] = defective;
  result.counts["unreadable_cells"] = unreadable_cells;
  return result;
}

// "job J / NAME": the dataset read through the job's schema and split.
CheckResult CheckDatasetForJob(const data::DatasetConfig& dataset,
                               const coordinator::JobSpec& job) {
  const std::string name = absl::StrCat("job ", job.name, " / ", dataset.name);
  absl::StatusOr<std::unique_ptr<data::RecordSource>> source = data::OpenDataset(dataset);
  if (!source.ok()) {
    return Fail(name, std::string(source.status().message()),
                absl::StrCat("see `", kDatasetPrefix, dataset.name, "` above"));
  }
  absl::StatusOr<data::DataReport> report = data::ScanDataset(
      **source, job.schema, job.split, [](const data::CheckedRow&, bool /*holdout*/) {});
  if (!report.ok()) {
    return Fail(name, std::string(report.status().message()),
                absl::IsFailedPrecondition(report.status())
                    ? "the job reads columns this dataset does not have: rename them (the CSV "
                      "header, or `AS` in the SQL query) or ask the ML lead which columns the "
                      "job means"
                    : "fix the dataset or ask the ML lead about the job's schema");
  }
  CheckResult result;
  if (report->records_used() == 0) {
    result = Fail(name, report->Summary(),
                  "no record is usable for this job: correct the values the summary names, or "
                  "ask the ML lead whether the schema fits this dataset");
  } else if (report->records_skipped() > 0) {
    result = Warn(name, report->Summary(),
                  "the job will skip these records; correct them if they should count");
  } else {
    result = Ok(name, report->Summary());
  }
  result.counts["records_read"] = report->records_read();
  result.counts["records_used"] = report->records_used();
  result.counts["records_skipped"] = report->records_skipped();
  result.counts["values_imputed"] = report->values_imputed();
  return result;
}

std::string DurationText(absl::Duration duration) {
  return absl::FormatDuration(absl::Trunc(duration, absl::Milliseconds(1)));
}

}  // namespace

CheckResult CheckAgentConfig(const std::string& path, std::optional<AgentConfig>* config) {
  absl::StatusOr<AgentConfig> loaded = LoadAgentConfig(path);
  if (!loaded.ok()) {
    std::string fix;
    switch (loaded.status().code()) {
      case absl::StatusCode::kNotFound:
        fix = "give the right file with --config (the package installs /etc/tessera/agent.toml)";
        break;
      case absl::StatusCode::kPermissionDenied:
        fix = "run the check as root";
        break;
      default:
        fix = "correct each line listed (an unknown key is usually a typo), then check again";
    }
    return Fail("config", std::string(loaded.status().message()), fix);
  }
  const size_t datasets = loaded->datasets.size();
  CheckResult result = Ok("config", absl::StrCat("`", path, "`: every key known; coordinator ",
                                                 loaded->coordinator_address, "; ", datasets,
                                                 datasets == 1 ? " dataset" : " datasets"));
  *config = *std::move(loaded);
  return result;
}

CheckResult CheckSiteCertificate(const transport::TlsFiles& tls, absl::Time now) {
  absl::StatusOr<transport::CertificateInfo> info = CheckInstalledCertificate(tls, now);
  if (!info.ok()) {
    std::string fix;
    switch (info.status().code()) {
      case absl::StatusCode::kNotFound:
        fix =
            "install the certificate signed by the operator: tessera-agent install-cert "
            "--config agent.toml --cert site.pem";
        break;
      case absl::StatusCode::kFailedPrecondition:
        fix = "fix the private key first (see above)";
        break;
      case absl::StatusCode::kPermissionDenied:
        fix = "run the check as root";
        break;
      default:
        fix = kRenew;
    }
    return Fail("certificate", std::string(info.status().message()), fix);
  }
  return CheckExpiry("certificate",
                     absl::StrCat("site `", info->common_name, "` (serial ", info->serial_hex,
                                  ", issued by `", info->issuer_common_name, "`)"),
                     info->not_after, now, kExpiryWarning, kRenew);
}

std::vector<CheckResult> CheckDatasets(const std::vector<data::DatasetConfig>& datasets,
                                       const std::vector<coordinator::JobSpec>& jobs) {
  std::vector<CheckResult> results;
  std::map<std::string, const data::DatasetConfig*> by_name;
  for (const data::DatasetConfig& dataset : datasets) {
    results.push_back(CheckOneDataset(dataset));
    by_name[dataset.name] = &dataset;
  }
  for (const coordinator::JobSpec& job : jobs) {
    auto it = by_name.find(job.dataset);
    if (it == by_name.end()) {
      results.push_back(Fail(absl::StrCat("job ", job.name, " / ", job.dataset),
                             absl::StrCat("job `", job.name, "` trains on dataset `", job.dataset,
                                          "`, which agent.toml does not offer"),
                             absl::StrCat("add a [datasets.", job.dataset,
                                          "] table, or ask the ML lead which dataset the job "
                                          "means")));
      continue;
    }
    results.push_back(CheckDatasetForJob(*it->second, job));
  }
  return results;
}

std::vector<DatasetInventory> InventoryFromResults(const std::vector<CheckResult>& results) {
  std::vector<DatasetInventory> inventory;
  for (const CheckResult& result : results) {
    if (result.verdict == Verdict::kFail || !absl::StartsWith(result.name, kDatasetPrefix)) {
      continue;
    }
    auto records = result.counts.find("records");
    if (records == result.counts.end() || records->second < 0) continue;
    inventory.push_back({result.name.substr(sizeof(kDatasetPrefix) - 1),
                         RecordCountBucket(static_cast<uint64_t>(records->second))});
  }
  return inventory;
}

CheckResult EvaluateClockSkew(absl::Duration skew) {
  const absl::Duration size = absl::AbsDuration(skew);
  const std::string detail =
      size < absl::Seconds(1) ? "this server's clock agrees with the coordinator's (within 1 s)"
                              : absl::StrCat("this server's clock is ", DurationText(size),
                                             skew > absl::ZeroDuration() ? " behind" : " ahead of",
                                             " the coordinator's");
  const std::string fix =
      "synchronise this server's clock (timedatectl set-ntp true, or the trust's NTP server); "
      "certificates and round deadlines depend on it";
  CheckResult result;
  if (size > kClockSkewFailure) {
    result = Fail("clock", detail, fix);
  } else if (size > kClockSkewWarning) {
    result = Warn("clock", detail, fix);
  } else {
    result = Ok("clock", detail);
  }
  result.counts["skew_ms"] = absl::ToInt64Milliseconds(skew);
  return result;
}

std::optional<ProxySetting> ProxyFor(absl::string_view target, const GetEnv& getenv) {
  const auto first_set = [&getenv](std::initializer_list<const char*> names)
      -> std::optional<std::pair<std::string, std::string>> {
    for (const char* name : names) {
      const char* value = getenv(name);
      if (value != nullptr && *value != '\0') return std::make_pair(std::string(name), value);
    }
    return std::nullopt;
  };
  auto proxy = first_set({"grpc_proxy", "https_proxy", "http_proxy"});
  if (!proxy) return std::nullopt;
  std::string host;
  std::string port;
  SplitHostPort(target, &host, &port);
  if (auto no_proxy = first_set({"no_grpc_proxy", "no_proxy"})) {
    for (absl::string_view entry : absl::StrSplit(no_proxy->second, ',')) {
      entry = absl::StripAsciiWhitespace(entry);
      if (!entry.empty() && absl::EndsWithIgnoreCase(host, entry)) return std::nullopt;
    }
  }
  // http://user:password@host:port/ -> host:port. The user part is never
  // kept: it may hold a password.
  absl::string_view uri = proxy->second;
  if (const size_t scheme = uri.find("://"); scheme != absl::string_view::npos) {
    uri.remove_prefix(scheme + 3);
  }
  if (const size_t slash = uri.find('/'); slash != absl::string_view::npos) {
    uri = uri.substr(0, slash);
  }
  if (const size_t at = uri.rfind('@'); at != absl::string_view::npos) uri.remove_prefix(at + 1);
  std::string proxy_host;
  std::string proxy_port;
  if (!SplitHostPort(uri, &proxy_host, &proxy_port)) proxy_port = "443";  // gRPC's default
  const bool v6 = absl::StrContains(proxy_host, ':');
  return ProxySetting{proxy->first,
                      absl::StrCat(v6 ? "[" : "", proxy_host, v6 ? "]" : "", ":", proxy_port)};
}

std::vector<CheckResult> CheckCoordinator(const AgentConfig& config,
                                          const std::vector<DatasetInventory>& inventory,
                                          const std::optional<ProxySetting>& proxy) {
  std::vector<CheckResult> results;
  const std::string& address = config.coordinator_address;
  std::string via;
  if (proxy) {
    via = absl::StrCat(" through the proxy ", proxy->host_port, " (", proxy->variable, ")");
    std::string host;
    std::string port;
    SplitHostPort(proxy->host_port, &host, &port);
    absl::Status reached = TryTcpConnect(host, port, kProxyConnectTimeout);
    if (reached.ok()) {
      results.push_back(Ok("proxy", absl::StrCat(proxy->host_port, " (from ", proxy->variable,
                                                 ") accepts connections")));
    } else {
      results.push_back(
          Fail("proxy", absl::StrCat(reached.message(), " (proxy from ", proxy->variable, ")"),
               absl::StrCat("check ", proxy->variable,
                            " in the service's environment and that the proxy runs; or list "
                            "the coordinator's host in no_proxy to dial it directly")));
    }
  }
  const auto unmeasured = [] {
    return Warn("clock", "not measured: the coordinator did not answer",
                "fix the coordinator check first");
  };
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeCoordinatorChannel(config);
  absl::StatusOr<std::unique_ptr<CoordinatorLink>> link =
      channel.ok() ? CoordinatorLink::Create(config, *channel)
                   : absl::StatusOr<std::unique_ptr<CoordinatorLink>>(channel.status());
  if (!link.ok()) {
    results.push_back(Fail("coordinator",
                           absl::StrCat("cannot set up TLS: ", link.status().message()),
                           "fix the private key and certificate first (see above)"));
    results.push_back(unmeasured());
    return results;
  }
  (*link)->SetInventory(inventory);
  const absl::Time sent = absl::Now();
  absl::StatusOr<tessera::v1::HeartbeatResponse> response = (*link)->SendHeartbeat();
  const absl::Time received = absl::Now();
  if (!response.ok()) {
    std::string fix;
    switch (response.status().code()) {
      case absl::StatusCode::kPermissionDenied:
      case absl::StatusCode::kUnauthenticated:
        fix =
            "the coordinator refuses this site's certificate (revoked, or from another "
            "federation?): ask the federation operator";
        break;
      default:
        fix = absl::StrCat("check coordinator.address, that the firewall allows outbound TCP to ",
                           address,
                           proxy ? absl::StrCat(" from the proxy ", proxy->host_port,
                                                " (which must allow CONNECT to it)")
                                 : std::string(),
                           ", that the address is a name in the coordinator's certificate, and "
                           "that the coordinator runs");
    }
    results.push_back(Fail(
        "coordinator",
        absl::StrCat("no answer from ", address, via, ": ", response.status().message()), fix));
    results.push_back(unmeasured());
    return results;
  }
  CheckResult reached =
      Ok("coordinator", absl::StrCat(address, " answered a heartbeat over mutual TLS", via, " in ",
                                     DurationText(received - sent), "; it knows this site as `",
                                     response->site_id(), "`"));
  reached.counts["round_trip_ms"] = absl::ToInt64Milliseconds(received - sent);
  results.push_back(std::move(reached));
  // The coordinator read its clock about halfway through the call.
  const absl::Time midpoint = sent + (received - sent) / 2;
  results.push_back(
      EvaluateClockSkew(absl::FromUnixMillis(response->coordinator_time_unix_ms()) - midpoint));
  return results;
}

absl::Status RunCheckCommand(const AgentCheckOptions& options, bool json) {
  return RunAgentChecks(options, absl::Now()).Print(json);
}

PreflightReport RunAgentChecks(const AgentCheckOptions& options, absl::Time now) {
  PreflightReport report;
  std::optional<AgentConfig> config;
  report.Add(CheckAgentConfig(options.config_path, &config));
  if (!config) return report;

  const ServiceAccount service = ServiceAccountFor(config->state_dir);
  report.Add(CheckIdentity(service, config->state_dir, "tessera-agent"));
  report.Add(CheckPrivateKeyFile(config->tls.key_file, service));
  report.Add(CheckSiteCertificate(config->tls, now));

  std::vector<coordinator::JobSpec> jobs;
  for (const std::string& job_file : options.job_files) {
    absl::StatusOr<coordinator::JobSpec> job = coordinator::LoadJobSpec(job_file);
    if (!job.ok()) {
      report.Add(Fail(absl::StrCat("job file ", job_file), std::string(job.status().message()),
                      "use the job file the ML lead sent, unchanged"));
      continue;
    }
    jobs.push_back(*std::move(job));
  }
  // What the service reads and writes, tested as the service (forks; no
  // gRPC channel exists yet).
  std::vector<CheckResult> as_service = RunAsAccount(service, "state and data", [&config, &jobs] {
    std::vector<CheckResult> results = {CheckReadableFiles(
        "tls files",
        {{"CA certificate", config->tls.ca_file}, {"certificate", config->tls.cert_file}})};
    for (CheckResult& result : CheckStateDirectory("state", config->state_dir, kGiB)) {
      results.push_back(std::move(result));
    }
    for (CheckResult& result : CheckDatasets(config->datasets, jobs)) {
      results.push_back(std::move(result));
    }
    return results;
  });
  const std::vector<DatasetInventory> inventory = InventoryFromResults(as_service);
  report.Add(std::move(as_service));
  report.Add(CheckCoordinator(
      *config, inventory,
      ProxyFor(config->coordinator_address, [](const char* name) { return std::getenv(name); })));
  return report;
}

}  // namespace tessera::agent
