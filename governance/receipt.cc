#include "governance/receipt.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/bytes.h"

namespace tessera::governance {
namespace {

using tessera::v1::RoundReceipt;
using tessera::v1::SignedReceipt;

// The role certificates of sites carry (transport/peer.h).
constexpr absl::string_view kSiteRole = "site";

std::string Describe(const ReceiptFiling& filing) {
  return absl::StrCat("the receipt of site `", filing.site_id, "` for job `", filing.job_id,
                      "` round ", filing.round, " attempt ", filing.attempt);
}

std::string Describe(const RoundReceipt& receipt) {
  return Describe({receipt.job_id(), receipt.round(), receipt.attempt(), receipt.site_id()});
}

// What the signature covers.
std::string SignedMessage(absl::string_view receipt_bytes) {
  return absl::StrCat(kReceiptContext, receipt_bytes);
}

// Empty when the receipt's own fields are in range; else what is wrong.
std::string ContentProblem(const RoundReceipt& receipt) {
  if (receipt.job_id().empty() || receipt.site_id().empty()) return "it names no job or no site";
  if (receipt.round() == 0) {
    return "it is for round 0, the statistics round, which releases no model update";
  }
  if (receipt.attempt() == 0) return "its attempt is 0 (attempts start at 1)";
  const std::string& mode = receipt.privacy_mode();
  if (mode != "record" && mode != "site" && mode != "none") {
    return absl::StrCat("its privacy mode `", mode, "` is not record, site or none");
  }
  const std::pair<double, absl::string_view> numbers[] = {
      {receipt.noise_multiplier(), "noise_multiplier"},
      {receipt.clip_norm(), "clip_norm"},
      {receipt.sampling_rate(), "sampling_rate"},
      {receipt.epsilon_before(), "epsilon_before"},
      {receipt.epsilon_after(), "epsilon_after"},
      {receipt.delta(), "delta"}};
  for (const auto& [value, name] : numbers) {
    if (!std::isfinite(value) || value < 0) {
      return absl::StrCat("its ", name, " is negative or not finite");
    }
  }
  if (receipt.sampling_rate() > 1) return "its sampling_rate is above 1";
  return "";
}

// Empty when the receipt names exactly `filing`; else what it names.
std::string FilingProblem(const RoundReceipt& receipt, const ReceiptFiling& filing) {
  if (receipt.job_id() == filing.job_id && static_cast<int64_t>(receipt.round()) == filing.round &&
      static_cast<int64_t>(receipt.attempt()) == filing.attempt &&
      receipt.site_id() == filing.site_id) {
    return "";
  }
  return absl::StrCat("it was filed under site `", filing.site_id, "` job `", filing.job_id,
                      "` round ", filing.round, " attempt ", filing.attempt, " but is for site `",
                      receipt.site_id(), "` job `", receipt.job_id(), "` round ", receipt.round(),
                      " attempt ", receipt.attempt());
}

// Empty when the receipt carries all three parts.
std::string MissingPart(const SignedReceipt& signed_receipt) {
  if (signed_receipt.receipt().empty()) return "it has no receipt bytes";
  if (signed_receipt.signature().empty()) return "it has no signature";
  if (signed_receipt.certificate_pem().empty()) return "it has no certificate";
  return "";
}

absl::Status VerifyUnder(const crypto::Certificate& certificate,
                         const SignedReceipt& signed_receipt, const ReceiptFiling& filing) {
  absl::StatusOr<std::unique_ptr<crypto::SignatureVerifier>> verifier =
      certificate.PublicKeyVerifier();
  if (!verifier.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(filing),
        ": its certificate's key cannot verify signatures: ", verifier.status().message()));
  }
  const std::string message = SignedMessage(signed_receipt.receipt());
  if (!(*verifier)
           ->Verify(crypto::AsBytes(message), crypto::AsBytes(signed_receipt.signature()))
           .ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat(Describe(filing),
                     ": its signature does not verify under its certificate's key (forged or "
                     "altered after signing)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SignedReceipt> SignReceipt(const RoundReceipt& receipt, const crypto::Signer& signer,
                                          absl::string_view certificate_pem) {
  if (std::string problem = ContentProblem(receipt); !problem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot sign ", Describe(receipt), ": ", problem));
  }
  absl::StatusOr<std::unique_ptr<crypto::Certificate>> certificate =
      crypto::Certificate::FromPem(certificate_pem);
  if (!certificate.ok()) {
    return Annotate(certificate.status(),
                    absl::StrCat("cannot sign ", Describe(receipt), ": the site certificate"));
  }
  absl::StatusOr<std::string> common_name = (*certificate)->SubjectCommonName();
  if (!common_name.ok() || *common_name != receipt.site_id()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot sign ", Describe(receipt), ": the certificate is for ",
                     (*certificate)->DescribeSubject(), ", not site `", receipt.site_id(), "`"));
  }
  SignedReceipt signed_receipt;
  if (!receipt.SerializeToString(signed_receipt.mutable_receipt())) {
    return absl::InternalError(absl::StrCat("cannot serialize ", Describe(receipt)));
  }
  const std::string message = SignedMessage(signed_receipt.receipt());
  TESSERA_ASSIGN_OR_RETURN(std::vector<uint8_t> signature, signer.Sign(crypto::AsBytes(message)));
  signed_receipt.set_signature(std::string(crypto::AsStringView(signature)));
  signed_receipt.set_certificate_pem(std::string(certificate_pem));
  // A key that does not match the certificate would make every receipt
  // look forged; say so here, where it can be fixed.
  const ReceiptFiling filing{receipt.job_id(), receipt.round(), receipt.attempt(),
                             receipt.site_id()};
  absl::Status verified = VerifyUnder(**certificate, signed_receipt, filing);
  if (!verified.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot sign ", Describe(receipt),
                     ": the site key does not belong to the site certificate (", verified.message(),
                     "); check tls.key_file and tls.cert_file"));
  }
  return signed_receipt;
}

absl::StatusOr<RoundReceipt> CheckReceiptFiling(const SignedReceipt& signed_receipt,
                                                const ReceiptFiling& filing) {
  if (std::string missing = MissingPart(signed_receipt); !missing.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(filing), " is refused: ", missing));
  }
  RoundReceipt receipt;
  if (!receipt.ParseFromString(signed_receipt.receipt())) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(filing), " is refused: its bytes are not a RoundReceipt"));
  }
  if (std::string problem = FilingProblem(receipt, filing); !problem.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(filing), " is refused: ", problem,
                     " (a site files only its own receipt, with the round it is for)"));
  }
  if (std::string problem = ContentProblem(receipt); !problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Describe(filing), " is refused: ", problem));
  }
  absl::StatusOr<std::unique_ptr<crypto::Certificate>> certificate =
      crypto::Certificate::FromPem(signed_receipt.certificate_pem());
  if (!certificate.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(filing),
        " is refused: its certificate does not parse: ", certificate.status().message()));
  }
  absl::StatusOr<std::string> common_name = (*certificate)->SubjectCommonName();
  if (!common_name.ok() || *common_name != filing.site_id) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(filing), " is refused: it carries the certificate of ",
                     (*certificate)->DescribeSubject(), ", not of site `", filing.site_id, "`"));
  }
  return receipt;
}

absl::Status VerifyReceiptSignature(const SignedReceipt& signed_receipt,
                                    const ReceiptFiling& filing) {
  absl::StatusOr<std::unique_ptr<crypto::Certificate>> certificate =
      crypto::Certificate::FromPem(signed_receipt.certificate_pem());
  if (!certificate.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(filing), ": its certificate does not parse: ", certificate.status().message()));
  }
  return VerifyUnder(**certificate, signed_receipt, filing);
}

absl::string_view ReceiptProblemName(ReceiptProblem problem) {
  switch (problem) {
    case ReceiptProblem::kNone:
      return "valid";
    case ReceiptProblem::kMalformed:
      return "malformed";
    case ReceiptProblem::kUntrustedCertificate:
      return "untrusted-certificate";
    case ReceiptProblem::kForged:
      return "forged";
    case ReceiptProblem::kWrongSigner:
      return "wrong-signer";
    case ReceiptProblem::kMisfiled:
      return "misfiled";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<ReceiptVerifier>> ReceiptVerifier::Create(
    absl::string_view ca_certificate_pem) {
  absl::StatusOr<std::unique_ptr<crypto::Certificate>> ca =
      crypto::Certificate::FromPem(ca_certificate_pem);
  if (!ca.ok()) return Annotate(ca.status(), "the federation CA certificate");
  return std::unique_ptr<ReceiptVerifier>(new ReceiptVerifier(*std::move(ca)));
}

ReceiptVerdict ReceiptVerifier::Verify(const SignedReceipt& signed_receipt,
                                       const ReceiptFiling& filing, absl::Time at) const {
  ReceiptVerdict verdict;
  auto fail = [&](ReceiptProblem problem, absl::string_view why) {
    verdict.problem = problem;
    verdict.detail = absl::StrCat(Describe(filing), " is ", ReceiptProblemName(problem), ": ", why);
    return verdict;
  };

  if (std::string missing = MissingPart(signed_receipt); !missing.empty()) {
    return fail(ReceiptProblem::kMalformed, missing);
  }
  RoundReceipt receipt;
  if (!receipt.ParseFromString(signed_receipt.receipt())) {
    return fail(ReceiptProblem::kMalformed, "its bytes are not a RoundReceipt");
  }
  if (std::string problem = ContentProblem(receipt); !problem.empty()) {
    return fail(ReceiptProblem::kMalformed, problem);
  }

  absl::StatusOr<std::unique_ptr<crypto::Certificate>> certificate =
      crypto::Certificate::FromPem(signed_receipt.certificate_pem());
  if (!certificate.ok()) {
    return fail(ReceiptProblem::kUntrustedCertificate,
                absl::StrCat("its certificate does not parse: ", certificate.status().message()));
  }
  absl::Status chain = (*certificate)->VerifyIssuedBy(*ca_, at);
  if (!chain.ok()) {
    return fail(ReceiptProblem::kUntrustedCertificate,
                absl::StrCat("its certificate is not one the federation CA vouches for at ",
                             absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", at, absl::UTCTimeZone()),
                             ": ", chain.message()));
  }
  absl::StatusOr<std::string> role = (*certificate)->SubjectOrganizationalUnit();
  if (!role.ok() || *role != kSiteRole) {
    return fail(ReceiptProblem::kUntrustedCertificate,
                absl::StrCat("its certificate, ", (*certificate)->DescribeSubject(),
                             ", is not a site certificate"));
  }

  absl::Status signature = VerifyUnder(**certificate, signed_receipt, filing);
  if (!signature.ok()) {
    return fail(signature.code() == absl::StatusCode::kUnauthenticated
                    ? ReceiptProblem::kForged
                    : ReceiptProblem::kUntrustedCertificate,
                signature.code() == absl::StatusCode::kUnauthenticated
                    ? "its signature does not verify under its certificate's key"
                    : "its certificate's key cannot verify signatures");
  }

  absl::StatusOr<std::string> common_name = (*certificate)->SubjectCommonName();
  if (!common_name.ok() || *common_name != receipt.site_id()) {
    return fail(ReceiptProblem::kWrongSigner,
                absl::StrCat("it names site `", receipt.site_id(), "` but is signed with ",
                             (*certificate)->DescribeSubject()));
  }
  if (std::string problem = FilingProblem(receipt, filing); !problem.empty()) {
    return fail(ReceiptProblem::kMisfiled, problem);
  }
  verdict.receipt = std::move(receipt);
  return verdict;
}

}  // namespace tessera::governance
