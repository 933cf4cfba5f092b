#include "transport/peer.h"

#include "absl/strings/str_cat.h"
#include "transport/pki.h"

namespace tessera::transport {
namespace {

constexpr struct {
  Role role;
  absl::string_view name;
} kRoles[] = {
    {Role::kSite, "site"},           {Role::kCoordinator, "coordinator"},
    {Role::kOperator, "operator"},   {Role::kMlLead, "ml-lead"},
    {Role::kGovernance, "governance"}, {Role::kAuditor, "auditor"},
};

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
  auto info = ParseCertificate(pem);
  if (!info.ok()) {
    return absl::InvalidArgumentError("peer certificate is not a valid PEM X.509 certificate");
  }
  PeerIdentity identity;
  identity.id = info->common_name;
  if (identity.id.empty()) {
    return absl::InvalidArgumentError("peer certificate has no commonName (CN) in its subject");
  }
  if (info->role_name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate of `", identity.id,
        "` has no role (organizationalUnitName); issue it with `tessera pki`"));
  }
  auto parsed = ParseRole(info->role_name);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate of `", identity.id, "`: ", parsed.status().message()));
  }
  identity.role = *parsed;
  identity.serial_hex = info->serial_hex;
  identity.not_after = info->not_after;
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
