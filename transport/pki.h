// The federation's public-key infrastructure: keys, certificate signing
// requests, certificates and revocation lists, as PEM text in memory.
//
// A federation has one CA. Every party holds a certificate it issued, with
// the party's id in the subject commonName and its role in the subject
// organizationalUnitName (see transport/peer.h). A site's private key is made
// inside the trust (`tessera-agent enroll`) and only its CSR leaves; the
// operator signs the CSR with the CA (`tessera pki sign`). Revocation is a
// CRL signed by the CA, so a coordinator can verify a revocation list it is
// handed without trusting whoever handed it over.
//
// Everything here works on strings and takes the time as a parameter: no
// files, no clock. The `tessera pki` commands add the files.
//
// Keys are ECDSA P-256 (the default) or Ed25519. Certificates are X.509 v3
// with SHA-256 signatures (none for Ed25519, which hashes internally).
//
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "transport/peer.h"

namespace tessera::transport {

enum class KeyType { kEcdsaP256, kEd25519 };

// Parses "ecdsa-p256" or "ed25519"; INVALID_ARGUMENT otherwise.
absl::StatusOr<KeyType> ParseKeyType(absl::string_view name);

// A new private key as unencrypted PKCS#8 PEM. The caller writes it with
// mode 0600 and never logs it.
absl::StatusOr<std::string> GeneratePrivateKeyPem(KeyType type);

// The public half of `private_key_pem` as SubjectPublicKeyInfo PEM.
// INVALID_ARGUMENT when the key does not parse.
absl::StatusOr<std::string> PublicKeyPemOf(absl::string_view private_key_pem);

struct SubjectName {
  std::string id;  // commonName: site id, person's user name, or host name
  Role role = Role::kSite;
};

// A certificate signing request for `subject`, signed with the private key.
absl::StatusOr<std::string> CreateCsrPem(absl::string_view private_key_pem,
                                         const SubjectName& subject);

// What a CSR asks for, after its self-signature was checked.
struct CsrInfo {
  std::string common_name;
  std::string organizational_unit;  // empty when absent
  std::string public_key_pem;
};

// Parses a CSR and checks its signature (proof that the requester holds the
// key). INVALID_ARGUMENT naming the problem otherwise.
absl::StatusOr<CsrInfo> ParseCsr(absl::string_view csr_pem);

// The CA's self-signed certificate, valid from `now` for `lifetime`, with
// basicConstraints CA:TRUE, pathlen 0.
absl::StatusOr<std::string> CreateCaCertificatePem(absl::string_view ca_key_pem,
                                                   absl::string_view federation_name,
                                                   absl::Time now, absl::Duration lifetime);

struct IssueRequest {
  SubjectName subject;
  std::string public_key_pem;      // the subject's public key (from its CSR)
  uint64_t serial = 0;             // unique per CA, > 0
  absl::Time not_before;
  absl::Time not_after;
  // For the coordinator's server certificate: DNS names and IP addresses
  // it is reached by (subjectAltName). Empty for clients.
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};

// Issues a certificate signed by the CA: serverAuth (coordinator role) or
// clientAuth (every other role) extended key usage. INVALID_ARGUMENT when the
// request is inconsistent (empty id, an id with characters outside
// [A-Za-z0-9._-], not_after <= not_before, serial 0, a server name on a
// client certificate, a malformed IP address), or when the CA key does not
// match the CA certificate.
absl::StatusOr<std::string> IssueCertificatePem(absl::string_view ca_cert_pem,
                                                absl::string_view ca_key_pem,
                                                const IssueRequest& request);

struct CertificateInfo {
  std::string serial_hex;  // upper-case hex, no leading zeros ("1F")
  std::string common_name;
  std::string role_name;   // organizationalUnitName, may be empty
  std::string issuer_common_name;
  absl::Time not_before;
  absl::Time not_after;
  bool is_ca = false;
  std::string sha256_fingerprint_hex;  // of the DER encoding, lower-case hex
  // subjectAltName entries, as the certificate lists them: the names and
  // addresses a server certificate is valid for (IPv4 dotted, IPv6 as
  // inet_ntop writes it). Empty for client certificates.
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};

// Parses one PEM certificate. INVALID_ARGUMENT when it does not parse.
absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view cert_pem);

// Checks that `cert_pem` was issued by the CA and is valid at `now`.
// Returns UNAUTHENTICATED with a message naming the certificate, the problem
// and the fix (wrong CA, expired on a date, not yet valid).
absl::Status VerifyCertificate(absl::string_view ca_cert_pem, absl::string_view cert_pem,
                               absl::Time now);

// OK when `private_key_pem` is the key of `cert_pem`; INVALID_ARGUMENT
// otherwise.
absl::Status CheckKeyMatchesCertificate(absl::string_view private_key_pem,
                                        absl::string_view cert_pem);

struct RevokedEntry {
  std::string serial_hex;
  absl::Time revoked_at;
};

// A CRL signed by the CA listing `revoked`, issued at `now`, next update
// after `validity`.
absl::StatusOr<std::string> CreateCrlPem(absl::string_view ca_cert_pem,
                                         absl::string_view ca_key_pem,
                                         const std::vector<RevokedEntry>& revoked, absl::Time now,
                                         absl::Duration validity);

struct RevocationList {
  absl::Time issued_at;
  std::vector<RevokedEntry> revoked;
};

// Parses a CRL and checks that the CA signed it. UNAUTHENTICATED when the
// signature does not verify; INVALID_ARGUMENT when it does not parse.
absl::StatusOr<RevocationList> ParseCrl(absl::string_view ca_cert_pem, absl::string_view crl_pem);

}  // namespace tessera::transport
