// A throwaway federation PKI made in memory with OpenSSL, for tests only: a
// CA and leaf certificates with chosen subjects, key types and validity
// windows, as PEM text (the form the daemons read from disk).
//
// Thread-safety: TestPki is not thread-safe; the returned values are plain
// strings.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crypto/openssl_util.h"

namespace tessera::crypto::testing {

enum class TestKeyType { kEcdsaP256, kEd25519 };

struct TestIdentity {
  std::string certificate_pem;
  std::string private_key_pem;
  std::string public_key_pem;
};

// The window every certificate gets unless a test asks otherwise, and a time
// inside it to verify at.
inline absl::Time TestNotBefore() { return absl::FromUnixSeconds(1735689600); }  // 2025-01-01
inline absl::Time TestNotAfter() { return absl::FromUnixSeconds(1893456000); }   // 2030-01-01
inline absl::Time TestNow() { return absl::FromUnixSeconds(1767225600); }        // 2026-01-01

class TestPki {
 public:
  // A self-signed CA "CN=<ca_name>" with basicConstraints CA:TRUE and a key
  // of `key_type`, valid over the test window.
  static absl::StatusOr<std::unique_ptr<TestPki>> Create(absl::string_view ca_name,
                                                         TestKeyType key_type);

  const TestIdentity& ca() const { return ca_; }

  // A leaf "OU=<ou>, CN=<cn>" (CA:FALSE) signed by this CA with a fresh key.
  absl::StatusOr<TestIdentity> Issue(absl::string_view cn, absl::string_view ou,
                                     TestKeyType key_type, absl::Time not_before = TestNotBefore(),
                                     absl::Time not_after = TestNotAfter()) const;
  // Same, but certifying an existing key given as a PEM private key.
  absl::StatusOr<TestIdentity> IssueForKey(absl::string_view cn, absl::string_view ou,
                                           absl::string_view private_key_pem) const;

 private:
  TestPki() = default;
  absl::StatusOr<TestIdentity> IssueWithKey(absl::string_view cn, absl::string_view ou,
                                            EvpPkeyPtr key, absl::Time not_before,
                                            absl::Time not_after) const;
  TestIdentity ca_;
  EvpPkeyPtr ca_key_;
  X509Ptr ca_cert_;
  mutable long next_serial_ = 2;
};

}  // namespace tessera::crypto::testing
