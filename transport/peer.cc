#include "transport/peer.h"

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace tessera::transport {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};

constexpr struct {
  Role role;
  absl::string_view name;
} kRoles[] = {
    {Role::kSite, "site"},           {Role::kCoordinator, "coordinator"},
    {Role::kOperator, "operator"},   {Role::kMlLead, "ml-lead"},
    {Role::kGovernance, "governance"}, {Role::kAuditor, "auditor"},
};

// The first entry of `nid` in `name` as UTF-8, or "" when absent.
std::string NameEntry(X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return "";
  std::string value(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return value;
}

}  // namespace

absl::string_view RoleName(Role role) {
  for (const auto& entry : kRoles) {
    if (entry.role == role) return entry.name;
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (const auto& entry : kRoles) {
    if (entry.name == name) return entry.role;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown role `", name,
      "`; use one of site, coordinator, operator, ml-lead, governance, auditor"));
}

absl::StatusOr<PeerIdentity> IdentityFromCertificatePem(absl::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::ResourceExhaustedError("cannot allocate a BIO");
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError("peer certificate is not a valid PEM X.509 certificate");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  PeerIdentity identity;
  identity.id = NameEntry(subject, NID_commonName);
  if (identity.id.empty()) {
    return absl::InvalidArgumentError("peer certificate has no commonName (CN) in its subject");
  }
  std::string role = NameEntry(subject, NID_organizationalUnitName);
  if (role.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate of `", identity.id,
        "` has no role (organizationalUnitName); issue it with `tessera pki`"));
  }
  auto parsed = ParseRole(role);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate of `", identity.id, "`: ", parsed.status().message()));
  }
  identity.role = *parsed;
  return identity;
}

absl::StatusOr<PeerIdentity> IdentityFromContext(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("the call carries no verified client certificate");
  }
  std::vector<grpc::string_ref> pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) {
    return absl::UnauthenticatedError("the call carries no client certificate");
  }
  return IdentityFromCertificatePem(absl::string_view(pems.front().data(), pems.front().size()));
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace tessera::transport
