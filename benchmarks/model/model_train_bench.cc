// Training throughput of model/ against PyTorch, measured in the same run.
//
// Workload (the size of a typical trust's table): the built-in MLP
// 30-64-32-1 with BCE-with-logits on 10,000 rows x 30 features, batch 64,
// SGD, 5 epochs, one thread. Rows:
//  - PyTorch: benchmarks/model/pytorch_baseline.py run by python3 with
//    Debian's python3-torch (the loop an ML lead would write; training loop
//    only, no start-up), the baseline of every ratio;
//  - the C++ trainer on the built-in model (Eigen), non-private and DP-SGD
//    (Poisson lots of expected size 64, clip 1, sigma 1, noise and sampling
//    from the OS CSPRNG as in production);
//  - the C++ trainer on the same MLP exported and loaded as a TorchScript
//    module (libtorch autograd), non-private, and DP-SGD on 1 epoch (the
//    one-example-at-a-time fallback, for scale).
// Times are process CPU time (time.process_time() in Python), and each
// configuration runs `--repeats` times with the fastest run counting: on a
// shared machine other work only ever adds time.
//
// Usage: tessera_model_bench [--repeats N] [--python PATH]
// The python3 used is --python, else $TESSERA_PYTHON, else /usr/bin/python3,
// else python3 on $PATH; without one that imports torch the PyTorch row is
// skipped and ratios are not printed.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "model/model.h"
#include "model/random.h"
#include "privacy/random.h"
#include "model/trainer.h"

namespace tessera::model {
namespace {

constexpr int64_t kRows = 10000;
constexpr int64_t kFeatures = 30;
constexpr int64_t kBatch = 64;
constexpr int64_t kEpochs = 5;
constexpr double kLearningRate = 0.05;
const std::vector<int64_t> kHidden = {64, 32};

// CPU time of the whole process (every thread), so that other work on a
// shared machine does not inflate the figures.
double ProcessCpuSeconds() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

struct Measurement {
  std::string name;
  double seconds = 0;     // fastest run
  int64_t examples = 0;   // examples processed in that run
};

// Synthetic features (standard normal) and a label from a fixed linear rule;
// the data only set the work, not the timings.
void MakeData(Eigen::MatrixXf* features, Eigen::VectorXf* targets) {
  privacy::Xoshiro256StarStar random(2024);
  features->resize(kRows, kFeatures);
  targets->resize(kRows);
  for (int64_t j = 0; j < kFeatures; ++j) {
    for (int64_t i = 0; i < kRows; ++i) (*features)(i, j) = static_cast<float>(SampleGaussian(random));
  }
  for (int64_t i = 0; i < kRows; ++i) {
    (*targets)[i] = (*features)(i, 0) - 0.5f * (*features)(i, 1) + 0.25f > 0 ? 1.0f : 0.0f;
  }
}

std::optional<Measurement> TimeTraining(const std::string& name, Model& model,
                                        const Eigen::MatrixXf& features,
                                        const Eigen::VectorXf& targets,
                                        const TrainOptions& options, int repeats) {
  const FlatParams start = model.GetParameters();
  Measurement best{name, 1e300, 0};
  for (int r = 0; r < repeats; ++r) {
    const double began = ProcessCpuSeconds();
    absl::StatusOr<TrainResult> result = Train(model, features, targets, start, options);
    const double elapsed = ProcessCpuSeconds() - began;
    if (!result.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), result.status().ToString().c_str());
      return std::nullopt;
    }
    if (elapsed < best.seconds) {
      best.seconds = elapsed;
      best.examples = result->examples_seen;
    }
  }
  if (!model.SetParameters(start).ok()) return std::nullopt;
  return best;
}

// Runs the PyTorch baseline; nullopt (with a message) when no python3 with
// torch is available.
std::optional<Measurement> TimePyTorch(const std::string& python, int repeats,
                                       std::string* version) {
  std::string hidden;
  for (int64_t h : kHidden) absl::StrAppend(&hidden, hidden.empty() ? "" : ",", h);
  const std::string command =
      absl::StrCat("'", python, "' '", TESSERA_MODEL_BENCH_DIR, "/pytorch_baseline.py' ", kRows,
                   " ", kFeatures, " ", hidden, " ", kBatch, " ", kEpochs, " ", repeats, " ",
                   kLearningRate, " 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  Measurement best{"", 1e300, kRows * kEpochs};
  std::string output;
  char line[512];
  bool any = false;
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    output += line;
    double seconds = 0;
    std::string text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.rfind("seconds ", 0) == 0 && absl::SimpleAtod(text.substr(8), &seconds)) {
      best.seconds = std::min(best.seconds, seconds);
      any = true;
    } else if (text.rfind("torch ", 0) == 0) {
      *version = text.substr(6);
    }
  }
  const int status = ::pclose(pipe);
  if (status != 0 || !any) {
    std::fprintf(stderr, "PyTorch baseline with %s failed:\n%s\n", python.c_str(), output.c_str());
    return std::nullopt;
  }
  best.name = absl::StrCat("PyTorch ", *version, " (python3, torch.optim.SGD)");
  return best;
}

std::vector<std::string> PythonCandidates(const char* flag) {
  std::vector<std::string> candidates;
  if (flag != nullptr) return {flag};
  if (const char* configured = std::getenv("TESSERA_PYTHON")) candidates.emplace_back(configured);
  candidates.emplace_back("/usr/bin/python3");
  candidates.emplace_back("python3");
  return candidates;
}

int Main(int argc, char** argv) {
  int repeats = 5;
  const char* python_flag = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--repeats") == 0 && absl::SimpleAtoi(argv[i + 1], &repeats) &&
        repeats >= 1) {
      continue;
    }
    if (std::strcmp(argv[i], "--python") == 0) {
      python_flag = argv[i + 1];
      continue;
    }
    std::fprintf(stderr, "usage: %s [--repeats N] [--python PATH]\n", argv[0]);
    return 2;
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "usage: %s [--repeats N] [--python PATH]\n", argv[0]);
    return 2;
  }

  Eigen::MatrixXf features;
  Eigen::VectorXf targets;
  MakeData(&features, &targets);
  absl::StatusOr<std::unique_ptr<Model>> builtin = Model::Mlp(kFeatures, kHidden, 1, 1);
  if (!builtin.ok()) return 1;
  absl::StatusOr<std::string> bytes = (*builtin)->SerializeTorchScript();
  if (!bytes.ok()) return 1;
  absl::StatusOr<std::unique_ptr<Model>> scripted = Model::LoadTorchScript(*bytes);
  if (!scripted.ok()) return 1;

  TrainOptions plain;
  plain.loss = LossKind::kBinaryCrossEntropyWithLogits;
  plain.optimizer.learning_rate = kLearningRate;
  plain.epochs = kEpochs;
  plain.batch_size = kBatch;
  plain.threads = 1;
  TrainOptions dp = plain;
  dp.dp.enabled = true;
  dp.dp.clip_norm = 1.0;
  dp.dp.noise_multiplier = 1.0;
  TrainOptions dp_one_epoch = dp;
  dp_one_epoch.epochs = 1;

  std::optional<Measurement> pytorch;
  std::string version;
  for (const std::string& python : PythonCandidates(python_flag)) {
    pytorch = TimePyTorch(python, repeats, &version);
    if (pytorch) break;
  }

  std::vector<std::optional<Measurement>> rows = {
      TimeTraining("C++ built-in MLP, SGD", **builtin, features, targets, plain, repeats),
      TimeTraining("C++ built-in MLP, DP-SGD (C 1, sigma 1)", **builtin, features, targets, dp,
                   repeats),
      TimeTraining("C++ TorchScript MLP, SGD", **scripted, features, targets, plain, repeats),
      TimeTraining("C++ TorchScript MLP, DP-SGD, 1 epoch", **scripted, features, targets,
                   dp_one_epoch, 1),
  };

  std::printf("Training throughput: MLP %lld-64-32-1, BCE, %lld rows x %lld features, batch %lld,"
              " %lld epochs (DP rows: expected lot %lld), 1 thread; process CPU seconds, fastest of %d"
              " runs\n\n",
              static_cast<long long>(kFeatures), static_cast<long long>(kRows),
              static_cast<long long>(kFeatures), static_cast<long long>(kBatch),
              static_cast<long long>(kEpochs), static_cast<long long>(kBatch), repeats);
  std::printf("| %-46s | %9s | %12s | %16s |\n", "run", "seconds", "examples/s",
              "speed vs PyTorch");
  std::printf("|%s|%s|%s|%s|\n", std::string(48, '-').c_str(), std::string(11, '-').c_str(),
              std::string(14, '-').c_str(), std::string(18, '-').c_str());
  auto print = [&](const Measurement& m) {
    const double throughput = static_cast<double>(m.examples) / m.seconds;
    std::string ratio = "-";
    if (pytorch) {
      const double baseline = static_cast<double>(pytorch->examples) / pytorch->seconds;
      ratio = absl::StrFormat("%.2fx", throughput / baseline);
    }
    std::printf("| %-46s | %9.4f | %12.0f | %16s |\n", m.name.c_str(), m.seconds, throughput,
                ratio.c_str());
  };
  if (pytorch) print(*pytorch);
  for (const auto& row : rows) {
    if (row) print(*row);
  }
  if (!rows[0] || !rows[1]) return 1;
  const double plain_rate = static_cast<double>(rows[0]->examples) / rows[0]->seconds;
  const double dp_rate = static_cast<double>(rows[1]->examples) / rows[1]->seconds;
  std::printf("\nDP-SGD cost on the built-in MLP: %.2fx the time per example of non-private "
              "training (target: within 2x)\n",
              plain_rate / dp_rate);
  if (pytorch) {
    const double baseline = static_cast<double>(pytorch->examples) / pytorch->seconds;
    std::printf("C++ built-in SGD vs PyTorch: %.2fx faster (target: at least 1.3x)\n",
                plain_rate / baseline);
  } else {
    std::printf("PyTorch baseline skipped: no python3 with torch (install python3-torch or set "
                "TESSERA_PYTHON)\n");
  }
  return 0;
}

}  // namespace
}  // namespace tessera::model

int main(int argc, char** argv) { return tessera::model::Main(argc, argv); }
