#include "agent/enrollment.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"

namespace tessera::agent {
namespace {

// Verifies `cert_pem` as this site's certificate.
absl::StatusOr<transport::CertificateInfo> CheckSiteCertificate(const transport::TlsFiles& tls,
                                                                const std::string& cert_pem,
                                                                absl::Time now) {
  TESSERA_ASSIGN_OR_RETURN(std::string ca_pem,
                           ReadFileToString(tls.ca_file, "federation CA certificate"));
  TESSERA_RETURN_IF_ERROR(CheckPrivateKeyFileMode(tls.key_file));
  TESSERA_ASSIGN_OR_RETURN(std::string key_pem,
                           ReadFileToString(tls.key_file, "site private key"));
  TESSERA_RETURN_IF_ERROR(transport::VerifyCertificate(ca_pem, cert_pem, now));
  absl::Status matches = transport::CheckKeyMatchesCertificate(key_pem, cert_pem);
  if (!matches.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the certificate was not issued for this site's key `", tls.key_file,
        "`; sign the CSR that `tessera-agent enroll` wrote for this key"));
  }
  TESSERA_ASSIGN_OR_RETURN(transport::CertificateInfo info, transport::ParseCertificate(cert_pem));
  if (info.role_name != transport::RoleName(transport::Role::kSite)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the certificate of `", info.common_name, "` has role `", info.role_name,
        "`, not `site`; sign it with `tessera pki sign --site ID`"));
  }
  return info;
}

}  // namespace

absl::Status Enroll(const std::string& key_file, const std::string& site_id,
                    const std::string& csr_path, transport::KeyType key_type) {
  if (::access(key_file.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "a site key already exists at `", key_file,
        "`; it is never overwritten. To enrol again, move it away first"));
  }
  TESSERA_ASSIGN_OR_RETURN(std::string key, transport::GeneratePrivateKeyPem(key_type));
  TESSERA_ASSIGN_OR_RETURN(std::string csr,
                           transport::CreateCsrPem(key, {site_id, transport::Role::kSite}));
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(key_file, key, 0600));
  return WriteFileAtomically(csr_path, csr, 0644);
}

absl::StatusOr<transport::CertificateInfo> InstallCertificate(const transport::TlsFiles& tls,
                                                              const std::string& cert_path,
                                                              absl::Time now) {
  TESSERA_ASSIGN_OR_RETURN(std::string cert_pem, ReadFileToString(cert_path, "certificate"));
  TESSERA_ASSIGN_OR_RETURN(transport::CertificateInfo info,
                           CheckSiteCertificate(tls, cert_pem, now));
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(tls.cert_file, cert_pem, 0644));
  return info;
}

absl::StatusOr<transport::CertificateInfo> CheckInstalledCertificate(const transport::TlsFiles& tls,
                                                                     absl::Time now) {
  TESSERA_ASSIGN_OR_RETURN(std::string cert_pem,
                           ReadFileToString(tls.cert_file, "site certificate"));
  auto info = CheckSiteCertificate(tls, cert_pem, now);
  if (!info.ok()) return Annotate(info.status(), absl::StrCat("`", tls.cert_file, "`"));
  return info;
}

}  // namespace tessera::agent
