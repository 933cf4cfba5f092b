#include "transport/pki.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"
#include "crypto/openssl_util.h"

namespace tessera::transport {
namespace {

// Owning pointers for every handle: crypto/'s, plus the few only the PKI uses.
using crypto::BioPtr;
using crypto::OpenSslPtr;
using CertPtr = crypto::X509Ptr;
using KeyPtr = crypto::EvpPkeyPtr;
using StoreCtxPtr = crypto::X509StoreCtxPtr;
using StorePtr = crypto::X509StorePtr;
using ReqPtr = OpenSslPtr<X509_REQ, X509_REQ_free>;
using CrlPtr = OpenSslPtr<X509_CRL, X509_CRL_free>;
using NamePtr = OpenSslPtr<X509_NAME, X509_NAME_free>;
using ExtPtr = OpenSslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using RevokedPtr = OpenSslPtr<X509_REVOKED, X509_REVOKED_free>;
using Asn1IntPtr = OpenSslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1TimePtr = OpenSslPtr<ASN1_TIME, ASN1_TIME_free>;
using BnPtr = OpenSslPtr<BIGNUM, BN_free>;

BioPtr ReadBio(absl::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::StatusOr<KeyPtr> ReadPrivateKey(absl::string_view pem) {
  BioPtr bio = ReadBio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    crypto::ClearOpenSslErrors();
    return absl::InvalidArgumentError("the private key is not an unencrypted PEM private key");
  }
  return key;
}

absl::StatusOr<KeyPtr> ReadPublicKey(absl::string_view pem) {
  BioPtr bio = ReadBio(pem);
  KeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    crypto::ClearOpenSslErrors();
    return absl::InvalidArgumentError("the public key is not a PEM SubjectPublicKeyInfo");
  }
  return key;
}

absl::StatusOr<CertPtr> ReadCertificate(absl::string_view pem, absl::string_view what) {
  BioPtr bio = ReadBio(pem);
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    crypto::ClearOpenSslErrors();
    return absl::InvalidArgumentError(absl::StrCat(what, " is not a PEM X.509 certificate"));
  }
  return cert;
}

// Reads everything written to a memory BIO.
std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(length));
}

// The digest to sign with: SHA-256, or none for Ed25519 (which hashes itself).
const EVP_MD* SigningDigest(EVP_PKEY* key) {
  return EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
}

absl::Status CheckId(absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("the id (commonName) is empty");
  if (id.size() > 64) {
    return absl::InvalidArgumentError(absl::StrCat("the id `", id, "` is longer than 64 characters"));
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(absl::StrCat(
          "the id `", id, "` may only contain letters, digits, `.`, `_` and `-`"));
    }
  }
  return absl::OkStatus();
}

absl::Status AddNameEntry(X509_NAME* name, int nid, absl::string_view value) {
  if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot build a certificate name");
  }
  return absl::OkStatus();
}

absl::StatusOr<NamePtr> SubjectOf(const SubjectName& subject) {
  TESSERA_RETURN_IF_ERROR(CheckId(subject.id));
  NamePtr name(X509_NAME_new());
  TESSERA_RETURN_IF_ERROR(AddNameEntry(name.get(), NID_organizationalUnitName,
                                       RoleName(subject.role)));
  TESSERA_RETURN_IF_ERROR(AddNameEntry(name.get(), NID_commonName, subject.id));
  return name;
}

std::string NameEntry(const X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return "";
  const ASN1_STRING* data =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return "";
  std::string value(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return value;
}

absl::Status SetTime(ASN1_TIME* field, absl::Time t) {
  if (ASN1_TIME_set(field, static_cast<time_t>(absl::ToUnixSeconds(t))) == nullptr) {
    return absl::InvalidArgumentError("a certificate time is out of range");
  }
  return absl::OkStatus();
}

absl::Time ToTime(const ASN1_TIME* t) {
  struct tm parts = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &parts) != 1) return absl::InfinitePast();
  return absl::FromUnixSeconds(static_cast<int64_t>(timegm(&parts)));
}

std::string DateText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

std::string SerialHex(const ASN1_INTEGER* serial) {
  BnPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string text(hex);
  OPENSSL_free(hex);
  // BN_bn2hex pads to whole bytes ("07"); strip so one serial has one spelling.
  const size_t first = text.find_first_not_of('0');
  return first == std::string::npos ? "0" : text.substr(first);
}

absl::StatusOr<Asn1IntPtr> SerialFromHex(absl::string_view hex) {
  BIGNUM* raw = nullptr;
  std::string text(hex);
  if (text.empty() || BN_hex2bn(&raw, text.c_str()) != static_cast<int>(text.size())) {
    BN_free(raw);
    return absl::InvalidArgumentError(absl::StrCat("serial `", hex, "` is not a hex number"));
  }
  BnPtr bn(raw);
  Asn1IntPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (serial == nullptr) return absl::InternalError("cannot encode a serial number");
  return serial;
}

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInvalidArgument,
                                absl::StrCat("cannot add certificate extension `", value, "`"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CertificateToPem(X509* cert) {
  BioPtr out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509(out.get(), cert) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot encode a certificate");
  }
  return BioContents(out.get());
}

// Sets issuer, validity, key and extensions, then signs. Shared by the CA's
// self-signed certificate and issued ones.
absl::StatusOr<std::string> SignCertificate(X509* cert, X509* issuer, EVP_PKEY* issuer_key,
                                            EVP_PKEY* subject_key, uint64_t serial,
                                            absl::Time not_before, absl::Time not_after,
                                            const std::vector<std::pair<int, std::string>>& exts) {
  if (not_after <= not_before) {
    return absl::InvalidArgumentError("a certificate must expire after it becomes valid");
  }
  if (serial == 0) return absl::InvalidArgumentError("a certificate serial number must be > 0");
  X509_set_version(cert, X509_VERSION_3);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert), serial);
  X509_set_issuer_name(cert, X509_get_subject_name(issuer));
  TESSERA_RETURN_IF_ERROR(SetTime(X509_getm_notBefore(cert), not_before));
  TESSERA_RETURN_IF_ERROR(SetTime(X509_getm_notAfter(cert), not_after));
  if (X509_set_pubkey(cert, subject_key) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot set the public key");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : exts) {
    TESSERA_RETURN_IF_ERROR(AddExtension(cert, &ctx, nid, value));
  }
  if (X509_sign(cert, issuer_key, SigningDigest(issuer_key)) <= 0) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot sign the certificate");
  }
  return CertificateToPem(cert);
}

bool LooksLikeIp(absl::string_view text) {
  ASN1_OCTET_STRING* parsed = a2i_IPADDRESS(std::string(text).c_str());
  if (parsed == nullptr) {
    crypto::ClearOpenSslErrors();
    return false;
  }
  ASN1_OCTET_STRING_free(parsed);
  return true;
}

}  // namespace

absl::StatusOr<KeyType> ParseKeyType(absl::string_view name) {
  if (name == "ecdsa-p256") return KeyType::kEcdsaP256;
  if (name == "ed25519") return KeyType::kEd25519;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown key type `", name, "`; use ecdsa-p256 or ed25519"));
}

absl::StatusOr<std::string> GeneratePrivateKeyPem(KeyType type) {
  KeyPtr key(type == KeyType::kEd25519
                 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                 : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (key == nullptr) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot generate a key");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot encode the key");
  }
  std::string pem = BioContents(out.get());
  // The memory BIO's buffer held the key; wipe it before it is freed.
  char* data = nullptr;
  long length = BIO_get_mem_data(out.get(), &data);
  OPENSSL_cleanse(data, static_cast<size_t>(length));
  return pem;
}

absl::StatusOr<std::string> PublicKeyPemOf(absl::string_view private_key_pem) {
  TESSERA_ASSIGN_OR_RETURN(KeyPtr key, ReadPrivateKey(private_key_pem));
  BioPtr out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PUBKEY(out.get(), key.get()) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot encode the public key");
  }
  return BioContents(out.get());
}

absl::StatusOr<std::string> CreateCsrPem(absl::string_view private_key_pem,
                                         const SubjectName& subject) {
  TESSERA_ASSIGN_OR_RETURN(KeyPtr key, ReadPrivateKey(private_key_pem));
  TESSERA_ASSIGN_OR_RETURN(NamePtr name, SubjectOf(subject));
  ReqPtr req(X509_REQ_new());
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(req.get(), name.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), SigningDigest(key.get())) <= 0) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot build the CSR");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509_REQ(out.get(), req.get()) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot encode the CSR");
  }
  return BioContents(out.get());
}

absl::StatusOr<CsrInfo> ParseCsr(absl::string_view csr_pem) {
  BioPtr bio = ReadBio(csr_pem);
  ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (req == nullptr) {
    crypto::ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        "the file is not a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)");
  }
  KeyPtr key(X509_REQ_get_pubkey(req.get()));
  if (key == nullptr) {
    crypto::ClearOpenSslErrors();
    return absl::InvalidArgumentError("the certificate signing request has no usable public key");
  }
  const int type = EVP_PKEY_get_id(key.get());
  if (type != EVP_PKEY_ED25519 && !(type == EVP_PKEY_EC && EVP_PKEY_get_bits(key.get()) == 256)) {
    return absl::InvalidArgumentError(
        "the certificate signing request's key is neither ECDSA P-256 nor Ed25519; make a new "
        "one with `tessera-agent enroll`");
  }
  if (X509_REQ_verify(req.get(), key.get()) != 1) {
    crypto::ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        "the certificate signing request's signature does not verify (corrupted or forged)");
  }
  CsrInfo info;
  const X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  info.common_name = NameEntry(subject, NID_commonName);
  info.organizational_unit = NameEntry(subject, NID_organizationalUnitName);
  BioPtr out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PUBKEY(out.get(), key.get()) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot encode the public key");
  }
  info.public_key_pem = BioContents(out.get());
  return info;
}

absl::StatusOr<std::string> CreateCaCertificatePem(absl::string_view ca_key_pem,
                                                   absl::string_view federation_name,
                                                   absl::Time now, absl::Duration lifetime) {
  if (federation_name.empty()) return absl::InvalidArgumentError("the federation name is empty");
  TESSERA_ASSIGN_OR_RETURN(KeyPtr key, ReadPrivateKey(ca_key_pem));
  CertPtr cert(X509_new());
  X509_NAME* name = X509_get_subject_name(cert.get());
  TESSERA_RETURN_IF_ERROR(AddNameEntry(name, NID_organizationName, federation_name));
  TESSERA_RETURN_IF_ERROR(
      AddNameEntry(name, NID_commonName, absl::StrCat(federation_name, " CA")));
  // Random 63-bit serial so two CAs of the same name are told apart.
  uint64_t serial = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof(serial)) != 1) {
    return absl::InternalError("the random number generator failed");
  }
  serial = (serial >> 1) | 1;
  return SignCertificate(cert.get(), cert.get(), key.get(), key.get(), serial, now,
                         now + lifetime,
                         {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                          {NID_key_usage, "critical,keyCertSign,cRLSign"},
                          {NID_subject_key_identifier, "hash"}});
}

absl::StatusOr<std::string> IssueCertificatePem(absl::string_view ca_cert_pem,
                                                absl::string_view ca_key_pem,
                                                const IssueRequest& request) {
  TESSERA_ASSIGN_OR_RETURN(CertPtr ca, ReadCertificate(ca_cert_pem, "the CA certificate"));
  TESSERA_ASSIGN_OR_RETURN(KeyPtr ca_key, ReadPrivateKey(ca_key_pem));
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) {
    crypto::ClearOpenSslErrors();
    return absl::InvalidArgumentError("the CA key does not belong to the CA certificate");
  }
  TESSERA_ASSIGN_OR_RETURN(KeyPtr subject_key, ReadPublicKey(request.public_key_pem));
  TESSERA_ASSIGN_OR_RETURN(NamePtr name, SubjectOf(request.subject));
  const bool server = request.subject.role == Role::kCoordinator;
  if (!server && (!request.dns_names.empty() || !request.ip_addresses.empty())) {
    return absl::InvalidArgumentError(
        "DNS names and IP addresses are only for the coordinator's server certificate");
  }
  std::vector<std::string> alt_names;
  for (const std::string& dns : request.dns_names) {
    TESSERA_RETURN_IF_ERROR(CheckId(dns));
    alt_names.push_back("DNS:" + dns);
  }
  for (const std::string& ip : request.ip_addresses) {
    if (!LooksLikeIp(ip)) {
      return absl::InvalidArgumentError(absl::StrCat("`", ip, "` is not an IP address"));
    }
    alt_names.push_back("IP:" + ip);
  }
  if (server && alt_names.empty()) {
    return absl::InvalidArgumentError(
        "a coordinator certificate needs at least one DNS name or IP address that agents dial");
  }
  CertPtr cert(X509_new());
  X509_set_subject_name(cert.get(), name.get());
  std::vector<std::pair<int, std::string>> exts = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, server ? "serverAuth" : "clientAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"}};
  if (!alt_names.empty()) exts.push_back({NID_subject_alt_name, absl::StrJoin(alt_names, ",")});
  return SignCertificate(cert.get(), ca.get(), ca_key.get(), subject_key.get(), request.serial,
                         request.not_before, request.not_after, exts);
}

absl::StatusOr<CertificateInfo> ParseCertificate(absl::string_view cert_pem) {
  TESSERA_ASSIGN_OR_RETURN(CertPtr cert, ReadCertificate(cert_pem, "the certificate"));
  CertificateInfo info;
  info.serial_hex = SerialHex(X509_get0_serialNumber(cert.get()));
  info.common_name = NameEntry(X509_get_subject_name(cert.get()), NID_commonName);
  info.role_name = NameEntry(X509_get_subject_name(cert.get()), NID_organizationalUnitName);
  info.issuer_common_name = NameEntry(X509_get_issuer_name(cert.get()), NID_commonName);
  info.not_before = ToTime(X509_get0_notBefore(cert.get()));
  info.not_after = ToTime(X509_get0_notAfter(cert.get()));
  info.is_ca = X509_check_ca(cert.get()) != 0;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest, &length) != 1) {
    return absl::InternalError("cannot hash the certificate");
  }
  info.sha256_fingerprint_hex =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), length));
  using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
  GeneralNamesPtr alt_names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; alt_names != nullptr && i < sk_GENERAL_NAME_num(alt_names.get()); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(alt_names.get(), i);
    if (entry->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = entry->d.dNSName;
      info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                  static_cast<size_t>(ASN1_STRING_length(dns)));
    } else if (entry->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = entry->d.iPAddress;
      const int ip_length = ASN1_STRING_length(ip);
      char text[INET6_ADDRSTRLEN] = {};
      if ((ip_length == 4 || ip_length == 16) &&
          inet_ntop(ip_length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), text,
                    sizeof(text)) != nullptr) {
        info.ip_addresses.emplace_back(text);
      }
    }
  }
  return info;
}

absl::Status VerifyCertificate(absl::string_view ca_cert_pem, absl::string_view cert_pem,
                               absl::Time now) {
  TESSERA_ASSIGN_OR_RETURN(CertPtr ca, ReadCertificate(ca_cert_pem, "the CA certificate"));
  TESSERA_ASSIGN_OR_RETURN(CertPtr cert, ReadCertificate(cert_pem, "the certificate"));
  const std::string who = absl::StrCat(
      "certificate of `", NameEntry(X509_get_subject_name(cert.get()), NID_commonName),
      "` (serial ", SerialHex(X509_get0_serialNumber(cert.get())), ")");
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot set up verification");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(absl::ToUnixSeconds(now)));
  if (X509_verify_cert(ctx.get()) == 1) return absl::OkStatus();
  crypto::ClearOpenSslErrors();
  const int error = X509_STORE_CTX_get_error(ctx.get());
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return absl::UnauthenticatedError(absl::StrCat(
          who, " expired on ", DateText(ToTime(X509_get0_notAfter(cert.get()))),
          "; issue a new one with `tessera pki sign`"));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return absl::UnauthenticatedError(absl::StrCat(
          who, " is not valid until ", DateText(ToTime(X509_get0_notBefore(cert.get()))),
          "; check this machine's clock"));
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return absl::UnauthenticatedError(absl::StrCat(
          who, " was not issued by this federation's CA (`",
          NameEntry(X509_get_subject_name(ca.get()), NID_commonName),
          "`); use the CA file of the federation you are joining"));
    default:
      return absl::UnauthenticatedError(
          absl::StrCat(who, " does not verify: ", X509_verify_cert_error_string(error)));
  }
}

absl::Status CheckKeyMatchesCertificate(absl::string_view private_key_pem,
                                        absl::string_view cert_pem) {
  TESSERA_ASSIGN_OR_RETURN(KeyPtr key, ReadPrivateKey(private_key_pem));
  TESSERA_ASSIGN_OR_RETURN(CertPtr cert, ReadCertificate(cert_pem, "the certificate"));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    crypto::ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        "the certificate does not belong to this private key (it was issued for another key)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CreateCrlPem(absl::string_view ca_cert_pem,
                                         absl::string_view ca_key_pem,
                                         const std::vector<RevokedEntry>& revoked, absl::Time now,
                                         absl::Duration validity) {
  TESSERA_ASSIGN_OR_RETURN(CertPtr ca, ReadCertificate(ca_cert_pem, "the CA certificate"));
  TESSERA_ASSIGN_OR_RETURN(KeyPtr ca_key, ReadPrivateKey(ca_key_pem));
  if (X509_check_private_key(ca.get(), ca_key.get()) != 1) {
    crypto::ClearOpenSslErrors();
    return absl::InvalidArgumentError("the CA key does not belong to the CA certificate");
  }
  CrlPtr crl(X509_CRL_new());
  Asn1TimePtr last(ASN1_TIME_new());
  Asn1TimePtr next(ASN1_TIME_new());
  TESSERA_RETURN_IF_ERROR(SetTime(last.get(), now));
  TESSERA_RETURN_IF_ERROR(SetTime(next.get(), now + validity));
  if (X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.get())) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot build the CRL");
  }
  for (const RevokedEntry& entry : revoked) {
    TESSERA_ASSIGN_OR_RETURN(Asn1IntPtr serial, SerialFromHex(entry.serial_hex));
    Asn1TimePtr when(ASN1_TIME_new());
    TESSERA_RETURN_IF_ERROR(SetTime(when.get(), entry.revoked_at));
    RevokedPtr item(X509_REVOKED_new());
    if (X509_REVOKED_set_serialNumber(item.get(), serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(item.get(), when.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), item.get()) != 1) {
      return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot add to the CRL");
    }
    item.release();  // now owned by the CRL
  }
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), ca_key.get(), SigningDigest(ca_key.get())) <= 0) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot sign the CRL");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_X509_CRL(out.get(), crl.get()) != 1) {
    return crypto::OpenSslError(absl::StatusCode::kInternal, "cannot encode the CRL");
  }
  return BioContents(out.get());
}

absl::StatusOr<RevocationList> ParseCrl(absl::string_view ca_cert_pem, absl::string_view crl_pem) {
  TESSERA_ASSIGN_OR_RETURN(CertPtr ca, ReadCertificate(ca_cert_pem, "the CA certificate"));
  BioPtr bio = ReadBio(crl_pem);
  CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (crl == nullptr) {
    crypto::ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        "the revocation list is not a PEM X.509 CRL (-----BEGIN X509 CRL-----)");
  }
  EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
  if (ca_key == nullptr || X509_CRL_verify(crl.get(), ca_key) != 1 ||
      X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca.get())) != 0) {
    crypto::ClearOpenSslErrors();
    return absl::UnauthenticatedError(
        "the revocation list was not signed by this federation's CA; refusing it");
  }
  RevocationList list;
  list.issued_at = ToTime(X509_CRL_get0_lastUpdate(crl.get()));
  const STACK_OF(X509_REVOKED)* items = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(items); ++i) {
    const X509_REVOKED* item = sk_X509_REVOKED_value(items, i);
    list.revoked.push_back({SerialHex(X509_REVOKED_get0_serialNumber(item)),
                            ToTime(X509_REVOKED_get0_revocationDate(item))});
  }
  return list;
}

}  // namespace tessera::transport
