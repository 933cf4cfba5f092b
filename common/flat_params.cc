#include "common/flat_params.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera {

int64_t TensorSpec::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool TensorSpec::operator==(const TensorSpec& other) const {
  return name == other.name && shape == other.shape;
}

absl::StatusOr<ModelSpec> ModelSpec::Create(std::vector<TensorSpec> tensors) {
  if (tensors.empty()) {
    return absl::InvalidArgumentError("a model spec needs at least one tensor");
  }
  constexpr int64_t kMaxParameters = std::numeric_limits<int32_t>::max();
  ModelSpec spec;
  std::set<std::string> seen;
  int64_t total = 0;
  for (const TensorSpec& tensor : tensors) {
    if (tensor.name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor #", spec.offsets_.size(), " of the model spec has no name"));
    }
    if (!seen.insert(tensor.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor `", tensor.name, "` appears twice in the model spec"));
    }
    int64_t elements = 1;
    for (int64_t d : tensor.shape) {
      if (d <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor `", tensor.name, "` has dimension ", d,
                         "; every dimension must be positive"));
      }
      if (elements > kMaxParameters / d) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor `", tensor.name, "` is larger than ", kMaxParameters, " values"));
      }
      elements *= d;
    }
    spec.offsets_.push_back(total);
    total += elements;
    if (total > kMaxParameters) {
      return absl::InvalidArgumentError(
          absl::StrCat("the model has more than ", kMaxParameters, " parameters"));
    }
  }
  spec.tensors_ = std::move(tensors);
  spec.size_ = total;
  return spec;
}

absl::StatusOr<size_t> ModelSpec::IndexOf(absl::string_view name) const {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (tensors_[i].name == name) return i;
  }
  return absl::NotFoundError(absl::StrCat("the model has no tensor called `", name, "`"));
}

std::string ModelSpec::Describe() const {
  std::vector<std::string> parts;
  parts.reserve(tensors_.size());
  for (const TensorSpec& tensor : tensors_) {
    parts.push_back(absl::StrCat(tensor.name, "[", absl::StrJoin(tensor.shape, ","), "]"));
  }
  return absl::StrCat(absl::StrJoin(parts, " "), " (", size_, " parameters)");
}

std::string ModelSpec::Fingerprint() const {
  std::string text;
  for (const TensorSpec& tensor : tensors_) {
    absl::StrAppend(&text, tensor.name, ":", absl::StrJoin(tensor.shape, ","), "\n");
  }
  return text;
}

FlatParams FlatParams::Zeros(const ModelSpec& spec) {
  return FlatParams(spec, Eigen::VectorXf::Zero(spec.size()));
}

absl::StatusOr<FlatParams> FlatParams::FromValues(const ModelSpec& spec, Eigen::VectorXf values) {
  if (values.size() != spec.size()) {
    return absl::InvalidArgumentError(absl::StrCat("parameter vector has ", values.size(),
                                                   " values but the model spec needs ",
                                                   spec.size()));
  }
  return FlatParams(spec, std::move(values));
}

absl::StatusOr<Eigen::Map<const Eigen::VectorXf>> FlatParams::Tensor(absl::string_view name) const {
  auto index = spec_.IndexOf(name);
  if (!index.ok()) return index.status();
  return Eigen::Map<const Eigen::VectorXf>(values_.data() + spec_.offset(*index),
                                           spec_.tensors()[*index].NumElements());
}

absl::Status FlatParams::CheckFinite() const {
  for (size_t t = 0; t < spec_.tensors().size(); ++t) {
    const int64_t begin = spec_.offset(t);
    const int64_t count = spec_.tensors()[t].NumElements();
    for (int64_t i = 0; i < count; ++i) {
      if (!std::isfinite(values_[begin + i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor `", spec_.tensors()[t].name, "` has a NaN or infinite value at element ",
                         i));
      }
    }
  }
  return absl::OkStatus();
}

std::string ParameterBytes(const Eigen::VectorXf& values) {
  std::string bytes(static_cast<size_t>(values.size()) * 4, '\0');
  for (Eigen::Index i = 0; i < values.size(); ++i) {
    uint32_t bits;
    const float value = values[i];
    std::memcpy(&bits, &value, 4);
    for (int b = 0; b < 4; ++b) {
      bytes[static_cast<size_t>(i) * 4 + static_cast<size_t>(b)] =
          static_cast<char>((bits >> (8 * b)) & 0xff);
    }
  }
  return bytes;
}

absl::StatusOr<Eigen::VectorXf> ParametersFromBytes(absl::string_view bytes,
                                                   std::optional<int64_t> expected_count) {
  if (bytes.size() % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameters of ", bytes.size(), " bytes are not whole float32 values (4 bytes each)"));
  }
  const auto count = static_cast<int64_t>(bytes.size() / 4);
  if (expected_count.has_value() && count != *expected_count) {
    return absl::InvalidArgumentError(absl::StrCat("expected ", *expected_count,
                                                   " parameters, got ", count));
  }
  Eigen::VectorXf values(count);
  for (int64_t i = 0; i < count; ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) {
      bits |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[static_cast<size_t>(i * 4 + b)]))
              << (8 * b);
    }
    float value;
    std::memcpy(&value, &bits, 4);
    values[i] = value;
  }
  return values;
}

}  // namespace tessera
