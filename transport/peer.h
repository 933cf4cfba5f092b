// Who is on the other end of a call, taken from the verified client
// certificate and never from message fields.
//
// Certificates issued for Tessera carry the party's id in the subject's
// commonName (a site id such as `rfh`, or a person's user name) and its role
// in the subject's organizationalUnitName: `site`, `coordinator`, `operator`,
// `ml-lead`, `governance` or `auditor`.
//
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace tessera::transport {

enum class Role { kSite, kCoordinator, kOperator, kMlLead, kGovernance, kAuditor };

// The role's name as written in certificates ("ml-lead").
absl::string_view RoleName(Role role);
// Parses a role name; INVALID_ARGUMENT listing the valid names otherwise.
absl::StatusOr<Role> ParseRole(absl::string_view name);

struct PeerIdentity {
  std::string id;  // subject commonName
  Role role = Role::kSite;
  std::string serial_hex;  // certificate serial, upper-case hex without leading zeros
  absl::Time not_after;    // certificate expiry
};

// Reads id and role from a PEM certificate. INVALID_ARGUMENT when it does
// not parse or lacks a commonName or a known role.
absl::StatusOr<PeerIdentity> IdentityFromCertificatePem(absl::string_view pem);

// The identity of the authenticated peer of a server call. UNAUTHENTICATED
// when the call carries no verified certificate.
absl::StatusOr<PeerIdentity> IdentityFromContext(const grpc::ServerContext& context);

// Converts between absl::Status and grpc::Status (codes share their numbers).
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace tessera::transport
