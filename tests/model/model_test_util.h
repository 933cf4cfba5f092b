// Shared helpers of the model/ tests: synthetic data sets, the fixture
// folder, and finding a Python interpreter with PyTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "common/flat_params.h"
#include "model/model.h"

namespace tessera::model::testing {

// n examples with `features` standard-normal features (seeded) and a 0/1
// label given by the sign of a fixed direction w.x + 0.25 (w_j alternating
// 1, -0.5), so a linear classifier can separate them perfectly.
struct Data {
  Eigen::MatrixXf features;
  Eigen::VectorXf targets;
};
Data SeparableData(int64_t n, int64_t features, uint64_t seed);

// Three Gaussian blobs (class k centred at 2.5 * e_k) in `features` >= 3
// dimensions, labels 0, 1, 2 as floats.
Data ThreeClassData(int64_t n, int64_t features, uint64_t seed);

// Values drawn uniformly from [-scale, scale] (seeded), e.g. for parameters.
Eigen::VectorXf UniformVector(int64_t size, float scale, uint64_t seed);

// `model` exported as TorchScript and loaded back: the same network run by
// libtorch autograd (the general path) instead of the built-in closed form.
absl::StatusOr<std::unique_ptr<Model>> ReloadAsTorchScript(Model& model);

// The absolute path of a file in tests/model/testdata/.
std::string TestdataPath(const std::string& name);

// The path of a python3 that can `import torch`: $TESSERA_PYTHON, then each
// python3 on $PATH, then /usr/bin/python3. nullopt when none can.
std::optional<std::string> PythonWithTorch();

// max |a - b| / max(1, |b|) over all entries; a and b must have equal sizes.
double MaxRelativeDifference(const Eigen::MatrixXf& a, const Eigen::MatrixXf& b);

}  // namespace tessera::model::testing
