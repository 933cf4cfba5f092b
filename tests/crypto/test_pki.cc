#include "tests/crypto/test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::crypto::testing {
namespace {

absl::StatusOr<EvpPkeyPtr> NewKey(TestKeyType type) {
  EVP_PKEY* key = type == TestKeyType::kEcdsaP256
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) return OpenSslError(absl::StatusCode::kInternal, "test key generation");
  return EvpPkeyPtr(key);
}

std::string DrainBio(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string PrivateKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return DrainBio(bio.get());
}

std::string PublicKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  return DrainBio(bio.get());
}

std::string CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return DrainBio(bio.get());
}

// Ed25519 signs without a separate digest.
const EVP_MD* SigningDigest(EVP_PKEY* key) {
  return EVP_PKEY_is_a(key, "ED25519") ? nullptr : EVP_sha256();
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (extension == nullptr || X509_add_ext(cert, extension, -1) != 1) {
    X509_EXTENSION_free(extension);
    return OpenSslError(absl::StatusCode::kInternal, "test certificate extension");
  }
  X509_EXTENSION_free(extension);
  return absl::OkStatus();
}

absl::StatusOr<X509Ptr> NewCertificate(long serial, absl::string_view cn, absl::string_view ou,
                                       EVP_PKEY* subject_key, absl::Time not_before,
                                       absl::Time not_after) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(not_after));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Tessera test federation"), -1,
                             -1, 0);
  if (!ou.empty()) {
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(std::string(ou).c_str()), -1,
                               -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(std::string(cn).c_str()), -1,
                             -1, 0);
  if (X509_set_pubkey(cert.get(), subject_key) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "test certificate key");
  }
  return cert;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestPki>> TestPki::Create(absl::string_view ca_name,
                                                         TestKeyType key_type) {
  std::unique_ptr<TestPki> pki(new TestPki());
  TESSERA_ASSIGN_OR_RETURN(pki->ca_key_, NewKey(key_type));
  TESSERA_ASSIGN_OR_RETURN(pki->ca_cert_, NewCertificate(1, ca_name, "", pki->ca_key_.get(),
                                                         TestNotBefore(), TestNotAfter()));
  X509* cert = pki->ca_cert_.get();
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  TESSERA_RETURN_IF_ERROR(AddExtension(cert, cert, NID_basic_constraints, "critical,CA:TRUE"));
  TESSERA_RETURN_IF_ERROR(AddExtension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign"));
  TESSERA_RETURN_IF_ERROR(AddExtension(cert, cert, NID_subject_key_identifier, "hash"));
  if (X509_sign(cert, pki->ca_key_.get(), SigningDigest(pki->ca_key_.get())) <= 0) {
    return OpenSslError(absl::StatusCode::kInternal, "test CA self-signature");
  }
  pki->ca_.certificate_pem = CertificatePem(cert);
  pki->ca_.private_key_pem = PrivateKeyPem(pki->ca_key_.get());
  pki->ca_.public_key_pem = PublicKeyPem(pki->ca_key_.get());
  return pki;
}

absl::StatusOr<TestIdentity> TestPki::Issue(absl::string_view cn, absl::string_view ou,
                                            TestKeyType key_type, absl::Time not_before,
                                            absl::Time not_after) const {
  TESSERA_ASSIGN_OR_RETURN(EvpPkeyPtr key, NewKey(key_type));
  return IssueWithKey(cn, ou, std::move(key), not_before, not_after);
}

absl::StatusOr<TestIdentity> TestPki::IssueForKey(absl::string_view cn, absl::string_view ou,
                                                  absl::string_view private_key_pem) const {
  BioPtr bio(BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) return OpenSslError(absl::StatusCode::kInvalidArgument, "test key PEM");
  return IssueWithKey(cn, ou, std::move(key), TestNotBefore(), TestNotAfter());
}

absl::StatusOr<TestIdentity> TestPki::IssueWithKey(absl::string_view cn, absl::string_view ou,
                                                   EvpPkeyPtr key, absl::Time not_before,
                                                   absl::Time not_after) const {
  TESSERA_ASSIGN_OR_RETURN(
      X509Ptr cert, NewCertificate(next_serial_++, cn, ou, key.get(), not_before, not_after));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert_.get()));
  TESSERA_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert_.get(), NID_basic_constraints, "critical,CA:FALSE"));
  TESSERA_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert_.get(), NID_key_usage, "critical,digitalSignature"));
  TESSERA_RETURN_IF_ERROR(
      AddExtension(cert.get(), ca_cert_.get(), NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(cert.get(), ca_key_.get(), SigningDigest(ca_key_.get())) <= 0) {
    return OpenSslError(absl::StatusCode::kInternal, "test leaf signature");
  }
  TestIdentity identity;
  identity.certificate_pem = CertificatePem(cert.get());
  identity.private_key_pem = PrivateKeyPem(key.get());
  identity.public_key_pem = PublicKeyPem(key.get());
  return identity;
}

}  // namespace tessera::crypto::testing
