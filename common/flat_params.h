// The vocabulary for model parameters outside model/: a ModelSpec (tensor
// names, shapes and their canonical order) and FlatParams (one flat float
// buffer laid out in that order).
//
// Only model/ sees torch tensors; every other part (secure aggregation,
// privacy, aggregation strategies, storage) works on FlatParams. The
// canonical order is the order in which the model's trainable parameters are
// registered; agent and coordinator must agree on it, which Fingerprint()
// lets them check cheaply.
//
// Thread-safety: both types are plain values; const methods are safe to call
// concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

struct TensorSpec {
  std::string name;            // e.g. "fc1.weight"
  std::vector<int64_t> shape;  // e.g. {16, 30}; empty for a scalar
  int64_t NumElements() const;
  bool operator==(const TensorSpec& other) const;
};

class ModelSpec {
 public:
  // Validates and builds a spec. INVALID_ARGUMENT when the list is empty, a
  // name is empty or repeated, a dimension is not positive, or the total
  // number of parameters exceeds 2^31 - 1.
  static absl::StatusOr<ModelSpec> Create(std::vector<TensorSpec> tensors);

  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  // Total number of scalar parameters.
  int64_t size() const { return size_; }
  // Offset of tensor `index` in the flat buffer. Precondition: index < tensors().size().
  int64_t offset(size_t index) const { return offsets_[index]; }
  // Index of the tensor called `name`; NOT_FOUND naming the tensor otherwise.
  absl::StatusOr<size_t> IndexOf(absl::string_view name) const;

  // A stable, human-readable one-line description:
  // "fc.weight[1,30] fc.bias[1] (31 parameters)".
  std::string Describe() const;
  // A canonical text encoding (one "name:d0,d1,..." per line) that two
  // parties hash to check they agree on the layout.
  std::string Fingerprint() const;

  bool operator==(const ModelSpec& other) const { return tensors_ == other.tensors_; }
  bool operator!=(const ModelSpec& other) const { return !(*this == other); }

 private:
  ModelSpec() = default;
  std::vector<TensorSpec> tensors_;
  std::vector<int64_t> offsets_;
  int64_t size_ = 0;
};

class FlatParams {
 public:
  // All-zero parameters for `spec`.
  static FlatParams Zeros(const ModelSpec& spec);
  // Wraps `values`; INVALID_ARGUMENT when its length is not spec.size().
  static absl::StatusOr<FlatParams> FromValues(const ModelSpec& spec, Eigen::VectorXf values);

  const ModelSpec& spec() const { return spec_; }
  const Eigen::VectorXf& values() const { return values_; }
  Eigen::VectorXf& mutable_values() { return values_; }

  // A view of the tensor called `name`; NOT_FOUND when there is none.
  absl::StatusOr<Eigen::Map<const Eigen::VectorXf>> Tensor(absl::string_view name) const;

  // OK when every value is finite; otherwise INVALID_ARGUMENT naming the
  // first offending tensor and element index (never the value itself).
  absl::Status CheckFinite() const;

 private:
  FlatParams(ModelSpec spec, Eigen::VectorXf values)
      : spec_(std::move(spec)), values_(std::move(values)) {}
  ModelSpec spec_;
  Eigen::VectorXf values_;
};

// Parameters on the wire and on disk (global parameters, checkpoints): the
// float32 values in order, each as 4 little-endian bytes (IEEE 754 bits).
std::string ParameterBytes(const Eigen::VectorXf& values);
// The inverse. INVALID_ARGUMENT when the size is not a multiple of 4, or
// when `expected_count` is given and differs from the number of values.
absl::StatusOr<Eigen::VectorXf> ParametersFromBytes(absl::string_view bytes,
                                                   std::optional<int64_t> expected_count = {});

}  // namespace tessera
