// The federation CA's directory, kept by the operator (`tessera pki`):
//
//   ca.pem        the CA certificate, given to every party
//   ca.key        the CA private key (mode 0600; never printed, never sent)
//   issued.json   every certificate issued: serial, id, role, validity, revocation
//   crl.pem       the current revocation list, signed by the CA
//
// Each change rewrites the files atomically, so a crash leaves the old or
// the new state, never half of one.
//
// Thread-safety: not thread-safe, and not safe for two processes at once
// (the operator runs one `tessera pki` command at a time).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "transport/pki.h"

namespace tessera::cli {

// The CA's certificate and every certificate it issues are valid from this
// long before the moment they are made (their expiry is unchanged): a
// server whose clock runs behind the operator's, by up to this much, can
// use a certificate at once instead of refusing it, and its peers' and the
// coordinator's, as "not yet valid". `tessera-agent check` fails a clock
// that is more than 5 minutes off, but a trust's server must not be cut off
// from a federation set up minutes ago while its clock is being fixed.
inline constexpr absl::Duration kValidBeforeIssue = absl::Hours(1);

struct IssuedCertificate {
  std::string serial_hex;
  std::string id;
  std::string role;
  absl::Time not_before;
  absl::Time not_after;
  std::string sha256;
  std::optional<absl::Time> revoked_at;
};

class CaDirectory {
 public:
  // Creates a new CA in `dir` (created if needed, mode 0700), valid from
  // `now` - kValidBeforeIssue until `now` + `lifetime`. ALREADY_EXISTS
  // when `dir` already holds a CA key: a CA is never overwritten.
  static absl::StatusOr<CaDirectory> Init(const std::string& dir,
                                          const std::string& federation_name,
                                          transport::KeyType key_type, absl::Duration lifetime,
                                          absl::Time now);

  // Opens an existing CA. NOT_FOUND naming the missing file and `tessera pki
  // init`; FAILED_PRECONDITION when the key file is readable by others or
  // the index is corrupt.
  static absl::StatusOr<CaDirectory> Open(const std::string& dir);

  // Issues a certificate for `subject` with `public_key_pem`, records it and
  // returns its PEM. The serial is random and unique in this CA; it is valid
  // from `now` - kValidBeforeIssue until `now` + `lifetime`.
  absl::StatusOr<std::string> Issue(const transport::SubjectName& subject,
                                    const std::string& public_key_pem, absl::Duration lifetime,
                                    absl::Time now, const std::vector<std::string>& dns_names = {},
                                    const std::vector<std::string>& ip_addresses = {});

  // Marks every unrevoked certificate whose serial is `serial_hex` (or, when
  // `by_id`, whose id is `serial_hex`) revoked at `now`, and rewrites the CRL.
  // Returns the certificates it revoked; NOT_FOUND when none matched.
  absl::StatusOr<std::vector<IssuedCertificate>> Revoke(const std::string& serial_or_id,
                                                        bool by_id, absl::Time now);

  // Writes a fresh CRL (valid for 30 days) and returns its PEM.
  absl::StatusOr<std::string> WriteCrl(absl::Time now);

  CaDirectory(CaDirectory&&) = default;
  CaDirectory& operator=(CaDirectory&&) = default;
  CaDirectory(const CaDirectory&) = delete;
  CaDirectory& operator=(const CaDirectory&) = delete;
  ~CaDirectory();  // wipes the CA key from memory

  const std::vector<IssuedCertificate>& issued() const { return issued_; }
  const std::string& ca_cert_pem() const { return ca_cert_pem_; }
  const std::string& federation_name() const { return federation_name_; }
  std::string Path(const std::string& file) const { return dir_ + "/" + file; }

 private:
  CaDirectory() = default;
  absl::Status SaveIndex() const;

  std::string dir_;
  std::string federation_name_;
  std::string ca_cert_pem_;
  std::string ca_key_pem_;
  std::vector<IssuedCertificate> issued_;
};

}  // namespace tessera::cli
