// The load generator's federation PKI, made with the project's own code
// (transport/pki.h, the functions behind `tessera pki` and `tessera-agent
// enroll`) and written to a directory as the daemons read it: the CA; the
// coordinator's server certificate for 127.0.0.1; an ML lead and a
// governance member; and one key and certificate per site, each made the
// enrolment way (the site makes its key and a CSR, the CA checks the CSR and
// signs it). Keys are ECDSA P-256, files 0600.
//
// Thread-safety: stateless; the result is a plain value.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "transport/tls.h"

namespace tessera::loadgen {

struct LoadgenPki {
  std::string ca_pem;
  transport::TlsFiles coordinator;  // each with the CA's file as ca_file
  transport::TlsFiles ml_lead;
  transport::TlsFiles governance;
  std::vector<std::string> site_ids;  // "site-0001", ...
  std::vector<transport::TlsFiles> sites;
};

// Creates the PKI for `sites` sites in `dir` (which must exist), every
// certificate valid from an hour before `now` for two days. Errors from
// transport/pki.h and common/files.h, naming the party.
absl::StatusOr<LoadgenPki> CreateLoadgenPki(const std::string& dir, int sites, absl::Time now);

}  // namespace tessera::loadgen
