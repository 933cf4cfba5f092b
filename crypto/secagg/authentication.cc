#include "crypto/secagg/authentication.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/secagg/key_schedule.h"

namespace tessera::crypto::secagg {
namespace {

// Far more certificates than any federation has; beyond it nothing new is
// remembered, so a flood of bogus certificates cannot grow the memo.
constexpr size_t kMaxMemoEntries = 4 * kMaxParticipants;

}  // namespace

absl::StatusOr<std::shared_ptr<const PeerAuthenticator>> PeerAuthenticator::Create(
    TrustSettings settings) {
  absl::StatusOr<std::unique_ptr<Certificate>> ca =
      Certificate::FromPem(settings.ca_certificate_pem);
  if (!ca.ok()) return Annotate(ca.status(), "the federation CA certificate");
  return std::shared_ptr<const PeerAuthenticator>(
      new PeerAuthenticator(std::move(settings), *std::move(ca)));
}

absl::StatusOr<PeerAuthenticator::Checked> PeerAuthenticator::CheckChain(ByteSpan der,
                                                                         const std::string& site_id,
                                                                         absl::Time now) const {
  const std::string key(AsStringView(der));
  {
    absl::MutexLock lock(&mutex_);
    auto it = memo_.find(key);
    // Outside the remembered window the full check below says what is wrong.
    if (it != memo_.end() && now >= it->second.valid_from && now < it->second.valid_until) {
      return it->second;
    }
  }
  absl::StatusOr<std::unique_ptr<Certificate>> certificate = Certificate::FromDer(der);
  if (!certificate.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("the certificate sent for site `", site_id,
                     "` is unreadable: ", certificate.status().message()));
  }
  absl::Status chain = (*certificate)->VerifyIssuedBy(*ca_, now);
  if (!chain.ok()) return Annotate(chain, absl::StrCat("site `", site_id, "`"));
  absl::StatusOr<std::unique_ptr<SignatureVerifier>> verifier = (*certificate)->PublicKeyVerifier();
  if (!verifier.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("site `", site_id, "`: ", verifier.status().message()));
  }
  Checked checked;
  absl::StatusOr<std::string> cn = (*certificate)->SubjectCommonName();
  absl::StatusOr<std::string> role = (*certificate)->SubjectOrganizationalUnit();
  checked.common_name = cn.ok() ? *cn : "";
  checked.role = role.ok() ? *role : "";
  checked.verifier = *std::move(verifier);
  checked.valid_from = std::max((*certificate)->not_before(), ca_->not_before());
  checked.valid_until = std::min((*certificate)->not_after(), ca_->not_after());
  absl::MutexLock lock(&mutex_);
  if (memo_.size() < kMaxMemoEntries) memo_.insert_or_assign(key, checked);
  return checked;
}

absl::Status PeerAuthenticator::CheckSubject(const Checked& checked,
                                             const std::string& site_id) const {
  if (checked.common_name != site_id) {
    return absl::UnauthenticatedError(
        absl::StrCat("the certificate presented for site `", site_id, "` belongs to `",
                     checked.common_name, "`: the keys were substituted or misattributed"));
  }
  if (checked.role != settings_.required_role) {
    return absl::UnauthenticatedError(absl::StrCat("the certificate of `", site_id, "` has role `",
                                                   checked.role, "`, secure aggregation needs `",
                                                   settings_.required_role, "`"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const SignatureVerifier>> PeerAuthenticator::AuthenticateKeys(
    const RoundContext& context, uint32_t participant, const X25519PublicKey& encryption_public_key,
    const X25519PublicKey& mask_public_key, ByteSpan certificate_der, ByteSpan signature,
    absl::Time now) const {
  const std::string& site_id = context.SiteId(participant);
  TESSERA_ASSIGN_OR_RETURN(Checked checked, CheckChain(certificate_der, site_id, now));
  TESSERA_RETURN_IF_ERROR(CheckSubject(checked, site_id));
  const std::vector<uint8_t> payload =
      AdvertiseSignaturePayload(context, participant, encryption_public_key, mask_public_key);
  if (!checked.verifier->Verify(payload, signature).ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("the secure-aggregation keys of site `", site_id,
                     "` are not signed by its certificate key: they were substituted or altered"));
  }
  return checked.verifier;
}

absl::StatusOr<PeerAuthenticator::OwnCertificate> PeerAuthenticator::CheckOwnCertificate(
    const RoundContext& context, uint32_t participant, absl::string_view certificate_pem,
    absl::Time now) const {
  OwnCertificate own;
  {
    absl::MutexLock lock(&mutex_);
    auto it = pem_to_der_.find(certificate_pem);
    if (it != pem_to_der_.end()) own.der = it->second;
  }
  if (own.der.empty()) {
    absl::StatusOr<std::unique_ptr<Certificate>> certificate =
        Certificate::FromPem(certificate_pem);
    if (!certificate.ok()) return Annotate(certificate.status(), "this site's certificate");
    own.der = (*certificate)->Der();
    absl::MutexLock lock(&mutex_);
    if (pem_to_der_.size() < kMaxMemoEntries) pem_to_der_.emplace(certificate_pem, own.der);
  }
  const std::string& site_id = context.SiteId(participant);
  TESSERA_ASSIGN_OR_RETURN(Checked checked, CheckChain(own.der, site_id, now));
  TESSERA_RETURN_IF_ERROR(CheckSubject(checked, site_id));
  own.verifier = std::move(checked.verifier);
  return own;
}

}  // namespace tessera::crypto::secagg
