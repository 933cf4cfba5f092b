// Writes the binary seed corpora of the fuzz targets (corpus/<target>/)
// from real messages made by the project's own code: a CSR, certificates
// and a revocation list from the PKI (`tessera pki`'s CaDirectory),
// honest secure-aggregation messages of every stage, and sessions of
// coordinator calls (a job submitted, approved and started; sites
// reporting in and answering). The text corpora (CSV, TOML) are committed
// as written.
//
//   build-fuzz/tests/fuzz/tessera_fuzz_seeds tests/fuzz/corpus
//
// Keys and signatures are fresh on every run, so the output differs from
// run to run; regenerate only when a message format changes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "coordinator/cli/ca_directory.h"
#include "coordinator/job/capabilities.h"
#include "coordinator/job/job_spec.h"
#include "crypto/sha256.h"
#include "tessera.pb.h"
#include "tests/fuzz/coordinator_calls.h"
#include "tests/fuzz/secagg_round.h"
#include "transport/pki.h"

namespace {

namespace v1 = tessera::v1;
using tessera::fuzz::AppendCall;
using tessera::fuzz::Method;

std::string out_dir;

template <typename T>
T OrDie(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, value.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(value);
}

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  const std::string dir = out_dir + "/" + target;
  std::filesystem::create_directories(dir);
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) {
    std::perror(name.c_str());
    std::exit(1);
  }
}

std::string Bytes(const std::vector<uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }

void PkiSeeds() {
  const std::string dir = std::filesystem::temp_directory_path().string() + "/tessera-seeds-ca";
  std::filesystem::remove_all(dir);
  const absl::Time now = absl::Now();
  auto ca = OrDie(tessera::cli::CaDirectory::Init(dir, "seed federation",
                                                  tessera::transport::KeyType::kEcdsaP256,
                                                  absl::Hours(24 * 3650), now),
                  "CA");
  for (auto type : {tessera::transport::KeyType::kEcdsaP256, tessera::transport::KeyType::kEd25519}) {
    const std::string key = OrDie(tessera::transport::GeneratePrivateKeyPem(type), "key");
    const bool ec = type == tessera::transport::KeyType::kEcdsaP256;
    const std::string csr = OrDie(
        tessera::transport::CreateCsrPem(key, {ec ? "rfh" : "leeds-th", tessera::transport::Role::kSite}),
        "CSR");
    Write("pki_fuzz", ec ? "csr_site_p256.pem" : "csr_site_ed25519.pem", csr);
    const std::string cert = OrDie(ca.Issue({ec ? "rfh" : "leeds-th", tessera::transport::Role::kSite},
                                            OrDie(tessera::transport::PublicKeyPemOf(key), "public key"),
                                            absl::Hours(24 * 365), now),
                                   "certificate");
    Write("pki_fuzz", ec ? "cert_site_p256.pem" : "cert_site_ed25519.pem", cert);
  }
  const std::string coordinator_key =
      OrDie(tessera::transport::GeneratePrivateKeyPem(tessera::transport::KeyType::kEcdsaP256), "key");
  Write("pki_fuzz", "cert_coordinator_san.pem",
        OrDie(ca.Issue({"coordinator", tessera::transport::Role::kCoordinator},
                       OrDie(tessera::transport::PublicKeyPemOf(coordinator_key), "public key"),
                       absl::Hours(24 * 365), now, {"localhost"}, {"127.0.0.1", "::1"}),
              "coordinator certificate"));
  Write("pki_fuzz", "ca.pem", ca.ca_cert_pem());
  OrDie(ca.Revoke("rfh", /*by_id=*/true, now), "revoke");
  Write("pki_fuzz", "crl.pem", OrDie(ca.WriteCrl(now), "CRL"));
  std::filesystem::remove_all(dir);
}

void SecAggSeeds() {
  // Client side: for each stage, the untouched round (edits, none), a few
  // edits, and the honest message as raw bytes.
  for (int stage = 0; stage < 4; ++stage) {
    tessera::fuzz::SecAggRound round;
    for (int s = 0; s < stage; ++s) {
      (void)round.ServerStage(s);
      round.SitesAnswer(s);
    }
    (void)round.ServerStage(stage);
    const std::string message = Bytes(round.to_sites()[round.site_id(0)]);
    const std::string prefix{static_cast<char>(stage), 1};
    Write("secagg_client_fuzz", absl::StrCat("stage", stage, "_untouched"), prefix);
    Write("secagg_client_fuzz", absl::StrCat("stage", stage, "_edits"),
          prefix + std::string("\x05\x00\x01\x40\x00\x80\x00\x01", 8));
    Write("secagg_client_fuzz", absl::StrCat("stage", stage, "_raw"),
          std::string{static_cast<char>(stage), 0} + message);
  }
  // Server side: the same for the sites' messages of the five stages, and
  // one sent under two sites' names.
  for (int stage = 0; stage < 5; ++stage) {
    tessera::fuzz::SecAggRound round;
    for (int s = 0; s < stage; ++s) {
      (void)round.ServerStage(s);
      round.SitesAnswer(s);
    }
    const std::string message = Bytes(round.from_sites()[round.site_id(0)]);
    const std::string prefix{static_cast<char>(stage), 1};
    Write("secagg_server_fuzz", absl::StrCat("stage", stage, "_untouched"), prefix);
    Write("secagg_server_fuzz", absl::StrCat("stage", stage, "_edits"),
          prefix + std::string("\x07\x00\x02\x30\x00\x10", 6));
    Write("secagg_server_fuzz", absl::StrCat("stage", stage, "_raw"),
          std::string{static_cast<char>(stage), 0} + message);
    Write("secagg_server_fuzz", absl::StrCat("stage", stage, "_twice"),
          std::string{static_cast<char>(stage), 3});
  }
}

// Roles as transport::Role numbers them; callers as coordinator_calls.h.
constexpr uint8_t kSite = 0, kOperator = 2, kMlLead = 3, kGovernance = 4, kAuditor = 5;
constexpr uint8_t kMlLeadCaller = 3, kGovernanceCaller = 4, kOperatorCaller = 5,
                  kAuditorCaller = 6;

std::string Upload(const std::string& object) {
  std::string stream;
  auto add = [&stream](const v1::UploadRequest& message) {
    const std::string bytes = message.SerializeAsString();
    stream.push_back(static_cast<char>(bytes.size() & 0xFF));
    stream.push_back(static_cast<char>(bytes.size() >> 8));
    stream += bytes;
  };
  v1::UploadRequest header;
  header.mutable_header()->set_sha256_hex(tessera::crypto::Sha256Hex(object));
  header.mutable_header()->set_size_bytes(object.size());
  add(header);
  v1::UploadRequest data;
  data.set_data(object);
  add(data);
  return stream;
}

std::string InitialParameters(size_t dimension) {
  std::string bytes(dimension * 4, '\0');
  for (size_t i = 0; i < dimension; ++i) bytes[i * 4 + 3] = 0x3c;  // 0.0078125f
  return bytes;
}

void CoordinatorSeeds() {
  tessera::coordinator::JobSpec spec;
  spec.name = "seed-job";
  spec.dataset = "cohort";
  spec.schema.features = {tessera::agent::data::NumericColumn("age", 0, 120),
                          tessera::agent::data::NumericColumn("bmi", 10, 60)};
  spec.schema.label = tessera::agent::data::BinaryColumn("outcome");
  spec.rounds = 2;
  spec.min_sites = 3;
  spec.max_sites = 3;
  spec.stage_timeout = absl::Seconds(30);
  spec.secagg_threshold = 2;
  spec.privacy_mode = tessera::coordinator::PrivacyMode::kNone;
  const std::string spec_json = tessera::coordinator::CanonicalJson(spec);
  const std::string model = "builtin logistic model placeholder";
  const std::string initial = InitialParameters(3);

  std::vector<uint8_t> session;
  AppendCall(session, Method::kUploadObject, kMlLead, kMlLeadCaller, Upload(model));
  AppendCall(session, Method::kUploadObject, kMlLead, kMlLeadCaller, Upload(initial));
  v1::SubmitJobRequest submit;
  submit.set_spec_json(spec_json);
  submit.set_model_sha256(tessera::crypto::Sha256Hex(model));
  submit.set_initial_parameters_sha256(tessera::crypto::Sha256Hex(initial));
  AppendCall(session, Method::kSubmitJob, kMlLead, kMlLeadCaller, submit.SerializeAsString());
  v1::DecideJobRequest decide;
  decide.set_job_id("@job");
  decide.set_spec_sha256("@spec");
  decide.set_approve(true);
  decide.set_allow_non_private(true);
  AppendCall(session, Method::kDecideJob, kGovernance, kGovernanceCaller, decide.SerializeAsString());
  for (uint8_t site = 0; site < 3; ++site) {
    v1::HeartbeatRequest heartbeat;
    heartbeat.mutable_info()->set_agent_version("0.1.0");
    heartbeat.mutable_info()->set_hostname(absl::StrCat("trust-", site));
    auto* dataset = heartbeat.mutable_info()->add_datasets();
    dataset->set_name("cohort");
    dataset->set_record_count_bucket(1000);
    for (const std::string& capability : tessera::coordinator::AgentCapabilities()) {
      heartbeat.mutable_info()->add_capabilities(capability);
    }
    heartbeat.set_sequence(1);
    AppendCall(session, Method::kHeartbeat, kSite, site, heartbeat.SerializeAsString());
  }
  AppendCall(session, Method::kTick, kSite, 0, std::string(1, '\1'));
  std::vector<uint8_t> started = session;  // a job with its first round under way
  for (uint8_t site = 0; site < 3; ++site) AppendCall(session, Method::kTakeWork, kSite, site, "");
  for (v1::Stage stage : {v1::STAGE_ADVERTISE_KEYS, v1::STAGE_TRAIN}) {
    v1::StageSubmission submission;
    submission.mutable_round()->set_job_id("@job");
    submission.mutable_round()->set_round(0);
    submission.mutable_round()->set_attempt(1);
    submission.mutable_round()->set_stage(stage);
    if (stage == v1::STAGE_TRAIN) {
      submission.mutable_refusal()->set_message("over the local privacy budget");
    } else {
      submission.set_payload(std::string("\x01\x01", 2) + std::string(40, '\x11'));
    }
    AppendCall(session, Method::kSubmitStage, kSite, 0, submission.SerializeAsString());
  }
  AppendCall(session, Method::kTick, kSite, 0, std::string(1, '\x40'));
  v1::GetJobRequest get;
  get.set_job_id("@job");
  AppendCall(session, Method::kGetJob, kMlLead, kMlLeadCaller, get.SerializeAsString());
  AppendCall(session, Method::kListJobs, kAuditor, kAuditorCaller, "");
  v1::ReadAuditRequest audit;
  audit.set_limit(5);
  AppendCall(session, Method::kReadAudit, kAuditor, kAuditorCaller, audit.SerializeAsString());
  v1::StopJobRequest stop;
  stop.set_job_id("@job");
  stop.set_reason("seed");
  AppendCall(session, Method::kStopJob, kMlLead, kMlLeadCaller, stop.SerializeAsString());
  Write("coordinator_services_fuzz", "session_round", Bytes(session));
  Write("coordinator_services_fuzz", "session_started", Bytes(started));

  // One call of each kind that takes a request, by an allowed caller.
  std::vector<uint8_t> admin;
  AppendCall(admin, Method::kListSites, kOperator, kOperatorCaller, "");
  AppendCall(admin, Method::kStatus, kOperator, kOperatorCaller, "");
  v1::SetBudgetRequest budget;
  budget.mutable_budget()->set_site_id("site-001");
  budget.mutable_budget()->set_dataset("cohort");
  budget.mutable_budget()->set_epsilon(8);
  budget.mutable_budget()->set_delta(1e-5);
  budget.mutable_budget()->set_reason("board decision 2026-11");
  AppendCall(admin, Method::kSetBudget, kGovernance, kGovernanceCaller, budget.SerializeAsString());
  v1::ListBudgetsRequest budgets;
  AppendCall(admin, Method::kListBudgets, kGovernance, kGovernanceCaller, budgets.SerializeAsString());
  v1::ReadPrivacyRecordsRequest records;
  AppendCall(admin, Method::kReadPrivacyRecords, kAuditor, kAuditorCaller, records.SerializeAsString());
  v1::GetModelRequest model_request;
  model_request.set_job_id("@job");
  AppendCall(admin, Method::kGetModel, kMlLead, kMlLeadCaller, model_request.SerializeAsString());
  v1::DownloadRequest download;
  download.set_sha256_hex(tessera::crypto::Sha256Hex(initial));
  AppendCall(admin, Method::kUploadObject, kMlLead, kMlLeadCaller, Upload(initial));
  AppendCall(admin, Method::kDownloadObject, kAuditor, kAuditorCaller, download.SerializeAsString());
  download.set_offset(4);
  AppendCall(admin, Method::kDownload, kSite, 1, download.SerializeAsString());
  AppendCall(admin, Method::kUpload, kSite, 2, Upload("a masked input"));
  Write("coordinator_services_fuzz", "admin_calls", Bytes(admin));

  // Certificates and a revocation list for RegisterSite and
  // PublishRevocationList (signed by another CA than the target's: they
  // reach the parsing and the signature check).
  for (const char* name : {"cert_site_p256.pem", "crl.pem"}) {
    std::ifstream in(out_dir + "/pki_fuzz/" + name);
    const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<uint8_t> call;
    if (std::string(name) == "crl.pem") {
      v1::PublishRevocationListRequest publish;
      publish.set_crl_pem(pem);
      AppendCall(call, Method::kPublishRevocationList, kOperator, kOperatorCaller,
                 publish.SerializeAsString());
    } else {
      v1::RegisterSiteRequest reg;
      reg.set_certificate_pem(pem);
      AppendCall(call, Method::kRegisterSite, kOperator, kOperatorCaller, reg.SerializeAsString());
    }
    Write("coordinator_services_fuzz", std::string("call_") + name, Bytes(call));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  PkiSeeds();
  SecAggSeeds();
  CoordinatorSeeds();
  return 0;
}
