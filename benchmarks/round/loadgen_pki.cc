#include "benchmarks/round/loadgen_pki.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/status.h"
#include "transport/pki.h"

namespace tessera::loadgen {
namespace {

using transport::Role;

struct Issuer {
  std::string ca_pem;
  std::string ca_key_pem;
  absl::Time not_before;
  absl::Time not_after;
  uint64_t next_serial = 2;  // leaf serials, unique under this CA
};

// A new key for `id`, a CSR for it, the CA's check of the CSR and the
// certificate, written to DIR/NAME.{pem,key}.
absl::StatusOr<transport::TlsFiles> Enrol(Issuer& issuer, const std::string& dir,
                                          const std::string& name, const std::string& id, Role role,
                                          const std::string& ca_file) {
  TESSERA_ASSIGN_OR_RETURN(std::string key_pem,
                           transport::GeneratePrivateKeyPem(transport::KeyType::kEcdsaP256));
  TESSERA_ASSIGN_OR_RETURN(std::string csr_pem, transport::CreateCsrPem(key_pem, {id, role}));
  TESSERA_ASSIGN_OR_RETURN(transport::CsrInfo csr, transport::ParseCsr(csr_pem));
  transport::IssueRequest request;
  request.subject = {id, role};
  request.public_key_pem = csr.public_key_pem;
  request.serial = issuer.next_serial++;
  request.not_before = issuer.not_before;
  request.not_after = issuer.not_after;
  if (role == Role::kCoordinator) {
    request.dns_names = {"localhost"};
    request.ip_addresses = {"127.0.0.1"};
  }
  TESSERA_ASSIGN_OR_RETURN(std::string cert_pem, transport::IssueCertificatePem(
                                                     issuer.ca_pem, issuer.ca_key_pem, request));
  transport::TlsFiles files{ca_file, absl::StrCat(dir, "/", name, ".pem"),
                            absl::StrCat(dir, "/", name, ".key")};
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(files.cert_file, cert_pem, 0644));
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(files.key_file, key_pem, 0600));
  return files;
}

}  // namespace

absl::StatusOr<LoadgenPki> CreateLoadgenPki(const std::string& dir, int sites, absl::Time now) {
  Issuer issuer;
  issuer.not_before = now - absl::Hours(1);
  issuer.not_after = now + absl::Hours(48);
  TESSERA_ASSIGN_OR_RETURN(issuer.ca_key_pem,
                           transport::GeneratePrivateKeyPem(transport::KeyType::kEcdsaP256));
  TESSERA_ASSIGN_OR_RETURN(
      issuer.ca_pem,
      transport::CreateCaCertificatePem(issuer.ca_key_pem, "Tessera load generator federation",
                                        issuer.not_before, absl::Hours(49)));
  LoadgenPki pki;
  pki.ca_pem = issuer.ca_pem;
  const std::string ca_file = dir + "/ca.pem";
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(ca_file, issuer.ca_pem, 0644));
  TESSERA_ASSIGN_OR_RETURN(pki.coordinator, Enrol(issuer, dir, "coordinator", "coordinator",
                                                  Role::kCoordinator, ca_file));
  TESSERA_ASSIGN_OR_RETURN(
      pki.ml_lead, Enrol(issuer, dir, "person-ml-lead", "loadgen-ml-lead", Role::kMlLead, ca_file));
  TESSERA_ASSIGN_OR_RETURN(pki.governance, Enrol(issuer, dir, "person-governance",
                                                 "loadgen-governance", Role::kGovernance, ca_file));
  for (int i = 1; i <= sites; ++i) {
    const std::string id = absl::StrFormat("site-%04d", i);
    auto files = Enrol(issuer, dir, id, id, Role::kSite, ca_file);
    if (!files.ok()) return Annotate(files.status(), absl::StrCat("enrolling ", id));
    pki.site_ids.push_back(id);
    pki.sites.push_back(std::move(*files));
  }
  return pki;
}

}  // namespace tessera::loadgen
