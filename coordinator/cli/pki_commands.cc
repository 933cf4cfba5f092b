// `tessera pki ...`: the federation operator's certificate authority.
//
// A site's private key never leaves its trust: the trust runs
// `tessera-agent enroll`, sends the CSR, and the operator signs it here.
// Keys for the coordinator and for people can be made here with `issue`.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/status.h"
#include "coordinator/cli/admin_client.h"
#include "coordinator/cli/ca_directory.h"
#include "coordinator/cli/commands.h"
#include "nlohmann/json.hpp"
#include "transport/pki.h"

namespace tessera::cli {
namespace {

using transport::Role;

struct PkiOptions {
  std::string ca_dir;
  // init
  std::string federation_name = "Tessera federation";
  std::string key_type = "ecdsa-p256";
  int days = 0;  // 0: the default for the role
  // sign / issue
  std::string csr_file;
  std::string site;
  std::string person;
  std::string role;
  std::string name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::string out;
  std::string out_key;
  // revoke
  std::string serial;
  std::string id;
  // list
  bool json = false;
};

absl::Duration LifetimeFor(Role role, int days) {
  if (days > 0) return absl::Hours(24 * days);
  switch (role) {
    case Role::kSite:
    case Role::kCoordinator: return absl::Hours(24 * 365);
    default: return absl::Hours(24 * 90);  // people: renew each quarter
  }
}

std::string DateText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone());
}

absl::Status RunInit(const PkiOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(transport::KeyType type, transport::ParseKeyType(options.key_type));
  TESSERA_ASSIGN_OR_RETURN(
      CaDirectory ca, CaDirectory::Init(options.ca_dir, options.federation_name, type,
                                        absl::Hours(24 * (options.days > 0 ? options.days : 3650)),
                                        absl::Now()));
  std::cout << "created the CA of `" << ca.federation_name() << "` in " << options.ca_dir << "\n"
            << "  give every party: " << ca.Path("ca.pem") << "\n"
            << "  keep secret:      " << ca.Path("ca.key") << " (mode 0600; back it up offline)\n";
  return absl::OkStatus();
}

// Tells the coordinator about a site certificate just signed, when the
// operator gave a coordinator to talk to.
absl::Status RegisterWithCoordinator(const std::string& cert_pem,
                                     const ConnectionOptions& connection) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  tessera::v1::RegisterSiteRequest request;
  request.set_certificate_pem(cert_pem);
  tessera::v1::RegisterSiteResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().RegisterSite(context.get(), request, &response);
  if (!status.ok()) {
    return Annotate(client.CallError(status),
                    "the certificate was issued, but the coordinator did not record the site; "
                    "run the command again with --coordinator once it is reachable");
  }
  std::cout << "the coordinator now lists site `" << response.site_id() << "` as enrolled\n";
  return absl::OkStatus();
}

absl::Status RunSign(const PkiOptions& options, const ConnectionOptions& connection) {
  if (options.site.empty() == options.person.empty()) {
    return absl::InvalidArgumentError("give exactly one of --site ID or --person NAME");
  }
  Role role = Role::kSite;
  std::string id = options.site;
  if (!options.person.empty()) {
    id = options.person;
    if (options.role.empty()) return absl::InvalidArgumentError("--person needs --role");
    TESSERA_ASSIGN_OR_RETURN(role, transport::ParseRole(options.role));
    if (role == Role::kSite || role == Role::kCoordinator) {
      return absl::InvalidArgumentError(
          "--role for a person is one of operator, ml-lead, governance, auditor");
    }
  }
  TESSERA_ASSIGN_OR_RETURN(std::string csr_pem, ReadFileToString(options.csr_file, "CSR"));
  auto csr = transport::ParseCsr(csr_pem);
  if (!csr.ok()) return Annotate(csr.status(), absl::StrCat("--csr ", options.csr_file));
  if (csr->common_name != id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the CSR asks for the name `", csr->common_name, "` but you are signing it as `", id,
        "`; check you have the right request"));
  }
  if (!csr->organizational_unit.empty() && csr->organizational_unit != transport::RoleName(role)) {
    return absl::InvalidArgumentError(absl::StrCat("the CSR asks for the role `",
                                                   csr->organizational_unit, "`, not `",
                                                   transport::RoleName(role), "`"));
  }
  TESSERA_ASSIGN_OR_RETURN(CaDirectory ca, CaDirectory::Open(options.ca_dir));
  TESSERA_ASSIGN_OR_RETURN(std::string cert,
                           ca.Issue({id, role}, csr->public_key_pem,
                                    LifetimeFor(role, options.days), absl::Now()));
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(options.out, cert, 0644));
  TESSERA_ASSIGN_OR_RETURN(transport::CertificateInfo info, transport::ParseCertificate(cert));
  std::cout << "issued " << transport::RoleName(role) << " certificate for `" << id << "` (serial "
            << info.serial_hex << ", expires " << DateText(info.not_after) << ") -> " << options.out
            << "\n";
  if (role == Role::kSite) {
    std::cout << "send it with " << ca.Path("ca.pem")
              << " to the trust, which installs it with `tessera-agent install-cert`\n";
    if (!connection.coordinator.empty()) return RegisterWithCoordinator(cert, connection);
  }
  return absl::OkStatus();
}

absl::Status RunIssue(const PkiOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(Role role, transport::ParseRole(options.role));
  if (role == Role::kSite) {
    return absl::InvalidArgumentError(
        "a site's key must be made inside the trust: run `tessera-agent enroll` there and sign "
        "its request with `tessera pki sign --site ID`");
  }
  if (options.out.empty() || options.out_key.empty()) {
    return absl::InvalidArgumentError("give --out for the certificate and --out-key for the key");
  }
  if (::access(options.out_key.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat("`", options.out_key,
                                                 "` exists; a private key is never overwritten"));
  }
  TESSERA_ASSIGN_OR_RETURN(transport::KeyType type, transport::ParseKeyType(options.key_type));
  TESSERA_ASSIGN_OR_RETURN(CaDirectory ca, CaDirectory::Open(options.ca_dir));
  TESSERA_ASSIGN_OR_RETURN(std::string key, transport::GeneratePrivateKeyPem(type));
  TESSERA_ASSIGN_OR_RETURN(std::string public_key, transport::PublicKeyPemOf(key));
  TESSERA_ASSIGN_OR_RETURN(std::string cert,
                           ca.Issue({options.name, role}, public_key,
                                    LifetimeFor(role, options.days), absl::Now(),
                                    options.dns_names, options.ip_addresses));
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(options.out_key, key, 0600));
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(options.out, cert, 0644));
  TESSERA_ASSIGN_OR_RETURN(transport::CertificateInfo info, transport::ParseCertificate(cert));
  std::cout << "issued " << options.role << " certificate for `" << options.name << "` (serial "
            << info.serial_hex << ", expires " << DateText(info.not_after) << ") -> "
            << options.out << ", key -> " << options.out_key << " (mode 0600)\n";
  return absl::OkStatus();
}

absl::Status RunRevoke(const PkiOptions& options, const ConnectionOptions& connection) {
  if (options.serial.empty() == options.id.empty()) {
    return absl::InvalidArgumentError("give exactly one of --serial HEX or --id ID");
  }
  TESSERA_ASSIGN_OR_RETURN(CaDirectory ca, CaDirectory::Open(options.ca_dir));
  const bool by_id = !options.id.empty();
  TESSERA_ASSIGN_OR_RETURN(auto revoked,
                           ca.Revoke(by_id ? options.id : options.serial, by_id, absl::Now()));
  for (const IssuedCertificate& cert : revoked) {
    std::cout << "revoked " << cert.role << " certificate of `" << cert.id << "` (serial "
              << cert.serial_hex << ")\n";
  }
  if (connection.coordinator.empty()) {
    std::cout << "wrote " << ca.Path("crl.pem")
              << "; the coordinator applies it when its `tls.crl_file` changes, or publish it "
                 "now with --coordinator\n";
    return absl::OkStatus();
  }
  TESSERA_ASSIGN_OR_RETURN(std::string crl, ReadFileToString(ca.Path("crl.pem"), "CRL"));
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  tessera::v1::PublishRevocationListRequest request;
  request.set_crl_pem(crl);
  tessera::v1::PublishRevocationListResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().PublishRevocationList(context.get(), request, &response);
  if (!status.ok()) {
    return Annotate(client.CallError(status),
                    absl::StrCat("the revocation is recorded in ", ca.Path("crl.pem"),
                                 " but the coordinator did not take it"));
  }
  std::cout << "the coordinator now refuses " << response.revoked_count()
            << " revoked certificate(s)\n";
  return absl::OkStatus();
}

absl::Status RunList(const PkiOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(CaDirectory ca, CaDirectory::Open(options.ca_dir));
  const absl::Time now = absl::Now();
  if (options.json) {
    nlohmann::json certificates = nlohmann::json::array();
    for (const IssuedCertificate& cert : ca.issued()) {
      auto time_text = [](absl::Time t) {
        return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
      };
      nlohmann::json entry = {{"id", cert.id},
                              {"role", cert.role},
                              {"serial", cert.serial_hex},
                              {"not_after", time_text(cert.not_after)},
                              {"expired", cert.not_after <= now},
                              {"revoked", cert.revoked_at.has_value()},
                              {"sha256", cert.sha256}};
      if (cert.revoked_at.has_value()) entry["revoked_at"] = time_text(*cert.revoked_at);
      certificates.push_back(std::move(entry));
    }
    std::cout << nlohmann::json{{"federation", ca.federation_name()},
                                {"certificates", certificates}}
                     .dump(2)
              << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("%-24s %-12s %-18s %-12s %s\n", "ID", "ROLE", "SERIAL", "EXPIRES",
                               "STATE");
  for (const IssuedCertificate& cert : ca.issued()) {
    std::string state = "valid";
    if (cert.revoked_at.has_value()) {
      state = "revoked " + DateText(*cert.revoked_at);
    } else if (cert.not_after <= now) {
      state = "expired";
    } else if (cert.not_after - now < absl::Hours(24 * 30)) {
      state = absl::StrCat("expires in ", absl::ToInt64Hours(cert.not_after - now) / 24, " days");
    }
    std::cout << absl::StrFormat("%-24s %-12s %-18s %-12s %s\n", cert.id, cert.role,
                                 cert.serial_hex, DateText(cert.not_after), state);
  }
  return absl::OkStatus();
}

}  // namespace

void AddPkiCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection) {
  static PkiOptions options;
  CLI::App* pki = AddCommandGroup(app, "pki", "The federation's certificate authority (operators).");
  auto add_ca_dir = [](CLI::App* command) {
    command->add_option("--ca-dir", options.ca_dir, "The CA directory")
        ->envname("TESSERA_CA_DIR")
        ->required();
  };

  CLI::App* init = pki->add_subcommand("init", "Create a new federation CA.");
  add_ca_dir(init);
  init->add_option("--name", options.federation_name, "Federation name (in the CA certificate)")
      ->capture_default_str();
  init->add_option("--key-type", options.key_type, "ecdsa-p256 or ed25519")->capture_default_str();
  init->add_option("--days", options.days, "CA lifetime in days (default 3650)")
      ->check(CLI::Range(1, 36500));
  init->callback(result.Bind([] { return RunInit(options); }));

  CLI::App* sign = pki->add_subcommand(
      "sign", "Sign a certificate signing request made by `tessera-agent enroll` (or a person).");
  add_ca_dir(sign);
  sign->add_option("--csr", options.csr_file, "The CSR file (PEM)")->required();
  sign->add_option("--site", options.site, "Sign it as the certificate of site ID");
  sign->add_option("--person", options.person, "Sign it as the certificate of person NAME");
  sign->add_option("--role", options.role, "With --person: operator, ml-lead, governance, auditor");
  sign->add_option("--days", options.days, "Lifetime in days (default 365 sites, 90 people)")
      ->check(CLI::Range(1, 3650));
  sign->add_option("--out", options.out, "Where to write the certificate")->required();
  AddConnectionOptions(sign, connection);
  sign->callback(result.Bind([&connection] { return RunSign(options, connection); }));

  CLI::App* issue = pki->add_subcommand(
      "issue", "Make a key and certificate for the coordinator or a person (not for sites).");
  add_ca_dir(issue);
  issue->add_option("--role", options.role,
                    "coordinator, operator, ml-lead, governance or auditor")
      ->required();
  issue->add_option("--name", options.name, "Id in the certificate (user or host name)")->required();
  issue->add_option("--dns", options.dns_names, "Coordinator only: a DNS name agents dial");
  issue->add_option("--ip", options.ip_addresses, "Coordinator only: an IP address agents dial");
  issue->add_option("--days", options.days, "Lifetime in days (default 365 coordinator, 90 people)")
      ->check(CLI::Range(1, 3650));
  issue->add_option("--key-type", options.key_type, "ecdsa-p256 or ed25519")->capture_default_str();
  issue->add_option("--out", options.out, "Where to write the certificate")->required();
  issue->add_option("--out-key", options.out_key, "Where to write the private key (mode 0600)")
      ->required();
  issue->callback(result.Bind([] { return RunIssue(options); }));

  CLI::App* revoke = pki->add_subcommand(
      "revoke", "Revoke a certificate and publish the new revocation list to the coordinator.");
  add_ca_dir(revoke);
  revoke->add_option("--serial", options.serial, "Serial number (hex, as in `tessera pki list`)");
  revoke->add_option("--id", options.id, "Revoke every certificate of this site or person");
  AddConnectionOptions(revoke, connection);
  revoke->callback(result.Bind([&connection] { return RunRevoke(options, connection); }));

  CLI::App* list = pki->add_subcommand("list", "List every certificate this CA issued.");
  add_ca_dir(list);
  list->add_flag("--json", options.json, "Print JSON");
  list->callback(result.Bind([] { return RunList(options); }));
}

}  // namespace tessera::cli
