// Signed round receipts: what a site says it did in one attempt of a
// training round (job, round, model and spec hashes, dataset, the privacy
// mode and the DP parameters it applied, ε before and after), signed with
// its certificate key so a governance board can check the record without
// taking the coordinator's word for it.
//
// Format (tessera.v1.RoundReceipt / SignedReceipt, proto/tessera.proto): the
// signature covers kReceiptContext ("tessera round receipt v1" and a NUL
// byte) followed by the serialized RoundReceipt bytes exactly as carried in
// SignedReceipt.receipt; the verifier never re-serializes. The context
// prefix keeps a receipt signature from being valid for any other message
// the same key signs (secure-aggregation key adverts, CSRs). Signatures are
// those of crypto/signature.h (ECDSA P-256 with SHA-256, or Ed25519).
//
// Three parties use this file:
//   * the agent signs its receipt after recording the round in its ledger
//     and sends it with its masked input (SignReceipt);
//   * the coordinator, receiving it, only checks that the receipt is filed
//     where it belongs (CheckReceiptFiling) and stores it; it may check the
//     signature against the certificate the receipt carries
//     (VerifyReceiptSignature), but it is not the authority;
//   * the governance report checks each stored receipt independently
//     against the federation CA (ReceiptVerifier) and reports exactly what
//     is wrong with each one that fails.
//
// What a valid receipt proves: the holder of a key certified by the
// federation CA for that site signed these values for that attempt. It does
// not prove the site really applied them: a site can sign a false receipt
// about its own noise. The receipt makes such a claim attributable.
// Statistics rounds release no model update and carry no receipt.
//
// Messages name the site, job, round and attempt, never key material.
//
// Thread-safety: the free functions are stateless; a ReceiptVerifier is
// immutable after creation and Verify may be called concurrently.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crypto/certificate.h"
#include "crypto/signature.h"
#include "tessera.pb.h"

namespace tessera::governance {

// The context prefix of every receipt signature (25 bytes, with the NUL).
inline constexpr absl::string_view kReceiptContext{"tessera round receipt v1\0", 25};

// Where a receipt was filed: the round reference and site it was sent (or
// stored) under. A receipt must name exactly these.
struct ReceiptFiling {
  std::string job_id;
  int64_t round = 0;
  int64_t attempt = 0;
  std::string site_id;
};

// Signs `receipt` with `signer`, the key of `certificate_pem` (which travels
// with the receipt). INVALID_ARGUMENT when the receipt lacks its job or
// site, its round is 0 (the statistics round has no receipt) or its attempt
// is 0, its privacy mode is not "record", "site" or "none", a number is
// negative or not finite, or the certificate does not parse or names
// another site; FAILED_PRECONDITION when the signature does not verify under
// the certificate's key (the key and the certificate do not belong
// together); the signer's errors otherwise.
absl::StatusOr<tessera::v1::SignedReceipt> SignReceipt(const tessera::v1::RoundReceipt& receipt,
                                                       const crypto::Signer& signer,
                                                       absl::string_view certificate_pem);

// The coordinator's cheap checks on a receipt sent with a submission filed
// as `filing` (the submission's round reference and the caller's identity
// from its TLS certificate): the receipt has its bytes, signature and
// certificate; the bytes parse; the receipt names the filing's job, round,
// attempt and site; the certificate it carries parses and names the same
// site. Returns the parsed receipt; INVALID_ARGUMENT saying which check
// failed otherwise. Neither the signature nor the CA is checked here.
absl::StatusOr<tessera::v1::RoundReceipt> CheckReceiptFiling(
    const tessera::v1::SignedReceipt& signed_receipt, const ReceiptFiling& filing);

// OK when the signature verifies over kReceiptContext + the receipt bytes
// under the key of the certificate the receipt carries; UNAUTHENTICATED
// when it does not (forged or altered); INVALID_ARGUMENT when the
// certificate does not parse or its key type is not supported. The
// certificate itself is not checked against any CA: that is
// ReceiptVerifier's job.
absl::Status VerifyReceiptSignature(const tessera::v1::SignedReceipt& signed_receipt,
                                    const ReceiptFiling& filing);

// What is wrong with a receipt, most fundamental first: a receipt with
// several problems reports the first that applies.
enum class ReceiptProblem {
  kNone,                  // valid
  kMalformed,             // missing bytes, signature or certificate; bytes that do not parse;
                          // a privacy mode or number outside its range
  kUntrustedCertificate,  // the certificate does not parse, is not issued by the federation CA,
                          // is not valid at the time checked, or is not a site certificate
  kForged,                // the signature does not verify under the certificate's key
  kWrongSigner,           // the certificate belongs to another site than the receipt names
  kMisfiled,              // the receipt is for another job, round, attempt or site than it
                          // was filed under
};

// "valid", "malformed", "untrusted-certificate", "forged", "wrong-signer",
// "misfiled": stable names for reports (JSON, CSV).
absl::string_view ReceiptProblemName(ReceiptProblem problem);

struct ReceiptVerdict {
  ReceiptProblem problem = ReceiptProblem::kNone;
  // For a problem, one sentence naming the site, job, round and attempt and
  // what is wrong; empty when valid.
  std::string detail;
  // The receipt's contents, set only when it is valid, so that nothing
  // reads the numbers of a receipt that failed.
  std::optional<tessera::v1::RoundReceipt> receipt;

  bool valid() const { return problem == ReceiptProblem::kNone; }
};

// Checks receipts against the federation CA.
class ReceiptVerifier {
 public:
  // INVALID_ARGUMENT when `ca_certificate_pem` does not parse.
  static absl::StatusOr<std::unique_ptr<ReceiptVerifier>> Create(
      absl::string_view ca_certificate_pem);

  ReceiptVerifier(const ReceiptVerifier&) = delete;
  ReceiptVerifier& operator=(const ReceiptVerifier&) = delete;

  // The full check of a receipt filed as `filing`, with the certificate's
  // validity taken at `at` (use the time the coordinator received the
  // receipt, ReceiptRecord.received_at: a certificate that expired since
  // still vouches for what it signed while it was valid). Revocation is not
  // checked here. Never fails: every problem is a verdict.
  ReceiptVerdict Verify(const tessera::v1::SignedReceipt& signed_receipt,
                        const ReceiptFiling& filing, absl::Time at) const;

 private:
  explicit ReceiptVerifier(std::unique_ptr<crypto::Certificate> ca) : ca_(std::move(ca)) {}
  const std::unique_ptr<crypto::Certificate> ca_;
};

}  // namespace tessera::governance
