#include "coordinator/check.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "coordinator/store.h"
#include "transport/peer.h"

namespace tessera::coordinator {
namespace {

constexpr absl::Duration kExpiryWarning = absl::Hours(24 * 30);
constexpr char kDatabaseFile[] = "coordinator.db";

const char kRenew[] =
    "issue a new one: tessera pki issue --ca-dir DIR --role coordinator --name coordinator "
    "--dns NAME --ip ADDRESS --out coordinator.pem --out-key coordinator.key; install both and "
    "restart";

std::string DateText(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d", time, absl::UTCTimeZone());
}

bool IsWildcardHost(absl::string_view host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

// True when `name` is one of the certificate's DNS names (any letter case)
// or, as an address, one of its IP addresses.
bool CertificateCovers(const transport::CertificateInfo& info, const std::string& name) {
  unsigned char address[16];
  for (int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, name.c_str(), address) == 1) {
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(family, address, text, sizeof(text));  // canonical form, as ParseCertificate
      return std::find(info.ip_addresses.begin(), info.ip_addresses.end(), text) !=
             info.ip_addresses.end();
    }
  }
  return std::any_of(info.dns_names.begin(), info.dns_names.end(),
                     [&name](const std::string& dns) { return absl::EqualsIgnoreCase(dns, name); });
}

std::string ErrnoText(int err) { return std::strerror(err); }

// The program holding a listening TCP socket on `port`, from /proc (as `ss
// -ltnp` finds it): "tessera-coordin (pid 123)", or "" when it cannot be
// told (another user's process, seen without root).
std::string ListenerOf(int port) {
  std::set<std::string> inodes;
  for (const auto& [socket, local_port] : ListeningTcpSockets()) {
    if (local_port == port) inodes.insert(socket);
  }
  if (inodes.empty()) return "";
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
  if (proc == nullptr) return "";
  while (const struct dirent* entry = ::readdir(proc.get())) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    const std::string fd_dir = absl::StrCat("/proc/", pid, "/fd");
    std::unique_ptr<DIR, int (*)(DIR*)> fds(::opendir(fd_dir.c_str()), ::closedir);
    if (fds == nullptr) continue;
    while (const struct dirent* fd = ::readdir(fds.get())) {
      char target[64] = {};
      const std::string link = absl::StrCat(fd_dir, "/", fd->d_name);
      const ssize_t length = ::readlink(link.c_str(), target, sizeof(target) - 1);
      if (length <= 0 || inodes.count(std::string(target, static_cast<size_t>(length))) == 0) {
        continue;
      }
      std::ifstream comm(absl::StrCat("/proc/", pid, "/comm"));
      std::string name;
      std::getline(comm, name);
      return absl::StrCat(name, " (pid ", pid, ")");
    }
  }
  return "";
}

}  // namespace

CheckResult CheckCoordinatorConfig(const std::string& path,
                                   std::optional<CoordinatorConfig>* config) {
  absl::StatusOr<CoordinatorConfig> loaded = LoadCoordinatorConfig(path);
  if (!loaded.ok()) {
    std::string fix;
    switch (loaded.status().code()) {
      case absl::StatusCode::kNotFound:
        fix =
            "give the right file with --config (the package installs "
            "/etc/tessera/coordinator.toml)";
        break;
      case absl::StatusCode::kPermissionDenied:
        fix = "run the check as root";
        break;
      default:
        fix = "correct each line listed (an unknown key is usually a typo), then check again";
    }
    return Fail("config", std::string(loaded.status().message()), fix);
  }
  CheckResult result = Ok(
      "config", absl::StrCat("`", path, "`: every key known; listens on ", loaded->listen_address));
  *config = *std::move(loaded);
  return result;
}

std::vector<CheckResult> CheckServerCertificate(const transport::TlsFiles& tls,
                                                const std::string& listen_address,
                                                const std::vector<std::string>& names,
                                                absl::Time now) {
  const char kName[] = "certificate";
  absl::StatusOr<std::string> ca_pem = ReadFileToString(tls.ca_file, "federation CA certificate");
  if (!ca_pem.ok()) {
    return {Fail(kName, std::string(ca_pem.status().message()),
                 "check `tls.ca_file`: the federation's ca.pem, from `tessera pki init`")};
  }
  absl::StatusOr<std::string> cert_pem = ReadFileToString(tls.cert_file, "certificate");
  if (!cert_pem.ok()) {
    return {Fail(kName, std::string(cert_pem.status().message()),
                 absl::StrCat("check `tls.cert_file`; ", kRenew))};
  }
  absl::StatusOr<transport::CertificateInfo> info = transport::ParseCertificate(*cert_pem);
  if (!info.ok()) {
    return {Fail(kName, absl::StrCat("`", tls.cert_file, "`: ", info.status().message()), kRenew)};
  }
  const std::string subject = absl::StrCat("coordinator certificate `", info->common_name,
                                           "` (serial ", info->serial_hex, ")");
  if (info->role_name != transport::RoleName(transport::Role::kCoordinator)) {
    return {Fail(kName,
                 absl::StrCat("`", tls.cert_file, "` has role `", info->role_name,
                              "`, not `coordinator`: agents would refuse it as a server"),
                 kRenew)};
  }
  if (absl::Status verified = transport::VerifyCertificate(*ca_pem, *cert_pem, now);
      !verified.ok()) {
    // An expired certificate is reported by its date, as CheckExpiry does.
    if (info->not_after <= now) {
      return {CheckExpiry(kName, subject, info->not_after, now, kExpiryWarning, kRenew)};
    }
    return {
        Fail(kName, absl::StrCat("`", tls.cert_file, "`: ", verified.message()),
             "use the certificate and ca.pem of the same federation CA; " + std::string(kRenew))};
  }
  // The key is root's (systemd hands it to the service); this runs as root.
  absl::StatusOr<std::string> key_pem = ReadFileToString(tls.key_file, "private key");
  if (!key_pem.ok()) {
    return {Fail(kName, absl::StrCat("cannot compare with the key: ", key_pem.status().message()),
                 absl::IsPermissionDenied(key_pem.status()) ? "run the check as root"
                                                            : "check `tls.key_file`")};
  }
  if (!transport::CheckKeyMatchesCertificate(*key_pem, *cert_pem).ok()) {
    return {
        Fail(kName,
             absl::StrCat("`", tls.cert_file, "` was not issued for the key `", tls.key_file, "`"),
             "install the certificate and key that `tessera pki issue` wrote together")};
  }
  std::vector<CheckResult> results = {
      CheckExpiry(kName, subject, info->not_after, now, kExpiryWarning, kRenew)};

  std::vector<std::string> listed;
  for (const std::string& dns : info->dns_names) listed.push_back("DNS " + dns);
  for (const std::string& ip : info->ip_addresses) listed.push_back("IP " + ip);
  const std::string in_certificate =
      listed.empty() ? "no names at all" : absl::StrJoin(listed, ", ");
  std::vector<std::string> wanted = names;
  std::string host;
  std::string port;
  SplitHostPort(listen_address, &host, &port);
  if (!IsWildcardHost(host)) wanted.insert(wanted.begin(), host);
  std::vector<std::string> missing;
  for (const std::string& name : wanted) {
    if (!CertificateCovers(*info, name)) missing.push_back(absl::StrCat("`", name, "`"));
  }
  if (!missing.empty()) {
    results.push_back(
        Fail("certificate names",
             absl::StrCat("not in the certificate: ", absl::StrJoin(missing, ", "),
                          "; agents dialling them refuse this server. It has: ", in_certificate),
             absl::StrCat("issue a certificate with every name agents dial (--dns NAME, --ip "
                          "ADDRESS): ",
                          kRenew)));
  } else if (listed.empty()) {
    results.push_back(
        Fail("certificate names", "the certificate names no host or address", kRenew));
  } else {
    results.push_back(
        Ok("certificate names",
           absl::StrCat(in_certificate,
                        wanted.empty() ? "; agents must dial one of these (check more with --name)"
                                       : absl::StrCat("; covers ", absl::StrJoin(wanted, ", ")))));
  }
  return results;
}

CheckResult CheckRevocationList(const std::string& ca_file, const std::string& crl_file,
                                const std::string& own_cert_file) {
  const char kName[] = "revocation list";
  if (crl_file.empty()) {
    return Warn(kName,
                "no tls.crl_file: a revocation published with `tessera pki revoke "
                "--coordinator` lasts only until the coordinator restarts",
                "set tls.crl_file in coordinator.toml to a file in the storage directory");
  }
  if (::access(crl_file.c_str(), F_OK) != 0 && errno == ENOENT) {
    return Warn(kName, absl::StrCat("`", crl_file, "` does not exist yet: nothing revoked"),
                absl::StrCat("publish the CA's list: tessera pki revoke --ca-dir DIR ... "
                             "--coordinator HOST:PORT, or copy the CA directory's crl.pem to ",
                             crl_file));
  }
  absl::StatusOr<std::string> crl_pem = ReadFileToString(crl_file, "revocation list");
  absl::StatusOr<std::string> ca_pem = ReadFileToString(ca_file, "federation CA certificate");
  if (!crl_pem.ok() || !ca_pem.ok()) {
    return Fail(kName,
                std::string(crl_pem.ok() ? ca_pem.status().message() : crl_pem.status().message()),
                "make it readable (it holds no secret: chmod 644)");
  }
  absl::StatusOr<transport::RevocationList> list = transport::ParseCrl(*ca_pem, *crl_pem);
  if (!list.ok()) {
    return Fail(kName, absl::StrCat("`", crl_file, "`: ", list.status().message()),
                "copy the crl.pem of this federation's CA directory (written by `tessera pki "
                "revoke`); the coordinator refuses to start with this one");
  }
  std::string own_serial;
  if (absl::StatusOr<std::string> own = ReadFileToString(own_cert_file, "certificate"); own.ok()) {
    if (auto info = transport::ParseCertificate(*own); info.ok()) own_serial = info->serial_hex;
  }
  for (const transport::RevokedEntry& entry : list->revoked) {
    if (!own_serial.empty() && entry.serial_hex == own_serial) {
      return Fail(kName,
                  absl::StrCat("`", crl_file,
                               "` revokes the coordinator's own certificate "
                               "(serial ",
                               own_serial, ", on ", DateText(entry.revoked_at), ")"),
                  kRenew);
    }
  }
  CheckResult result =
      Ok(kName,
         absl::StrCat("`", crl_file, "`: signed by the federation CA, issued ",
                      DateText(list->issued_at), ", ", list->revoked.size(),
                      list->revoked.size() == 1 ? " certificate" : " certificates", " revoked"));
  result.counts["revoked"] = static_cast<int64_t>(list->revoked.size());
  return result;
}

CheckResult CheckDatabase(const std::string& state_dir) {
  const char kName[] = "database";
  const std::string path = absl::StrCat(state_dir, "/", kDatabaseFile);
  struct stat info;
  if (::stat(path.c_str(), &info) != 0 && errno == ENOENT) {
    return Ok(kName, absl::StrCat("`", path,
                                  "` does not exist yet; the coordinator creates it "
                                  "at its first start"));
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::OpenReadOnly(path);
  if (!store.ok()) {
    const std::string message(store.status().message());
    if (absl::StrContains(message, "needs upgrading")) {
      return Warn(kName, message,
                  "the coordinator upgrades it at its next start; take a backup first "
                  "(`tessera-coordinator backup --config FILE --out FILE`) to be able to go back");
    }
    return Fail(kName, message,
                absl::IsDataLoss(store.status())
                    ? "stop the coordinator and restore the last backup with "
                      "`tessera-coordinator restore --config FILE --from BACKUP --force`"
                    : "check `storage.dir`; a file that is not the coordinator's database is "
                      "never modified");
  }
  if (absl::Status intact = (*store)->database().CheckIntegrity(); !intact.ok()) {
    return Fail(kName, std::string(intact.message()),
                "stop the coordinator and restore the last backup with "
                "`tessera-coordinator restore --config FILE --from BACKUP --force`");
  }
  CheckResult result = Ok(kName, absl::StrCat("`", path, "`: current schema, integrity_check ok, ",
                                              static_cast<int64_t>(info.st_size) / 1024, " KiB"));
  result.counts["bytes"] = static_cast<int64_t>(info.st_size);
  return result;
}

CheckResult CheckListenAddress(const std::string& listen_address) {
  const char kName[] = "listen";
  std::string host;
  std::string port;
  int port_number = 0;
  if (!SplitHostPort(listen_address, &host, &port) || !absl::SimpleAtoi(port, &port_number) ||
      port_number < 0 || port_number > 65535) {
    return Fail(kName, absl::StrCat("`", listen_address, "` is not host:port"),
                "set server.listen to host:port, e.g. \"0.0.0.0:7443\"");
  }
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  struct addrinfo* found = nullptr;
  const int rc =
      ::getaddrinfo(host.empty() ? "0.0.0.0" : host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    return Fail(kName, absl::StrCat("cannot resolve `", host, "`: ", ::gai_strerror(rc)),
                "use an address of this machine, or 0.0.0.0 for all of them");
  }
  std::unique_ptr<struct addrinfo, void (*)(struct addrinfo*)> addresses(found, ::freeaddrinfo);
  const std::string me = CurrentAccount().name;
  for (const struct addrinfo* address = found; address != nullptr; address = address->ai_next) {
    const int fd =
        ::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC, address->ai_protocol);
    if (fd < 0) continue;
    // As gRPC does, so a port in TIME_WAIT counts as free; never SO_REUSEPORT,
    // which would share the port with a running server.
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    const int bound = ::bind(fd, address->ai_addr, address->ai_addrlen);
    const int err = errno;
    ::close(fd);
    if (bound == 0) continue;
    if (err == EADDRINUSE) {
      const std::string holder = ListenerOf(port_number);
      if (absl::StartsWith(holder, "tessera-coordin")) {
        return Warn(kName,
                    absl::StrCat("port ", port, " on ", host, " is in use by a running ",
                                 "tessera-coordinator ", holder.substr(holder.find('(')),
                                 " (expected while the service runs)"),
                    "nothing, if that is this coordinator; otherwise stop the other one");
      }
      return Fail(kName,
                  absl::StrCat("port ", port, " on ", host, " is in use",
                               holder.empty() ? "" : absl::StrCat(" by ", holder)),
                  absl::StrCat("stop the program using it (ss -ltnp 'sport = :", port,
                               "'), or choose another port in server.listen"));
    }
    if (err == EACCES) {
      return Fail(kName, absl::StrCat("`", me, "` may not bind port ", port),
                  "use a port of 1024 or above (7443) and forward 443 to it in the firewall: "
                  "the service has no capability to bind low ports");
    }
    if (err == EADDRNOTAVAIL) {
      return Fail(kName, absl::StrCat("`", host, "` is not an address of this machine"),
                  "use one of its addresses, or 0.0.0.0 for all of them");
    }
    return Fail(kName, absl::StrCat("cannot bind ", listen_address, ": ", ErrnoText(err)),
                "check server.listen");
  }
  return Ok(kName, port_number == 0
                       ? absl::StrCat("`", listen_address,
                                      "`: port 0, a free port is chosen at "
                                      "start")
                       : absl::StrCat("`", listen_address, "` is free and `", me, "` may bind it"));
}

absl::Status RunCheckCommand(const CoordinatorCheckOptions& options, bool json) {
  return RunCoordinatorChecks(options, absl::Now()).Print(json);
}

PreflightReport RunCoordinatorChecks(const CoordinatorCheckOptions& options, absl::Time now) {
  PreflightReport report;
  std::optional<CoordinatorConfig> config;
  report.Add(CheckCoordinatorConfig(options.config_path, &config));
  if (!config) return report;

  const ServiceAccount service = ServiceAccountFor(config->state_dir);
  report.Add(CheckIdentity(service, config->state_dir, "tessera-coordinator"));
  report.Add(CheckPrivateKeyFile(config->tls.key_file, service));
  report.Add(CheckServerCertificate(config->tls, config->listen_address, options.names, now));
  report.Add(CheckRevocationList(config->tls.ca_file, config->crl_file, config->tls.cert_file));
  // What the service reads, writes and binds, tested as the service.
  report.Add(RunAsAccount(service, "state and database", [&config] {
    std::vector<std::pair<std::string, std::string>> files = {
        {"CA certificate", config->tls.ca_file}, {"certificate", config->tls.cert_file}};
    // A revocation list not published yet is reported above, not as unreadable.
    if (!config->crl_file.empty() && ::access(config->crl_file.c_str(), F_OK) == 0) {
      files.emplace_back("revocation list", config->crl_file);
    }
    std::vector<CheckResult> results = {CheckReadableFiles("tls files", files)};
    for (CheckResult& result : CheckStateDirectory("state", config->state_dir,
                                                   std::max(kGiB, config->max_object_bytes))) {
      results.push_back(std::move(result));
    }
    results.push_back(CheckDatabase(config->state_dir));
    results.push_back(CheckListenAddress(config->listen_address));
    return results;
  }));
  return report;
}

}  // namespace tessera::coordinator
