// tessera_loadgen: the round overhead of a real coordinator with n sites.
//
// One process that
//   1. measures its baseline: one memcpy and one AES-256-CTR mask expansion
//      (crypto/aes_ctr_prg.h, the secure-aggregation mask generator) of
//      d * 4 bytes, each the fastest of 7 (thread CPU time);
//   2. makes a federation PKI with transport/pki.h (loadgen_pki.h) and
//      starts the REAL tessera-coordinator binary on 127.0.0.1 (port 0)
//      with it;
//   3. runs n lightweight sites in-process (synthetic_site.h: one thread,
//      certificate, key and mTLS channel each; heartbeats on one shared
//      thread; the real site-side secure-aggregation session and encoding;
//      synthetic values instead of data and training);
//   4. as an ML lead uploads a placeholder model file and d initial
//      parameters and submits the job, as governance approves it, and
//      follows it over the Admin service until it ends;
//   5. prints n, d, k, the round time (from the moment the first site
//      receives the task of a training round to the moment the first site
//      receives the next one: every stage, the decode, the strategy step and
//      the commit; median; the statistics round 0 excluded), the
//      coordinator's CPU seconds over the same interval (/proc/PID/stat),
//      its peak resident memory (VmHWM), the payload bytes each site sends
//      and receives per round, this process's CPU, and the ratios to the
//      baseline (a table, or one JSON object with --json).
//
// The job is a built-in MLP of exactly d parameters (7 to 32 numeric
// features, one or two hidden layers of at most 4,096 units, as the job file
// allows: d = 1000 is 7-111-1, d = 10^5 is 11-431-219-1, d = 10^6 is
// 13-1385-707-1; see ShapeFor) with a binary label, so the job also has a
// statistics round; privacy mode "site" (distributed DP, epsilon 3 over the
// job) by default, or "none". max_attempts is 1: any aborted round fails
// the run.
//
// The model file is a placeholder: this build has no libtorch to script the
// MLP, the coordinator only stores and hashes the file, and the synthetic
// sites download it (as agents do) but never load it.
//
// Not a ctest beyond the bench-smoke run (n = 3, d = 1000); see
// benchmarks/round/run_grid.sh and benchmarks/RESULTS.md.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "benchmarks/round/load_stats.h"
#include "benchmarks/round/loadgen_pki.h"
#include "benchmarks/round/process_stats.h"
#include "benchmarks/round/synthetic_contribution.h"
#include "benchmarks/round/synthetic_site.h"
#include "common/cli.h"
#include "common/config.h"
#include "common/files.h"
#include "common/flat_params.h"
#include "common/status.h"
#include "coordinator/job/job_spec.h"
#include "crypto/aes_ctr_prg.h"
#include "crypto/random.h"
#include "crypto/secagg/authentication.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "tessera.grpc.pb.h"
#include "common/subprocess.h"
#include "transport/object_transfer.h"
#include "transport/peer.h"
#include "transport/tls.h"

namespace tessera::loadgen {
namespace {

using nlohmann::json;

struct Options {
  int sites = 10;
  int64_t dim = 100'000;
  int rounds = 4;  // the first three are measured whole
  int degree = -1;    // -1: about 2 log2 n; 0: the complete graph
  int threshold = 0;  // 0: floor(k / 2) + 1
  std::string privacy = "site";
  double epsilon = 3.0;
  int bits = 32;
  int workers = 0;  // 0: the number of CPUs
  bool burst = false;
  std::string coordinator_bin;
  std::vector<std::string> coordinator_env;  // KEY=VALUE
  std::string work_dir;
  std::string memory_trace;  // CSV of the coordinator's VmRSS every 20 ms
  bool json = false;
  int timeout_seconds = 3600;
  int idle_seconds = 0;  // coordinator CPU with every site connected, before the job
  int stage_timeout_seconds = 900;
  uint64_t seed = 1;
};

// The built-in MLP: `features` numeric inputs, hidden layers, one output.
struct ModelShape {
  int64_t features = 7;
  std::vector<int64_t> hidden;
  int64_t parameters() const {
    int64_t count = 0, inputs = features;
    for (int64_t units : hidden) {
      count += (inputs + 1) * units;
      inputs = units;
    }
    return count + inputs + 1;
  }
};

// The job file allows hidden layers of 1..4096 units.
constexpr int64_t kMaxUnits = 4096;

// An MLP of exactly `dim` parameters: one hidden layer when some 7..32
// features allow it, else two (the first about twice the second), else
// (no exact shape) the two-layer MLP with 7 features nearest to `dim`.
ModelShape ShapeFor(int64_t dim) {
  for (int64_t f = 7; f <= 32; ++f) {
    if ((dim - 1) % (f + 2) == 0 && (dim - 1) / (f + 2) <= kMaxUnits) {
      return {f, {(dim - 1) / (f + 2)}};
    }
  }
  std::optional<ModelShape> best;
  int64_t best_skew = 0;
  for (int64_t f = 7; f <= 32; ++f) {
    for (int64_t h1 = 1; h1 <= kMaxUnits; ++h1) {
      // (f + 1) h1 + (h1 + 1) h2 + h2 + 1 = dim
      const int64_t rest = dim - 1 - (f + 1) * h1;
      if (rest <= 0 || rest % (h1 + 2) != 0) continue;
      const int64_t h2 = rest / (h1 + 2);
      if (h2 < 1 || h2 > h1) continue;
      const int64_t skew = std::abs(h1 - 2 * h2);
      if (!best.has_value() || skew < best_skew) {
        best = ModelShape{f, {h1, h2}};
        best_skew = skew;
      }
    }
  }
  if (best.has_value()) return *best;
  ModelShape nearest{7, {1}};
  for (int64_t h1 = 1; h1 <= kMaxUnits; ++h1) {
    const ModelShape candidate{7, {h1, std::max<int64_t>(1, h1 / 2)}};
    if (std::abs(candidate.parameters() - dim) < std::abs(nearest.parameters() - dim)) {
      nearest = candidate;
    }
  }
  return nearest;
}

// k about 2 log2 n (Bell et al. 2020's order, and benchmarks/crypto's
// grid); 0 (complete) when that reaches n - 1. A k-regular graph needs n k
// even.
int DefaultDegree(int sites) {
  int k = static_cast<int>(std::ceil(2.0 * std::log2(static_cast<double>(sites))));
  if (k % 2 == 1 && sites % 2 == 1) ++k;
  return k >= sites - 1 ? 0 : k;
}

std::string JobToml(const Options& options, const ModelShape& shape, int degree, int threshold) {
  std::string toml =
      absl::StrCat("[job]\nname = \"loadgen-n", options.sites, "-d", shape.parameters(),
                   "\"\ndescription = \"tessera_loadgen: synthetic sites, no training\"\n",
                   "dataset = \"synthetic\"\n\n[model]\nkind = \"mlp\"\nhidden = [",
                   absl::StrJoin(shape.hidden, ", "), "]\n\n[schema]\nlabel = \"y\"\n");
  for (int64_t i = 1; i <= shape.features; ++i) {
    absl::StrAppend(&toml, "[schema.columns.x", i, "]\ntype = \"numeric\"\n");
  }
  absl::StrAppend(&toml, "[schema.columns.y]\ntype = \"binary\"\n\n",
                  "[rounds]\ncount = ", options.rounds, "\nmin_sites = ", options.sites,
                  "\nmax_sites = ", options.sites,
                  "\nstage_timeout_seconds = ", options.stage_timeout_seconds,
                  "\nmax_attempts = 1\n\n[privacy]\nmode = \"", options.privacy, "\"\n");
  if (options.privacy == "site") {
    absl::StrAppend(&toml, "epsilon = ", options.epsilon, "\ndelta = 1e-5\nclip_norm = 1.0\n");
  }
  absl::StrAppend(&toml, "\n[secure_aggregation]\nthreshold = ", threshold,
                  "\nneighbours = ", degree, "\nbit_width = ", options.bits, "\n");
  return toml;
}

// One memcpy and one mask expansion of `bytes`, each the fastest of 7 runs
// in thread CPU time.
struct Baseline {
  double memcpy_seconds = 0;
  double mask_seconds = 0;
  double total() const { return memcpy_seconds + mask_seconds; }
};

double ThreadSeconds() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

absl::StatusOr<Baseline> MeasureBaseline(int64_t dim) {
  const auto words = static_cast<size_t>(dim);
  std::vector<uint32_t> source(words, 1), target(words, 2), mask(words, 3);
  std::vector<uint8_t> key(crypto::AesCtrPrg::kKeySize);
  TESSERA_RETURN_IF_ERROR(crypto::RandomBytes(absl::MakeSpan(key)));
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesCtrPrg> prg, crypto::AesCtrPrg::Create(key));
  Baseline best{1e9, 1e9};
  for (int run = 0; run < 7; ++run) {
    source[static_cast<size_t>(run) % words] = static_cast<uint32_t>(run);
    const double t0 = ThreadSeconds();
    std::memcpy(target.data(), source.data(), words * sizeof(uint32_t));
    const double t1 = ThreadSeconds();
    prg->Fill(absl::MakeSpan(mask));
    const double t2 = ThreadSeconds();
    best.memcpy_seconds = std::min(best.memcpy_seconds, t1 - t0);
    best.mask_seconds = std::min(best.mask_seconds, t2 - t1);
  }
  // The copies must be observable, or the compiler may drop them.
  volatile uint32_t sink = target[words - 1] ^ mask[words - 1];
  (void)sink;
  return best;
}

// Where tessera-coordinator is: --coordinator, else next to this program in
// the build tree (../../coordinator/), else the path CMake baked in.
std::string CoordinatorBinary(const Options& options) {
  if (!options.coordinator_bin.empty()) return options.coordinator_bin;
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    for (const auto& candidate :
         {self.parent_path() / "tessera-coordinator",
          self.parent_path().parent_path().parent_path() / "coordinator" / "tessera-coordinator"}) {
      if (std::filesystem::exists(candidate, error)) return candidate.string();
    }
  }
  return TESSERA_LOADGEN_COORDINATOR_BIN;
}

std::shared_ptr<grpc::Channel> AdminChannel(const std::string& address,
                                            std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  return grpc::CreateCustomChannel(address, std::move(credentials), args);
}

absl::StatusOr<tessera::v1::ObjectRef> UploadAsAdmin(tessera::v1::Admin::Stub& admin,
                                                     absl::string_view bytes) {
  TESSERA_ASSIGN_OR_RETURN(
      tessera::v1::UploadResponse uploaded,
      transport::UploadObject(
          [&admin](grpc::ClientContext* context, tessera::v1::UploadResponse* response) {
            return admin.UploadObject(context, response);
          },
          bytes, nullptr, absl::Minutes(5)));
  return uploaded.object();
}

template <typename Request, typename Response, typename Call>
absl::StatusOr<Response> AdminCall(Call call, const Request& request) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  Response response;
  grpc::Status status = call(&context, request, &response);
  if (!status.ok()) return transport::FromGrpcStatus(status);
  return response;
}

double Median(std::vector<double> values) {
  if (values.empty()) return std::nan("");
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

std::string LastLines(const std::string& text, size_t lines) {
  size_t position = text.size();
  for (size_t seen = 0; position > 0 && seen <= lines; --position) {
    if (text[position - 1] == '\n') ++seen;
  }
  return text.substr(position);
}

// The --memory-trace file: "seconds,rss_mib" per sample, seconds from
// `start`, then one "# seconds round stage" comment line per stage first
// seen by a site (TRAIN: the task).
absl::Status WriteMemoryTrace(const std::string& path, absl::Time start,
                              const std::vector<std::pair<absl::Time, uint64_t>>& samples,
                              const std::map<std::pair<uint32_t, int>, absl::Time>& stages) {
  std::string text = "seconds,rss_mib\n";
  for (const auto& [time, rss] : samples) {
    absl::StrAppendFormat(&text, "%.3f,%.2f\n", absl::ToDoubleSeconds(time - start),
                          static_cast<double>(rss) / (1024.0 * 1024.0));
  }
  for (const auto& [key, time] : stages) {
    const auto stage = static_cast<tessera::v1::Stage>(key.second);
    absl::StrAppendFormat(&text, "# %.3f %d %s\n", absl::ToDoubleSeconds(time - start), key.first,
                          tessera::v1::Stage_Name(stage));
  }
  return WriteFileAtomically(path, text, 0644);
}

absl::Status Run(const Options& options) {
  if (options.sites < 3) return absl::InvalidArgumentError("--sites must be at least 3");
  if (options.dim < 10) return absl::InvalidArgumentError("--dim must be at least 10");
  if (options.rounds < 1) return absl::InvalidArgumentError("--rounds must be at least 1");
  if (options.privacy != "site" && options.privacy != "none") {
    return absl::InvalidArgumentError("--privacy must be \"site\" or \"none\"");
  }
  const ModelShape shape = ShapeFor(options.dim);
  const int64_t dim = shape.parameters();
  const int degree = options.degree >= 0 ? options.degree : DefaultDegree(options.sites);
  const int effective_degree = degree == 0 ? options.sites - 1 : degree;
  const int threshold = options.threshold > 0 ? options.threshold : effective_degree / 2 + 1;
  const std::string job_toml = JobToml(options, shape, degree, threshold);
  TESSERA_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::FromString(job_toml, "loadgen job"));
  TESSERA_ASSIGN_OR_RETURN(coordinator::JobSpec spec, coordinator::ParseJobSpec(reader));
  auto log = [](const std::string& line) { std::cerr << "tessera_loadgen: " << line << std::endl; };
  if (dim != options.dim) {
    log(absl::StrCat("no built-in MLP has d = ", options.dim,
                     " parameters; using the nearest, d = ", dim));
  }

  // 1. Baseline, before any other thread runs.
  TESSERA_ASSIGN_OR_RETURN(Baseline baseline, MeasureBaseline(dim));

  // 2. PKI and the coordinator process (forked before this process has
  // threads or gRPC channels).
  std::optional<TempDir> temp;
  std::string dir = options.work_dir;
  if (dir.empty()) {
    temp.emplace();
    dir = temp->path();
    if (dir.empty()) return absl::InternalError("cannot create a temporary directory");
  } else {
    // A fresh coordinator every run: no state or port file from an earlier one.
    std::error_code ignored;
    std::filesystem::remove_all(dir + "/coordinator-state", ignored);
    std::filesystem::remove(dir + "/coordinator.port", ignored);
    std::filesystem::create_directories(dir, ignored);
  }
  log(absl::StrCat("making the PKI for ", options.sites, " sites in ", dir));
  TESSERA_ASSIGN_OR_RETURN(LoadgenPki pki, CreateLoadgenPki(dir, options.sites, absl::Now()));
  const std::string config_path = dir + "/coordinator.toml";
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(
      config_path,
      absl::StrCat("[server]\nlisten = \"127.0.0.1:0\"\n[tls]\nca_file = \"",
                   pki.coordinator.ca_file, "\"\ncert_file = \"", pki.coordinator.cert_file,
                   "\"\nkey_file = \"", pki.coordinator.key_file, "\"\n[storage]\ndir = \"", dir,
                   "/coordinator-state\"\n[log]\nlevel = \"info\"\n"),
      0600));
  const std::string port_file = dir + "/coordinator.port";
  const std::string coordinator_log = dir + "/coordinator.log";
  const std::string binary = CoordinatorBinary(options);
  std::map<std::string, std::string> environment;
  for (const std::string& entry : options.coordinator_env) {
    const size_t equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--coordinator-env takes KEY=VALUE, not `", entry, "`"));
    }
    environment[entry.substr(0, equals)] = entry.substr(equals + 1);
  }
  TESSERA_ASSIGN_OR_RETURN(Subprocess coordinator,
                           Subprocess::Start(
                               {binary, "serve", "--config", config_path, "--port-file", port_file},
                               coordinator_log, environment));
  auto port_text = WaitForFile(port_file, absl::Seconds(30));
  if (!port_text.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the coordinator (", binary, ") did not start: ", coordinator.Output()));
  }
  int port = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*port_text), &port)) {
    return absl::InternalError(absl::StrCat("bad port file: ", *port_text));
  }
  const std::string address = absl::StrCat("127.0.0.1:", port);
  log(absl::StrCat("coordinator pid ", coordinator.pid(), " on ", address));

  // 3. The sites.
  LoadStats stats(coordinator.pid());
  SyntheticContribution contribution(options.seed);
  const int cpus = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  Permits compute(options.workers > 0 ? options.workers : cpus);
  Permits transfers(8);
  SendBarrier burst;
  SiteShared shared;
  shared.coordinator_address = address;
  TESSERA_ASSIGN_OR_RETURN(shared.authenticator,
                           crypto::secagg::PeerAuthenticator::Create({pki.ca_pem, "site"}));
  shared.contribution = &contribution;
  shared.compute = &compute;
  shared.transfers = &transfers;
  shared.stats = &stats;
  shared.burst = options.burst ? &burst : nullptr;
  std::vector<std::unique_ptr<SyntheticSite>> sites;
  for (const transport::TlsFiles& files : pki.sites) {
    TESSERA_ASSIGN_OR_RETURN(auto site, SyntheticSite::Create(files, shared));
    sites.push_back(std::move(site));
  }
  absl::Duration heartbeat_interval = absl::Seconds(10);
  for (auto& site : sites) {
    TESSERA_ASSIGN_OR_RETURN(heartbeat_interval, site->SendHeartbeat());
  }
  log(absl::StrCat(sites.size(), " sites connected"));
  absl::Notification stop;
  std::vector<std::thread> threads;
  for (auto& site : sites) {
    threads.emplace_back([&stop, raw = site.get()] { raw->Run(stop); });
  }
  std::thread heartbeats([&] {
    while (!stop.WaitForNotificationWithTimeout(heartbeat_interval)) {
      for (auto& site : sites) {
        if (stop.HasBeenNotified()) return;
        auto sent = site->SendHeartbeat();
        if (!sent.ok()) stats.AddError(std::string(sent.status().message()));
      }
    }
  });
  // --memory-trace: the coordinator's resident set every 20 ms.
  std::vector<std::pair<absl::Time, uint64_t>> rss_samples;
  std::thread sampler;
  if (!options.memory_trace.empty()) {
    sampler = std::thread([&stop, &rss_samples, pid = coordinator.pid()] {
      do {
        auto rss = ProcessMemoryBytes(pid, "VmRSS");
        if (rss.ok()) rss_samples.emplace_back(absl::Now(), *rss);
      } while (!stop.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
    });
  }
  // Whatever happens next, stop the threads before returning.
  struct Joiner {
    absl::Notification& stop;
    Subprocess& coordinator;
    std::vector<std::thread>& threads;
    std::thread& heartbeats;
    std::thread& sampler;
    ~Joiner() {
      if (!stop.HasBeenNotified()) stop.Notify();
      if (sampler.joinable()) sampler.join();
      if (coordinator.running()) {
        coordinator.Signal(SIGTERM);
        coordinator.Wait(absl::Seconds(30)).IgnoreError();
      }
      heartbeats.join();
      for (std::thread& thread : threads) thread.join();
    }
  } joiner{stop, coordinator, threads, heartbeats, sampler};

  // 4. Submit and approve the job.
  TESSERA_ASSIGN_OR_RETURN(auto lead_credentials, transport::MakeChannelCredentials(pki.ml_lead));
  TESSERA_ASSIGN_OR_RETURN(auto governance_credentials,
                           transport::MakeChannelCredentials(pki.governance));
  auto lead = tessera::v1::Admin::NewStub(AdminChannel(address, lead_credentials));
  auto governance = tessera::v1::Admin::NewStub(AdminChannel(address, governance_credentials));
  const std::string model_file =
      "tessera_loadgen placeholder model file: the synthetic sites do not train\n";
  Eigen::VectorXf initial(dim);
  for (int64_t i = 0; i < dim; ++i) {
    initial[i] = 0.01f * static_cast<float>((i * 7919) % 201 - 100) / 100.0f;
  }
  TESSERA_ASSIGN_OR_RETURN(tessera::v1::ObjectRef model_ref, UploadAsAdmin(*lead, model_file));
  TESSERA_ASSIGN_OR_RETURN(tessera::v1::ObjectRef parameters_ref,
                           UploadAsAdmin(*lead, ParameterBytes(initial)));
  Mark idle = stats.Sample();
  double idle_cpu_per_second = std::nan("");
  if (options.idle_seconds > 0) {
    absl::SleepFor(absl::Seconds(options.idle_seconds));
    const Mark later = stats.Sample();
    idle_cpu_per_second = (later.coordinator_cpu_seconds - idle.coordinator_cpu_seconds) /
                          absl::ToDoubleSeconds(later.time - idle.time);
    idle = later;
  }
  tessera::v1::SubmitJobRequest submit;
  submit.set_spec_json(coordinator::CanonicalJson(spec));
  submit.set_model_sha256(model_ref.sha256_hex());
  submit.set_initial_parameters_sha256(parameters_ref.sha256_hex());
  TESSERA_ASSIGN_OR_RETURN(
      auto submitted, (AdminCall<tessera::v1::SubmitJobRequest, tessera::v1::SubmitJobResponse>(
                          [&](grpc::ClientContext* c, const auto& rq, auto* rs) {
                            return lead->SubmitJob(c, rq, rs);
                          },
                          submit)));
  tessera::v1::DecideJobRequest decide;
  decide.set_job_id(submitted.job_id());
  decide.set_spec_sha256(submitted.spec_sha256());
  decide.set_approve(true);
  decide.set_allow_non_private(options.privacy == "none");
  TESSERA_RETURN_IF_ERROR((AdminCall<tessera::v1::DecideJobRequest, tessera::v1::DecideJobResponse>(
                               [&](grpc::ClientContext* c, const auto& rq, auto* rs) {
                                 return governance->DecideJob(c, rq, rs);
                               },
                               decide))
                              .status());
  log(absl::StrCat("job ", submitted.job_id(), " approved: ", options.rounds, " rounds, n = ",
                   options.sites, ", d = ", dim, ", k = ", effective_degree, ", t = ", threshold));

  // 5. Follow it to the end.
  tessera::v1::GetJobRequest get;
  get.set_job_id(submitted.job_id());
  auto get_job = [&] {
    return AdminCall<tessera::v1::GetJobRequest, tessera::v1::GetJobResponse>(
        [&](grpc::ClientContext* c, const auto& rq, auto* rs) { return lead->GetJob(c, rq, rs); },
        get);
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(options.timeout_seconds);
  tessera::v1::GetJobResponse job;
  uint32_t reported = 0;
  int failures = 0;
  while (true) {
    auto answer = get_job();
    if (!answer.ok()) {
      if (++failures >= 10) return Annotate(answer.status(), "following the job");
    } else {
      failures = 0;
      job = std::move(*answer);
      const std::string& state = job.summary().state();
      if (state == "completed" || state == "failed" || state == "stopped" || state == "rejected") {
        break;
      }
      if (job.summary().rounds_completed() != reported) {
        reported = job.summary().rounds_completed();
        log(absl::StrCat("round ", reported, " of ", options.rounds, " done"));
      }
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("the job did not end within ", options.timeout_seconds,
                       " s; coordinator log:\n", LastLines(coordinator.Output(), 20)));
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  const Mark end = stats.Sample();
  const uint64_t peak_rss = ProcessMemoryBytes(coordinator.pid(), "VmHWM").value_or(0);
  if (!options.memory_trace.empty()) {
    stop.Notify();  // the sites' loops end with the coordinator, after the figures
    sampler.join();
    TESSERA_RETURN_IF_ERROR(
        WriteMemoryTrace(options.memory_trace, idle.time, rss_samples, stats.stage_marks()));
  }
  if (job.summary().state() != "completed") {
    return absl::AbortedError(absl::StrCat("the job ended ", job.summary().state(), ": ",
                                           job.summary().state_reason(), "\ncoordinator log:\n",
                                           LastLines(coordinator.Output(), 20)));
  }

  // 6. The figures. A round is measured from the moment the first site
  // receives its task to the moment the first site receives the next
  // round's task: every stage, the decode, the strategy step, the commit
  // and the wait for the round strand's next tick. The last round would end
  // when the job is seen completed (polled every 250 ms), so it counts only
  // in a one-round run. The coordinator's round records (started, finished)
  // are reported too; they end before the decode and commit.
  std::vector<double> record_seconds;
  for (const auto& round : job.rounds()) {
    if (round.round() >= 1 && round.outcome() == "completed") {
      record_seconds.push_back(
          static_cast<double>(round.finished_unix_ms() - round.started_unix_ms()) / 1000.0);
    }
  }
  const std::map<uint32_t, Mark> marks = stats.task_marks();
  std::vector<double> round_seconds, cpu_seconds, loadgen_seconds;
  for (uint32_t r = 1; r <= static_cast<uint32_t>(options.rounds); ++r) {
    auto from = marks.find(r);
    if (from == marks.end()) continue;
    auto to = marks.find(r + 1);
    if (to == marks.end() && options.rounds > 1) continue;
    const Mark& next = to == marks.end() ? end : to->second;
    round_seconds.push_back(absl::ToDoubleSeconds(next.time - from->second.time));
    cpu_seconds.push_back(next.coordinator_cpu_seconds - from->second.coordinator_cpu_seconds);
    loadgen_seconds.push_back(next.loadgen_cpu_seconds - from->second.loadgen_cpu_seconds);
  }
  Traffic training;
  for (const auto& [round, traffic] : stats.traffic()) {
    if (round == 0) continue;
    training.sent += traffic.sent;
    training.received += traffic.received;
    training.downloaded += traffic.downloaded;
  }
  const double site_rounds = static_cast<double>(options.sites) * options.rounds;
  const double round_s = Median(round_seconds);
  const double cpu_s = Median(cpu_seconds);
  const double loadgen_s = Median(loadgen_seconds);
  const uint64_t loadgen_peak = ProcessMemoryBytes(::getpid(), "VmHWM").value_or(0);
  const double mib = 1024.0 * 1024.0;
  json out = {
      {"sites", options.sites},
      {"dim", dim},
      {"model", absl::StrCat(shape.features, "-", absl::StrJoin(shape.hidden, "-"), "-1")},
      {"degree", effective_degree},
      {"complete_graph", degree == 0},
      {"threshold", threshold},
      {"privacy", options.privacy},
      {"bit_width", options.bits},
      {"rounds", options.rounds},
      {"burst", options.burst},
      {"workers", options.workers > 0 ? options.workers : cpus},
      {"job_id", submitted.job_id()},
      {"round_seconds_median", round_s},
      {"round_seconds", round_seconds},
      {"record_seconds_median", Median(record_seconds)},
      {"record_seconds", record_seconds},
      {"coordinator_cpu_seconds_per_round", cpu_s},
      {"coordinator_cpu_seconds", cpu_seconds},
      {"coordinator_peak_rss_bytes", peak_rss},
      {"coordinator_idle_rss_bytes", idle.coordinator_rss_bytes},
      {"coordinator_end_rss_bytes", end.coordinator_rss_bytes},
      {"coordinator_idle_cpu_per_second", idle_cpu_per_second},
      {"loadgen_cpu_seconds_per_round", loadgen_s},
      {"loadgen_peak_rss_bytes", loadgen_peak},
      {"sent_bytes_per_site_round", static_cast<double>(training.sent) / site_rounds},
      {"received_bytes_per_site_round", static_cast<double>(training.received) / site_rounds},
      {"downloaded_bytes_per_site_round", static_cast<double>(training.downloaded) / site_rounds},
      {"baseline_memcpy_seconds", baseline.memcpy_seconds},
      {"baseline_mask_seconds", baseline.mask_seconds},
      {"baseline_seconds", baseline.total()},
      {"round_over_baseline", round_s / baseline.total()},
      {"coordinator_cpu_over_baseline", cpu_s / baseline.total()},
      {"errors", stats.error_count()},
      {"first_errors", stats.first_errors()},
  };
  if (options.json) {
    std::cout << out.dump(2) << std::endl;
  } else {
    std::cout << absl::StrFormat(
        "| n | d | k | round s | coordinator CPU s/round | coordinator peak RSS MiB (idle) | "
        "sent MB/site/round | received MB/site/round | load generator CPU s/round | baseline ms "
        "| round / baseline | coordinator CPU / baseline |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
        "| %d | %d | %d%s | %.3f | %.3f | %.1f (%.1f) | %.3f | %.3f | %.2f | %.3f | %.0f | %.0f "
        "|\n",
        options.sites, dim, effective_degree, degree == 0 ? " (complete)" : "", round_s, cpu_s,
        static_cast<double>(peak_rss) / mib, static_cast<double>(idle.coordinator_rss_bytes) / mib,
        static_cast<double>(training.sent) / site_rounds / 1e6,
        static_cast<double>(training.received) / site_rounds / 1e6, loadgen_s,
        1e3 * baseline.total(), round_s / baseline.total(), cpu_s / baseline.total());
    std::cout << absl::StrFormat(
        "MLP %s, t = %d, privacy %s, b = %d, %d training rounds (the statistics round 0 "
        "excluded); round and CPU: median over whole rounds, from the first site's task to the "
        "next (the coordinator's own round records, which end before decode and commit: %.3f s); "
        "bytes: serialised protobuf messages and downloaded objects (%.3f MB/site/round of the "
        "received), no TLS or HTTP/2 framing; baseline: memcpy %.3f ms + AES-CTR mask %.3f ms of "
        "%d bytes; load generator peak RSS %.0f MiB.\n",
        out["model"].get<std::string>(), threshold, options.privacy, options.bits, options.rounds,
        Median(record_seconds), static_cast<double>(training.downloaded) / site_rounds / 1e6,
        1e3 * baseline.memcpy_seconds, 1e3 * baseline.mask_seconds, dim * 4,
        static_cast<double>(loadgen_peak) / mib);
  }
  if (stats.error_count() > 0) {
    std::string errors;
    for (const std::string& error : stats.first_errors()) absl::StrAppend(&errors, "\n  ", error);
    return absl::InternalError(
        absl::StrCat(stats.error_count(), " site errors; the figures are suspect:", errors));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace tessera::loadgen

int main(int argc, char** argv) {
  using namespace tessera;
  if (absl::Status status = transport::RestrictProcessToTls13(); !status.ok()) {
    std::cerr << "tessera_loadgen: error: " << status.message() << "\n";
    return kExitFailure;
  }
  loadgen::Options options;
  CLI::App app(
      "tessera_loadgen: starts a real tessera-coordinator on 127.0.0.1, runs N synthetic sites "
      "in this process (real mTLS, heartbeats and secure aggregation; synthetic updates instead "
      "of training), runs one job and prints round time, coordinator CPU and memory per round "
      "and bytes per site.",
      "tessera_loadgen");
  app.add_option("--sites", options.sites, "Number of sites n (>= 3)")->capture_default_str();
  app.add_option("--dim", options.dim,
                 "Model parameters d (a built-in MLP of exactly d parameters)")
      ->capture_default_str();
  app.add_option("--rounds", options.rounds, "Training rounds R")->capture_default_str();
  app.add_option("--degree", options.degree,
                 "Neighbours k per site; 0 for the complete graph; default ceil(2 log2 n)");
  app.add_option("--threshold", options.threshold, "Threshold t; default floor(k/2) + 1");
  app.add_option("--privacy", options.privacy, "site (distributed DP) or none")
      ->capture_default_str();
  app.add_option("--epsilon", options.epsilon, "Target epsilon over the job (privacy site)")
      ->capture_default_str();
  app.add_option("--bits", options.bits, "Secure-aggregation bit width b")->capture_default_str();
  app.add_option("--workers", options.workers,
                 "Sites computing at once (default: the number of CPUs)");
  app.add_flag("--burst", options.burst,
               "Hold each round's masked inputs until every site has made its own, then send "
               "them together (worst case for the coordinator's memory)");
  app.add_option("--coordinator", options.coordinator_bin,
                 "tessera-coordinator binary (default: found in the build tree)");
  app.add_option("--coordinator-env", options.coordinator_env,
                 "KEY=VALUE added to the coordinator's environment (repeatable), e.g. "
                 "MALLOC_ARENA_MAX=1");
  app.add_option("--work-dir", options.work_dir,
                 "Keep the PKI, coordinator state and log here (default: a temporary directory, "
                 "removed)");
  app.add_option("--timeout", options.timeout_seconds, "Give up after this many seconds")
      ->capture_default_str();
  app.add_option("--idle-seconds", options.idle_seconds,
                 "Before submitting the job, measure the coordinator's CPU use over this many "
                 "seconds with every site connected and polling (reported as "
                 "coordinator_idle_cpu_per_second)");
  app.add_option("--stage-timeout", options.stage_timeout_seconds,
                 "The job's stage timeout in seconds")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Seed of the synthetic update vector")
      ->capture_default_str();
  app.add_option("--memory-trace", options.memory_trace,
                 "Write the coordinator's resident memory every 20 ms, with the moments each "
                 "round stage began, to this CSV file");
  app.add_flag("--json", options.json, "Print one JSON object instead of the table");
  CommandResult result;
  app.callback(result.Bind([&options] { return loadgen::Run(options); }));
  return RunApp(app, result, argc, argv);
}
