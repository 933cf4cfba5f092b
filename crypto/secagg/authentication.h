// Key authentication for secure aggregation: the defence against a
// coordinator that substitutes keys (the man-in-the-middle plain SecAgg
// leaves open; Bonawitz et al. 2017, ePrint 2017/281, §4 "active adversary"
// assumes a PKI for exactly this).
//
// A client's advertised public keys are accepted only when its certificate
// (DER, sent with the keys) chains to the federation CA at the given time,
// names the claimed participant as its subject commonName, carries the
// required role as organizationalUnitName, and its key verifies the
// signature over AdvertiseSignaturePayload. The verifier it returns then
// checks the same site's consistency-check signature.
//
// Certificates are parsed and checked against the CA once per authenticator
// and remembered by their DER bytes together with the window in which the
// certificate and the CA are both valid; a later check at another time only
// compares that time with the window (outside it, the full check runs again
// and reports why). So a daemon keeps one authenticator for its lifetime and
// parses each peer's certificate once, not once per round. Signatures over
// fresh payloads are always verified.
//
// Thread-safety: thread-safe; the certificate memo is guarded by a mutex.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crypto/bytes.h"
#include "crypto/certificate.h"
#include "crypto/secagg/round_parameters.h"
#include "crypto/signature.h"
#include "crypto/x25519.h"

namespace tessera::crypto::secagg {

struct TrustSettings {
  // The federation CA certificate, PEM.
  std::string ca_certificate_pem;
  // The organizationalUnitName every participant's certificate must carry.
  std::string required_role = "site";
};

class PeerAuthenticator {
 public:
  // INVALID_ARGUMENT when the CA certificate does not parse. Shared
  // ownership: clients and the server of a round (and a daemon's later
  // rounds) may hold the same authenticator and its memo.
  static absl::StatusOr<std::shared_ptr<const PeerAuthenticator>> Create(TrustSettings settings);

  // Checks `certificate_der` (valid at `now`, the caller's clock: this
  // library reads none) and `signature` for `participant`'s advertised keys
  // as described above, and returns a verifier for that site's key.
  // UNAUTHENTICATED naming the site and the reason otherwise (bad or expired
  // certificate, another CA, wrong commonName or role, bad signature).
  absl::StatusOr<std::shared_ptr<const SignatureVerifier>> AuthenticateKeys(
      const RoundContext& context, uint32_t participant,
      const X25519PublicKey& encryption_public_key, const X25519PublicKey& mask_public_key,
      ByteSpan certificate_der, ByteSpan signature, absl::Time now) const;

  // A site's own certificate (PEM), checked the same way, for a client's own
  // configuration: returns its DER encoding and a verifier for its key.
  struct OwnCertificate {
    std::vector<uint8_t> der;
    std::shared_ptr<const SignatureVerifier> verifier;
  };
  absl::StatusOr<OwnCertificate> CheckOwnCertificate(const RoundContext& context,
                                                     uint32_t participant,
                                                     absl::string_view certificate_pem,
                                                     absl::Time now) const;

 private:
  // What a certificate that chains to the CA yields.
  struct Checked {
    std::string common_name;
    std::string role;
    std::shared_ptr<const SignatureVerifier> verifier;
    // Both the certificate and the CA are valid in [valid_from, valid_until).
    absl::Time valid_from;
    absl::Time valid_until;
  };

  PeerAuthenticator(TrustSettings settings, std::unique_ptr<Certificate> ca)
      : settings_(std::move(settings)), ca_(std::move(ca)) {}
  // Parses and chain-checks `der` at `now` (or finds it in the memo).
  absl::StatusOr<Checked> CheckChain(ByteSpan der, const std::string& site_id,
                                     absl::Time now) const;
  // The site-id and role checks for `participant`.
  absl::Status CheckSubject(const Checked& checked, const std::string& site_id) const;

  const TrustSettings settings_;
  const std::unique_ptr<Certificate> ca_;
  mutable absl::Mutex mutex_;
  // Checked certificates by DER encoding, and own certificates by PEM text.
  mutable absl::flat_hash_map<std::string, Checked> memo_ ABSL_GUARDED_BY(mutex_);
  mutable absl::flat_hash_map<std::string, std::vector<uint8_t>> pem_to_der_
      ABSL_GUARDED_BY(mutex_);
};

}  // namespace tessera::crypto::secagg
