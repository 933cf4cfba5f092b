// Fuzz target: the certificate, CSR and CRL parsing a hostile file or peer
// can reach. Every input is tried as
//   * the CSR of `tessera pki sign` (transport::ParseCsr); one that parses
//     is signed by a real CA folder (cli::CaDirectory, as the command does)
//     and the certificate issued must parse, name the requester and verify;
//   * a peer certificate: transport::ParseCertificate, the identity the
//     coordinator takes from a client certificate
//     (transport::IdentityFromCertificatePem), crypto::Certificate from PEM
//     and from DER (the form secure aggregation relays) and its checks;
//   * a revocation list (transport::ParseCrl) under the CA.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "coordinator/cli/ca_directory.h"
#include "crypto/certificate.h"
#include "transport/peer.h"
#include "transport/pki.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

// Inside the CA's lifetime, fixed so that runs repeat.
const absl::Time kNow = absl::FromUnixSeconds(1800000000);

// The CA folder. Every CSR that verifies gets a certificate from it, and
// its index of issued certificates grows with each, so it is made afresh
// after a while to keep the rate of inputs steady.
std::unique_ptr<tessera::cli::CaDirectory>& CaSlot() {
  static std::unique_ptr<tessera::cli::CaDirectory> ca;
  return ca;
}

tessera::cli::CaDirectory& Ca() {
  std::unique_ptr<tessera::cli::CaDirectory>& ca = CaSlot();
  if (ca == nullptr || ca->issued().size() >= 64) {
    const std::string dir = tessera::fuzz::ScratchDir() + "/ca";
    tessera::fuzz::EmptyDir(tessera::fuzz::ScratchDir());
    auto created = tessera::cli::CaDirectory::Init(
        dir, "fuzz federation", tessera::transport::KeyType::kEcdsaP256, absl::Hours(24 * 3650),
        kNow - absl::Hours(24));
    if (!created.ok()) {
      std::fprintf(stderr, "CA: %s\n", created.status().ToString().c_str());
      std::abort();
    }
    ca = std::make_unique<tessera::cli::CaDirectory>(*std::move(created));
  }
  return *ca;
}

[[noreturn]] void Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
  __builtin_trap();
}

void SignAsPkiSignDoes(const tessera::transport::CsrInfo& csr) {
  using tessera::transport::Role;
  // `tessera pki sign --site ID` with ID the name the CSR asks for.
  if (!csr.organizational_unit.empty() && csr.organizational_unit != "site") return;
  tessera::cli::CaDirectory& ca = Ca();
  auto cert = ca.Issue({csr.common_name, Role::kSite}, csr.public_key_pem,
                         absl::Hours(24 * 365), kNow);
  if (!cert.ok()) return;  // a name the CA refuses, with a message
  auto info = tessera::transport::ParseCertificate(*cert);
  if (!info.ok()) Fail("an issued certificate does not parse", info.status());
  if (info->common_name != csr.common_name) {
    std::fprintf(stderr, "issued for `%s`, asked for `%s`\n", info->common_name.c_str(),
                 csr.common_name.c_str());
    __builtin_trap();
  }
  absl::Status verified = tessera::transport::VerifyCertificate(ca.ca_cert_pem(), *cert, kNow);
  if (!verified.ok()) Fail("an issued certificate does not verify", verified);
  auto identity = tessera::transport::IdentityFromCertificatePem(*cert);
  if (!identity.ok() || identity->id != csr.common_name || identity->role != Role::kSite) {
    Fail("an issued certificate does not carry its identity", identity.status());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  tessera::fuzz::QuietLogs();
  (void)Ca();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(bytes), size);
  const std::string ca_pem = Ca().ca_cert_pem();  // a copy: signing may renew the CA

  if (auto csr = tessera::transport::ParseCsr(text); csr.ok()) SignAsPkiSignDoes(*csr);

  (void)tessera::transport::ParseCertificate(text);
  (void)tessera::transport::IdentityFromCertificatePem(text);
  (void)tessera::transport::VerifyCertificate(ca_pem, text, kNow);
  (void)tessera::transport::ParseCrl(ca_pem, text);

  const auto ca = tessera::crypto::Certificate::FromPem(ca_pem);
  if (!ca.ok()) Fail("the CA certificate does not parse", ca.status());
  for (int form = 0; form < 2; ++form) {
    auto cert = form == 0 ? tessera::crypto::Certificate::FromPem(text)
                          : tessera::crypto::Certificate::FromDer(
                                tessera::crypto::ByteSpan(bytes, size));
    if (!cert.ok()) continue;
    (void)(*cert)->VerifyIssuedBy(**ca, kNow);
    (void)(*cert)->SubjectCommonName();
    (void)(*cert)->SubjectOrganizationalUnit();
    (void)(*cert)->DescribeSubject();
    (void)(*cert)->PublicKeyVerifier();
    // DER written back parses again.
    if (!tessera::crypto::Certificate::FromDer((*cert)->Der()).ok()) {
      std::fprintf(stderr, "a parsed certificate's DER does not parse again\n");
      __builtin_trap();
    }
  }
  return 0;
}
