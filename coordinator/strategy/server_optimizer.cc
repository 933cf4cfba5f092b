#include "coordinator/strategy/server_optimizer.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/secagg/wire.h"
#include "crypto/sha256.h"

namespace tessera::coordinator::strategy {
namespace {

using crypto::ByteSpan;
using crypto::secagg::WireReader;
using crypto::secagg::WireWriter;

constexpr char kStateMagic[] = "TSSO";
constexpr size_t kStateMagicSize = 4;
constexpr uint32_t kStateVersion = 1;
constexpr size_t kStateHeaderSize = kStateMagicSize + 4;  // magic + version

struct KindCode {
  StrategyKind kind;
  uint8_t code;
};
// Fixed codes on disk, independent of the enum's order.
constexpr std::array<KindCode, 6> kKindCodes = {{{StrategyKind::kFedAvg, 1},
                                                 {StrategyKind::kFedAvgM, 2},
                                                 {StrategyKind::kFedProx, 3},
                                                 {StrategyKind::kFedAdagrad, 4},
                                                 {StrategyKind::kFedAdam, 5},
                                                 {StrategyKind::kFedYogi, 6}}};

uint8_t CodeOf(StrategyKind kind) {
  for (const KindCode& entry : kKindCodes) {
    if (entry.kind == kind) return entry.code;
  }
  return 0;
}

std::optional<StrategyKind> KindOf(uint8_t code) {
  for (const KindCode& entry : kKindCodes) {
    if (entry.code == code) return entry.kind;
  }
  return std::nullopt;
}

// Index of the first NaN or infinite value, or -1.
int64_t FirstNonFinite(absl::Span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

void WriteFloats(const Eigen::VectorXf& values, WireWriter& writer) {
  for (Eigen::Index i = 0; i < values.size(); ++i) {
    uint32_t bits = 0;
    std::memcpy(&bits, &values[i], sizeof bits);
    writer.U32(bits);
  }
}

// `count` big-endian float32 values from `bytes`, which holds exactly 4 count.
Eigen::VectorXf ReadFloats(ByteSpan bytes, int64_t count) {
  Eigen::VectorXf values(count);
  for (int64_t i = 0; i < count; ++i) {
    const auto at = static_cast<size_t>(4 * i);
    const uint32_t bits = static_cast<uint32_t>(bytes[at]) << 24 |
                          static_cast<uint32_t>(bytes[at + 1]) << 16 |
                          static_cast<uint32_t>(bytes[at + 2]) << 8 | bytes[at + 3];
    std::memcpy(&values[i], &bits, sizeof bits);
  }
  return values;
}

}  // namespace

absl::StatusOr<AggregatedUpdate> ReadAggregatedUpdate(const AggregateLayout& layout,
                                                      absl::Span<const float> aggregate,
                                                      int64_t sites) {
  TESSERA_RETURN_IF_ERROR(layout.CheckFinite(aggregate));
  if (sites < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the aggregate holds ", sites, " sites; it needs at least one"));
  }
  AggregatedUpdate update;
  TESSERA_ASSIGN_OR_RETURN(update.sum, layout.ReadUpdate(aggregate));
  if (layout.Has(kWeightSlot)) {
    TESSERA_ASSIGN_OR_RETURN(update.total_weight, layout.ReadSlot(aggregate, kWeightSlot));
  }
  update.sites = sites;
  return update;
}

ServerOptimizer::ServerOptimizer(const StrategyConfig& config, int64_t dimension)
    : config_(config), dimension_(dimension) {
  if (VectorCount() >= 1) first_moment_ = Eigen::VectorXf::Zero(dimension);
  if (VectorCount() >= 2) {
    second_moment_ =
        Eigen::VectorXf::Constant(dimension, static_cast<float>(config.tau * config.tau));
  }
}

absl::StatusOr<ServerOptimizer> ServerOptimizer::Create(const StrategyConfig& config,
                                                        int64_t dimension) {
  TESSERA_RETURN_IF_ERROR(ValidateStrategyConfig(config));
  if (dimension < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model has ", dimension, " parameters; a strategy needs at least one"));
  }
  return ServerOptimizer(config, dimension);
}

int ServerOptimizer::VectorCount() const {
  if (IsAdaptive(config_.kind)) return 2;
  return config_.kind == StrategyKind::kFedAvgM ? 1 : 0;
}

absl::StatusOr<Eigen::VectorXf> ServerOptimizer::Average(const AggregatedUpdate& aggregate) const {
  if (static_cast<int64_t>(aggregate.sum.size()) != dimension_) {
    return absl::InvalidArgumentError(absl::StrCat("the aggregated update has ",
                                                   aggregate.sum.size(),
                                                   " values but the model has ", dimension_));
  }
  if (const int64_t bad = FirstNonFinite(aggregate.sum); bad >= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the aggregated update has a NaN or infinite value at ", kUpdateName, "[", bad, "]"));
  }
  double denominator = 0;
  if (config_.averaging == Averaging::kWeighted) {
    if (!aggregate.total_weight.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("weighted averaging needs the `", kWeightSlot,
                       "` slot, which the aggregate layout does not have"));
    }
    denominator = *aggregate.total_weight;
    if (!std::isfinite(denominator) || denominator <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("the total weight of the round is ", denominator,
                       "; it must be positive and finite (each site writes its weight, in (0, 1], "
                       "into the `",
                       kWeightSlot, "` slot)"));
    }
  } else {
    if (aggregate.sites < 1) {
      return absl::InvalidArgumentError(absl::StrCat("uniform averaging over ", aggregate.sites,
                                                     " sites; it needs at least one"));
    }
    denominator = static_cast<double>(aggregate.sites);
  }
  // Divide in double so that each coordinate is rounded to float once.
  const Eigen::Map<const Eigen::VectorXf> sum(aggregate.sum.data(), dimension_);
  Eigen::VectorXf average = (sum.cast<double>() / denominator).cast<float>();
  if (!average.allFinite()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the average update overflows: the total weight ", denominator, " is too small"));
  }
  return average;
}

absl::StatusOr<FlatParams> ServerOptimizer::Step(const FlatParams& params,
                                                 const AggregatedUpdate& aggregate) {
  if (params.spec().size() != dimension_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the global parameters have ", params.spec().size(),
                     " values but the strategy was made for ", dimension_));
  }
  TESSERA_RETURN_IF_ERROR(params.CheckFinite());
  TESSERA_ASSIGN_OR_RETURN(const Eigen::VectorXf average, Average(aggregate));

  const auto eta = static_cast<float>(config_.server_learning_rate);
  Eigen::VectorXf next = params.values();
  // New state in copies, committed only when the whole step is finite.
  Eigen::VectorXf m = first_moment_;
  Eigen::VectorXf v = second_moment_;
  switch (config_.kind) {
    case StrategyKind::kFedAvg:
    case StrategyKind::kFedProx:
      next += eta * average;
      break;
    case StrategyKind::kFedAvgM:
      m = static_cast<float>(config_.momentum) * m + average;
      next += eta * m;
      break;
    case StrategyKind::kFedAdagrad:
    case StrategyKind::kFedAdam:
    case StrategyKind::kFedYogi: {
      // Reddi et al. 2021, Algorithm 2.
      const auto beta1 = static_cast<float>(config_.beta1);
      const auto one_minus_beta2 = static_cast<float>(1.0 - config_.beta2);
      m = beta1 * m + static_cast<float>(1.0 - config_.beta1) * average;
      const Eigen::ArrayXf squared = average.array().square();
      if (config_.kind == StrategyKind::kFedAdagrad) {
        v.array() += squared;
      } else if (config_.kind == StrategyKind::kFedYogi) {
        v.array() -= one_minus_beta2 * squared * (v.array() - squared).sign();
      } else {
        v = static_cast<float>(config_.beta2) * v.array() + one_minus_beta2 * squared;
      }
      next.array() += eta * m.array() / (v.array().sqrt() + static_cast<float>(config_.tau));
      break;
    }
  }
  if (!next.allFinite() || !m.allFinite() || !v.allFinite()) {
    return absl::InvalidArgumentError(
        absl::StrCat(StrategyName(config_.kind),
                     " step overflowed to a NaN or infinite value; the state is unchanged"));
  }
  first_moment_ = std::move(m);
  second_moment_ = std::move(v);
  ++steps_;
  return FlatParams::FromValues(params.spec(), std::move(next));
}

std::string ServerOptimizer::SerializeState() const {
  WireWriter writer;
  writer.Raw(crypto::AsBytes(absl::string_view(kStateMagic, kStateMagicSize)));
  writer.U32(kStateVersion);
  writer.U8(CodeOf(config_.kind));
  writer.U64(static_cast<uint64_t>(dimension_));
  writer.U64(static_cast<uint64_t>(steps_));
  const int count = VectorCount();
  writer.U8(static_cast<uint8_t>(count));
  if (count >= 1) WriteFloats(first_moment_, writer);
  if (count >= 2) WriteFloats(second_moment_, writer);
  std::vector<uint8_t> bytes = std::move(writer).Finish();
  const crypto::Sha256Digest digest = crypto::Sha256(bytes);
  bytes.insert(bytes.end(), digest.begin(), digest.end());
  return std::string(crypto::AsStringView(bytes));
}

absl::Status ServerOptimizer::RestoreState(absl::string_view bytes) {
  const ByteSpan data = crypto::AsBytes(bytes);
  WireReader header(data, "strategy state");
  TESSERA_ASSIGN_OR_RETURN(ByteSpan magic, header.Raw(kStateMagicSize, "magic"));
  if (crypto::AsStringView(magic) != absl::string_view(kStateMagic, kStateMagicSize)) {
    return header.Error("not a strategy state (wrong magic bytes)");
  }
  TESSERA_ASSIGN_OR_RETURN(uint32_t version, header.U32("version"));
  if (version != kStateVersion) {
    return header.Error(absl::StrCat("format version ", version,
                                     " is not supported (this build reads version ", kStateVersion,
                                     ")"));
  }
  if (data.size() < kStateHeaderSize + crypto::kSha256Size) {
    return header.Error("truncated: no room for the digest");
  }
  const ByteSpan covered = data.first(data.size() - crypto::kSha256Size);
  const crypto::Sha256Digest digest = crypto::Sha256(covered);
  if (std::memcmp(digest.data(), data.data() + covered.size(), crypto::kSha256Size) != 0) {
    return header.Error("SHA-256 digest mismatch: the bytes are corrupt or truncated");
  }

  WireReader body(covered.subspan(kStateHeaderSize), "strategy state");
  TESSERA_ASSIGN_OR_RETURN(uint8_t code, body.U8("strategy"));
  const std::optional<StrategyKind> kind = KindOf(code);
  if (!kind.has_value()) return body.Error(absl::StrCat("unknown strategy code ", code));
  TESSERA_ASSIGN_OR_RETURN(uint64_t dimension, body.U64("dimension"));
  TESSERA_ASSIGN_OR_RETURN(uint64_t steps, body.U64("steps"));
  TESSERA_ASSIGN_OR_RETURN(uint8_t count, body.U8("vector count"));
  if (*kind != config_.kind) {
    return absl::FailedPreconditionError(
        absl::StrCat("the strategy state is for ", StrategyName(*kind),
                     " but the job's strategy is ", StrategyName(config_.kind)));
  }
  if (dimension != static_cast<uint64_t>(dimension_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the strategy state is for ", dimension, " parameters but the model has ", dimension_));
  }
  if (count != VectorCount()) {
    return body.Error(absl::StrCat("holds ", static_cast<int>(count), " state vectors; ",
                                   StrategyName(config_.kind), " has ", VectorCount()));
  }
  if (steps > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return body.Error("step count out of range");
  }
  const size_t vector_bytes = 4 * static_cast<size_t>(dimension_);
  Eigen::VectorXf m;
  Eigen::VectorXf v;
  if (count >= 1) {
    TESSERA_ASSIGN_OR_RETURN(ByteSpan raw, body.Raw(vector_bytes, "first moment"));
    m = ReadFloats(raw, dimension_);
    if (!m.allFinite()) return body.Error("the first moment has a NaN or infinite value");
  }
  if (count >= 2) {
    TESSERA_ASSIGN_OR_RETURN(ByteSpan raw, body.Raw(vector_bytes, "second moment"));
    v = ReadFloats(raw, dimension_);
    if (!v.allFinite() || (v.array() < 0).any()) {
      return body.Error("the second moment has a negative, NaN or infinite value");
    }
  }
  TESSERA_RETURN_IF_ERROR(body.ExpectEnd());
  first_moment_ = std::move(m);
  second_moment_ = std::move(v);
  steps_ = static_cast<int64_t>(steps);
  return absl::OkStatus();
}

}  // namespace tessera::coordinator::strategy
