#include "tests/model/model_test_util.h"

#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "model/random.h"
#include "privacy/random.h"
#include "tests/testing/subprocess.h"

namespace tessera::model::testing {

Data SeparableData(int64_t n, int64_t features, uint64_t seed) {
  privacy::Xoshiro256StarStar random(seed);
  Data data{Eigen::MatrixXf(n, features), Eigen::VectorXf(n)};
  for (int64_t i = 0; i < n; ++i) {
    double score = 0.25;
    for (int64_t j = 0; j < features; ++j) {
      const double x = SampleGaussian(random);
      data.features(i, j) = static_cast<float>(x);
      score += (j % 2 == 0 ? 1.0 : -0.5) * x;
    }
    data.targets[i] = score > 0 ? 1.0f : 0.0f;
  }
  return data;
}

Data ThreeClassData(int64_t n, int64_t features, uint64_t seed) {
  privacy::Xoshiro256StarStar random(seed);
  Data data{Eigen::MatrixXf(n, features), Eigen::VectorXf(n)};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % 3;
    for (int64_t j = 0; j < features; ++j) {
      data.features(i, j) =
          static_cast<float>(SampleGaussian(random) + (j == label ? 2.5 : 0.0));
    }
    data.targets[i] = static_cast<float>(label);
  }
  return data;
}

Eigen::VectorXf UniformVector(int64_t size, float scale, uint64_t seed) {
  privacy::Xoshiro256StarStar random(seed);
  Eigen::VectorXf values(size);
  for (int64_t i = 0; i < size; ++i) {
    values[i] = scale * static_cast<float>(2.0 * privacy::Uniform01(random) - 1.0);
  }
  return values;
}

absl::StatusOr<std::unique_ptr<Model>> ReloadAsTorchScript(Model& model) {
  absl::StatusOr<std::string> bytes = model.SerializeTorchScript();
  if (!bytes.ok()) return bytes.status();
  return Model::LoadTorchScript(*bytes);
}

std::string TestdataPath(const std::string& name) {
  return std::string(TESSERA_MODEL_TESTDATA) + "/" + name;
}

std::optional<std::string> PythonWithTorch() {
  std::vector<std::string> candidates;
  if (const char* configured = std::getenv("TESSERA_PYTHON")) candidates.emplace_back(configured);
  if (const char* path = std::getenv("PATH")) {
    for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      candidates.push_back(std::string(dir) + "/python3");
    }
  }
  candidates.emplace_back("/usr/bin/python3");
  for (const std::string& candidate : candidates) {
    if (::access(candidate.c_str(), X_OK) != 0) continue;
    auto run = tessera::testing::RunCommand({candidate, "-c", "import torch"}, absl::Seconds(60));
    if (run.ok() && run->exit_code == 0) return candidate;
  }
  return std::nullopt;
}

double MaxRelativeDifference(const Eigen::MatrixXf& a, const Eigen::MatrixXf& b) {
  double worst = 0.0;
  for (Eigen::Index j = 0; j < a.cols(); ++j) {
    for (Eigen::Index i = 0; i < a.rows(); ++i) {
      const double scale = std::max(1.0, std::abs(static_cast<double>(b(i, j))));
      worst = std::max(worst, std::abs(static_cast<double>(a(i, j)) - b(i, j)) / scale);
    }
  }
  return worst;
}

}  // namespace tessera::model::testing
