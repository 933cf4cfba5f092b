#include "coordinator/cli/ca_directory.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace tessera::cli {
namespace {

using nlohmann::json;

constexpr absl::Duration kCrlValidity = absl::Hours(24 * 30);

std::string TimeText(absl::Time t) { return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()); }

absl::StatusOr<absl::Time> ParseTimeText(const std::string& text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    return absl::FailedPreconditionError(absl::StrCat("bad time `", text, "`: ", error));
  }
  return t;
}

absl::StatusOr<std::string> RandomSerial(const std::vector<IssuedCertificate>& issued) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    uint64_t value = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&value), sizeof(value)) != 1) {
      return absl::InternalError("the random number generator failed");
    }
    // 63 bits, never zero: positive in DER and unguessable.
    value = (value >> 1) | 1;
    std::string hex = absl::StrFormat("%X", value);
    bool taken = false;
    for (const auto& cert : issued) taken = taken || cert.serial_hex == hex;
    if (!taken) return hex;
  }
  return absl::InternalError("could not find an unused serial number");
}

}  // namespace

CaDirectory::~CaDirectory() { OPENSSL_cleanse(ca_key_pem_.data(), ca_key_pem_.size()); }

absl::StatusOr<CaDirectory> CaDirectory::Init(const std::string& dir,
                                              const std::string& federation_name,
                                              transport::KeyType key_type,
                                              absl::Duration lifetime, absl::Time now) {
  TESSERA_RETURN_IF_ERROR(CreatePrivateDirectory(dir));
  CaDirectory ca;
  ca.dir_ = dir;
  if (::access(ca.Path("ca.key").c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "`", dir, "` already holds a CA key; a CA is never overwritten (choose another --ca-dir)"));
  }
  ca.federation_name_ = federation_name;
  TESSERA_ASSIGN_OR_RETURN(ca.ca_key_pem_, transport::GeneratePrivateKeyPem(key_type));
  TESSERA_ASSIGN_OR_RETURN(ca.ca_cert_pem_, transport::CreateCaCertificatePem(
                                                ca.ca_key_pem_, federation_name,
                                                now - kValidBeforeIssue,
                                                lifetime + kValidBeforeIssue));
  // Key first: a directory with a certificate but no key cannot be mistaken
  // for a usable CA, and Init refuses a directory that has the key.
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(ca.Path("ca.key"), ca.ca_key_pem_, 0600));
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(ca.Path("ca.pem"), ca.ca_cert_pem_, 0644));
  TESSERA_RETURN_IF_ERROR(ca.SaveIndex());
  TESSERA_RETURN_IF_ERROR(ca.WriteCrl(now).status());
  return ca;
}

absl::StatusOr<CaDirectory> CaDirectory::Open(const std::string& dir) {
  CaDirectory ca;
  ca.dir_ = dir;
  auto not_a_ca = [&dir](const absl::Status& status) {
    if (status.code() != absl::StatusCode::kNotFound) return status;
    return absl::NotFoundError(absl::StrCat(status.message(), "; is `", dir,
                                            "` a CA directory? Create one with `tessera pki init`"));
  };
  absl::Status mode = CheckPrivateKeyFileMode(ca.Path("ca.key"));
  if (!mode.ok()) return not_a_ca(mode);
  auto key = ReadFileToString(ca.Path("ca.key"), "CA key");
  if (!key.ok()) return not_a_ca(key.status());
  ca.ca_key_pem_ = std::move(*key);
  auto cert = ReadFileToString(ca.Path("ca.pem"), "CA certificate");
  if (!cert.ok()) return not_a_ca(cert.status());
  ca.ca_cert_pem_ = std::move(*cert);
  auto index_text = ReadFileToString(ca.Path("issued.json"), "CA index");
  if (!index_text.ok()) return not_a_ca(index_text.status());

  json index = json::parse(*index_text, nullptr, /*allow_exceptions=*/false);
  const std::string corrupt =
      absl::StrCat("CA index `", ca.Path("issued.json"), "` is corrupt; restore it from backup");
  if (index.is_discarded() || !index.is_object() || !index.contains("certificates") ||
      !index["certificates"].is_array() || !index.value("federation", json()).is_string()) {
    return absl::FailedPreconditionError(corrupt);
  }
  ca.federation_name_ = index["federation"].get<std::string>();
  for (const json& entry : index["certificates"]) {
    IssuedCertificate cert_entry;
    for (const char* key_name : {"serial", "id", "role", "not_before", "not_after", "sha256"}) {
      if (!entry.is_object() || !entry.value(key_name, json()).is_string()) {
        return absl::FailedPreconditionError(
            absl::StrCat(corrupt, " (an entry lacks `", key_name, "`)"));
      }
    }
    cert_entry.serial_hex = entry["serial"];
    cert_entry.id = entry["id"];
    cert_entry.role = entry["role"];
    cert_entry.sha256 = entry["sha256"];
    TESSERA_ASSIGN_OR_RETURN(cert_entry.not_before, ParseTimeText(entry["not_before"]));
    TESSERA_ASSIGN_OR_RETURN(cert_entry.not_after, ParseTimeText(entry["not_after"]));
    if (entry.contains("revoked_at")) {
      if (!entry["revoked_at"].is_string()) return absl::FailedPreconditionError(corrupt);
      TESSERA_ASSIGN_OR_RETURN(cert_entry.revoked_at, ParseTimeText(entry["revoked_at"]));
    }
    ca.issued_.push_back(std::move(cert_entry));
  }
  return ca;
}

absl::StatusOr<std::string> CaDirectory::Issue(const transport::SubjectName& subject,
                                               const std::string& public_key_pem,
                                               absl::Duration lifetime, absl::Time now,
                                               const std::vector<std::string>& dns_names,
                                               const std::vector<std::string>& ip_addresses) {
  transport::IssueRequest request;
  request.subject = subject;
  request.public_key_pem = public_key_pem;
  TESSERA_ASSIGN_OR_RETURN(std::string serial_hex, RandomSerial(issued_));
  request.serial = std::stoull(serial_hex, nullptr, 16);
  request.not_before = now - kValidBeforeIssue;
  request.not_after = now + lifetime;
  request.dns_names = dns_names;
  request.ip_addresses = ip_addresses;
  TESSERA_ASSIGN_OR_RETURN(std::string cert,
                           transport::IssueCertificatePem(ca_cert_pem_, ca_key_pem_, request));
  TESSERA_ASSIGN_OR_RETURN(transport::CertificateInfo info, transport::ParseCertificate(cert));
  issued_.push_back({info.serial_hex, subject.id, std::string(transport::RoleName(subject.role)),
                     info.not_before, info.not_after, info.sha256_fingerprint_hex, std::nullopt});
  TESSERA_RETURN_IF_ERROR(SaveIndex());
  return cert;
}

absl::StatusOr<std::vector<IssuedCertificate>> CaDirectory::Revoke(
    const std::string& serial_or_id, bool by_id, absl::Time now) {
  std::vector<IssuedCertificate> revoked;
  for (IssuedCertificate& cert : issued_) {
    const bool match = by_id ? cert.id == serial_or_id : cert.serial_hex == serial_or_id;
    if (match && !cert.revoked_at.has_value()) {
      cert.revoked_at = now;
      revoked.push_back(cert);
    }
  }
  if (revoked.empty()) {
    return absl::NotFoundError(absl::StrCat("no unrevoked certificate with ",
                                            by_id ? "id `" : "serial `", serial_or_id,
                                            "`; see `tessera pki list`"));
  }
  TESSERA_RETURN_IF_ERROR(SaveIndex());
  TESSERA_RETURN_IF_ERROR(WriteCrl(now).status());
  return revoked;
}

absl::StatusOr<std::string> CaDirectory::WriteCrl(absl::Time now) {
  std::vector<transport::RevokedEntry> entries;
  for (const IssuedCertificate& cert : issued_) {
    if (cert.revoked_at.has_value()) entries.push_back({cert.serial_hex, *cert.revoked_at});
  }
  TESSERA_ASSIGN_OR_RETURN(
      std::string crl, transport::CreateCrlPem(ca_cert_pem_, ca_key_pem_, entries, now, kCrlValidity));
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(Path("crl.pem"), crl, 0644));
  return crl;
}

absl::Status CaDirectory::SaveIndex() const {
  json certificates = json::array();
  for (const IssuedCertificate& cert : issued_) {
    json entry = {{"serial", cert.serial_hex},
                  {"id", cert.id},
                  {"role", cert.role},
                  {"not_before", TimeText(cert.not_before)},
                  {"not_after", TimeText(cert.not_after)},
                  {"sha256", cert.sha256}};
    if (cert.revoked_at.has_value()) entry["revoked_at"] = TimeText(*cert.revoked_at);
    certificates.push_back(std::move(entry));
  }
  json index = {{"federation", federation_name_}, {"certificates", certificates}};
  return WriteFileAtomically(Path("issued.json"), index.dump(2) + "\n", 0600);
}

}  // namespace tessera::cli
