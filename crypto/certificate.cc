#include "crypto/certificate.h"

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::crypto {
namespace {

absl::StatusOr<absl::Time> ToTime(const ASN1_TIME* time, absl::string_view what) {
  struct tm parts;
  std::memset(&parts, 0, sizeof(parts));
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("certificate has an unreadable ", what, " time"));
  }
  return absl::FromTimeT(timegm(&parts));
}

std::string FormatDate(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", time, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Certificate>> Certificate::FromX509(X509Ptr x509) {
  TESSERA_ASSIGN_OR_RETURN(absl::Time not_before, ToTime(X509_get0_notBefore(x509.get()), "start"));
  TESSERA_ASSIGN_OR_RETURN(absl::Time not_after, ToTime(X509_get0_notAfter(x509.get()), "end"));
  return std::unique_ptr<Certificate>(new Certificate(std::move(x509), not_before, not_after));
}

absl::StatusOr<std::unique_ptr<Certificate>> Certificate::FromPem(absl::string_view pem) {
  if (pem.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("certificate PEM text is too long");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslError(absl::StatusCode::kInternal, "BIO_new_mem_buf failed");
  X509Ptr x509(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (x509 == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "no PEM certificate in the text");
  }
  return FromX509(std::move(x509));
}

absl::StatusOr<std::unique_ptr<Certificate>> Certificate::FromDer(ByteSpan der) {
  if (der.empty() || der.size() > static_cast<size_t>(LONG_MAX)) {
    return absl::InvalidArgumentError("a DER certificate cannot be empty");
  }
  const unsigned char* cursor = der.data();
  X509Ptr x509(d2i_X509(nullptr, &cursor, static_cast<long>(der.size())));
  if (x509 == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "not a DER-encoded certificate");
  }
  if (cursor != der.data() + der.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("DER certificate has ", der.data() + der.size() - cursor, " trailing bytes"));
  }
  return FromX509(std::move(x509));
}

std::vector<uint8_t> Certificate::Der() const {
  unsigned char* buffer = nullptr;
  const int length = i2d_X509(x509_.get(), &buffer);
  if (length <= 0) DieOnOpenSslFailure("i2d_X509");
  std::vector<uint8_t> der(buffer, buffer + length);
  OPENSSL_free(buffer);
  return der;
}

absl::Status Certificate::VerifyIssuedBy(const Certificate& ca, absl::Time at) const {
  const std::string subject = DescribeSubject();
  if (X509_check_ca(x509_.get()) != 0) {
    return absl::UnauthenticatedError(absl::StrCat(
        "certificate `", subject, "` is a CA certificate, not a site's or a person's"));
  }
  if (X509_check_ca(ca.x509_.get()) == 0) {
    return absl::UnauthenticatedError(absl::StrCat("certificate `", ca.DescribeSubject(),
                                                   "` given as the CA is not a CA certificate"));
  }
  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr || X509_STORE_add_cert(store.get(), ca.x509_.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), x509_.get(), nullptr) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot set up certificate verification");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(at));
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    ClearOpenSslErrors();
    return absl::UnauthenticatedError(
        absl::StrCat("certificate `", subject, "` (valid ", FormatDate(not_before_), " to ",
                     FormatDate(not_after_), ") does not verify against CA `", ca.DescribeSubject(),
                     "` at ", FormatDate(at), ": ", X509_verify_cert_error_string(error)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Certificate::SubjectField(int nid, absl::string_view name) const {
  const X509_NAME* subject = X509_get_subject_name(x509_.get());
  const int index = X509_NAME_get_index_by_NID(subject, nid, -1);
  if (index < 0) {
    return absl::NotFoundError(absl::StrCat("certificate subject has no ", name));
  }
  if (X509_NAME_get_index_by_NID(subject, nid, index) >= 0) {
    return absl::InvalidArgumentError(absl::StrCat("certificate subject has more than one ", name));
  }
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("certificate ", name, " is not valid text"));
  }
  std::string text(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  if (text.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("certificate ", name, " contains a NUL"));
  }
  return text;
}

absl::StatusOr<std::string> Certificate::SubjectCommonName() const {
  return SubjectField(NID_commonName, "commonName (CN)");
}

absl::StatusOr<std::string> Certificate::SubjectOrganizationalUnit() const {
  return SubjectField(NID_organizationalUnitName, "organizationalUnitName (OU)");
}

std::string Certificate::DescribeSubject() const {
  absl::StatusOr<std::string> cn = SubjectCommonName();
  absl::StatusOr<std::string> ou = SubjectOrganizationalUnit();
  return absl::StrCat("CN=", cn.ok() ? *cn : "?", ", OU=", ou.ok() ? *ou : "?");
}

absl::StatusOr<std::unique_ptr<SignatureVerifier>> Certificate::PublicKeyVerifier() const {
  EvpPkeyPtr key(X509_get_pubkey(x509_.get()));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "certificate has no usable public key");
  }
  return SignatureVerifier::FromKey(std::move(key));
}

}  // namespace tessera::crypto
