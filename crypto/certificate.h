// X.509 certificates of the federation PKI (RFC 5280): parse (PEM or DER),
// verify a leaf against the federation CA at a given time, read the subject's
// commonName (the site id or user name) and organizationalUnitName (the
// role), and get a verifier for the certificate's key.
//
// The chain is exactly CA -> leaf, as the federation PKI issues it
// (`tessera pki`, transport/pki.h). Verification takes the time to check
// validity at as a parameter, so this stays free of clocks.
//
// Thread-safety: a Certificate is immutable after creation; its const
// methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crypto/bytes.h"
#include "crypto/openssl_util.h"
#include "crypto/signature.h"

namespace tessera::crypto {

class Certificate {
 public:
  // The first certificate in PEM text. INVALID_ARGUMENT when there is none.
  static absl::StatusOr<std::unique_ptr<Certificate>> FromPem(absl::string_view pem);
  // A DER-encoded certificate, which must span all of `der`.
  // INVALID_ARGUMENT when it does not parse or has trailing bytes.
  static absl::StatusOr<std::unique_ptr<Certificate>> FromDer(ByteSpan der);

  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;

  // The DER encoding.
  std::vector<uint8_t> Der() const;

  // OK when this certificate is a leaf (not a CA) whose signature verifies
  // under `ca`, `ca` is a self-signed CA certificate, and both are valid at
  // `at`. UNAUTHENTICATED otherwise, naming the subject and OpenSSL's reason
  // (expired, not yet valid, signature failure, not issued by this CA, ...).
  absl::Status VerifyIssuedBy(const Certificate& ca, absl::Time at) const;

  // The subject's single commonName / organizationalUnitName as UTF-8.
  // NOT_FOUND when absent; INVALID_ARGUMENT when it appears more than once or
  // holds a NUL character.
  absl::StatusOr<std::string> SubjectCommonName() const;
  absl::StatusOr<std::string> SubjectOrganizationalUnit() const;
  // A one-line description for messages: "CN=rfh, OU=site".
  std::string DescribeSubject() const;

  absl::Time not_before() const { return not_before_; }
  absl::Time not_after() const { return not_after_; }

  // A verifier for signatures made with the certificate's key.
  // INVALID_ARGUMENT when the key is neither P-256 nor Ed25519.
  absl::StatusOr<std::unique_ptr<SignatureVerifier>> PublicKeyVerifier() const;

 private:
  static absl::StatusOr<std::unique_ptr<Certificate>> FromX509(X509Ptr x509);
  Certificate(X509Ptr x509, absl::Time not_before, absl::Time not_after)
      : x509_(std::move(x509)), not_before_(not_before), not_after_(not_after) {}
  absl::StatusOr<std::string> SubjectField(int nid, absl::string_view name) const;

  X509Ptr x509_;
  absl::Time not_before_;
  absl::Time not_after_;
};

}  // namespace tessera::crypto
