// Enrolment of a site: its private key is made here, inside the trust, and
// never leaves it. Only the certificate signing request goes to the
// federation operator, who signs it (`tessera pki sign`); the signed
// certificate comes back and is installed after checking that it belongs to
// this key, was issued by the federation CA, and names a site.
//
// Thread-safety: functions are stateless; run one enrolment at a time.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "transport/pki.h"
#include "transport/tls.h"

namespace tessera::agent {

// Creates the site key at `key_file` (mode 0600) and writes a CSR for
// `site_id` to `csr_path`. ALREADY_EXISTS when the key file exists: an
// enrolled key is never overwritten (move it away to re-enrol).
absl::Status Enroll(const std::string& key_file, const std::string& site_id,
                    const std::string& csr_path, transport::KeyType key_type);

// Checks the certificate at `cert_path` against tls.ca_file and
// tls.key_file and installs it at tls.cert_file. Errors say which check
// failed and what to do.
absl::StatusOr<transport::CertificateInfo> InstallCertificate(const transport::TlsFiles& tls,
                                                              const std::string& cert_path,
                                                              absl::Time now);

// Checks the installed certificate: issued by the CA in tls.ca_file, valid
// at `now`, a site certificate, and belonging to the key. Returns its
// details (id, serial, expiry).
absl::StatusOr<transport::CertificateInfo> CheckInstalledCertificate(
    const transport::TlsFiles& tls, absl::Time now);

// How long before expiry the agent starts warning.
inline constexpr absl::Duration kExpiryWarning = absl::Hours(24 * 30);

}  // namespace tessera::agent
