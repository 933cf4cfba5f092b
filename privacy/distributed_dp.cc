#include "privacy/distributed_dp.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "privacy/clipping.h"
#include "privacy/hadamard.h"
#include "privacy/numerics.h"
#include "privacy/samplers.h"

namespace tessera::privacy {
namespace {

constexpr int kMaxRoundingAttempts = 1000;
constexpr int64_t kMaxDimension = int64_t{1} << 30;

double Modulus(int bits) { return std::ldexp(1.0, bits); }

}  // namespace

absl::Status ValidateConfig(const DistributedDpConfig& config) {
  if (config.dimension < 1 || config.dimension > kMaxDimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("dimension must be in [1, 2^30], got ", config.dimension));
  }
  if (!(config.clip_norm > 0) || !std::isfinite(config.clip_norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip norm must be finite and > 0, got ", config.clip_norm));
  }
  if (!(config.scale > 0) || !std::isfinite(config.scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("scale must be finite and > 0, got ", config.scale));
  }
  if (config.bits < 2 || config.bits > 32) {
    return absl::InvalidArgumentError(absl::StrCat("bits must be in [2, 32], got ", config.bits));
  }
  if (!(config.site_noise_variance >= 0) || !(config.site_noise_variance <= 1e15)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "site noise variance must be in [0, 1e15], got ", config.site_noise_variance));
  }
  if (config.clip_norm * config.scale > 0x1.0p50) {
    return absl::InvalidArgumentError(absl::StrCat(
        "clip norm times scale must be at most 2^50 integer units, got ",
        config.clip_norm * config.scale));
  }
  if (!(config.rounding_beta > 0 && config.rounding_beta < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rounding beta must be in (0, 1), got ", config.rounding_beta));
  }
  return absl::OkStatus();
}

double RoundedL2Bound(const DistributedDpConfig& config) {
  const double cs = config.clip_norm * config.scale;
  const double padded = static_cast<double>(PaddedDimension(config.dimension));
  const double sqrt_d = std::sqrt(padded);
  // Kairouz, Liu & Steinke 2021, Sec. 4.1 (conditional randomised rounding).
  const double bound_1 = cs + sqrt_d;
  const double bound_2_sq = cs * cs + padded / 4 +
                            std::sqrt(2 * std::log(1 / config.rounding_beta)) * (cs + sqrt_d / 2);
  return std::min(bound_1, std::sqrt(bound_2_sq));
}

double RoundedL1Bound(const DistributedDpConfig& config) {
  const double l2 = RoundedL2Bound(config);
  const double padded = static_cast<double>(PaddedDimension(config.dimension));
  // An integer vector with L2 norm D2 has L1 norm <= sqrt(d') D2 (Cauchy-
  // Schwarz) and <= D2^2 (|x_i| <= x_i^2 for integers).
  return l2 * std::min(std::sqrt(padded), l2);
}

absl::StatusOr<SkellamEvent> RoundEvent(const DistributedDpConfig& config, int64_t min_sites) {
  if (absl::Status status = ValidateConfig(config); !status.ok()) return status;
  if (min_sites < 1) {
    return absl::InvalidArgumentError(absl::StrCat("min_sites must be >= 1, got ", min_sites));
  }
  if (!(config.site_noise_variance > 0)) {
    return absl::InvalidArgumentError("a round without noise has no privacy guarantee");
  }
  return SkellamEvent{RoundedL2Bound(config), RoundedL1Bound(config),
                      static_cast<double>(min_sites) * config.site_noise_variance};
}

absl::StatusOr<DistributedDpConfig> PlanDistributedDp(const DistributedDpPlanRequest& request) {
  if (!(request.noise_multiplier > 0) || !std::isfinite(request.noise_multiplier)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "noise multiplier must be finite and > 0, got ", request.noise_multiplier));
  }
  if (request.min_sites < 1 || request.max_sites < request.min_sites) {
    return absl::InvalidArgumentError(absl::StrCat(
        "need 1 <= min_sites <= max_sites, got ", request.min_sites, " and ", request.max_sites));
  }
  if (!(request.headroom_sigmas > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("headroom must be > 0 standard deviations, got ", request.headroom_sigmas));
  }
  DistributedDpConfig config;
  config.dimension = request.dimension;
  config.clip_norm = request.clip_norm;
  config.bits = request.bits;
  config.rounding_beta = request.rounding_beta;
  config.scale = 1;
  if (absl::Status status = ValidateConfig(config); !status.ok()) return status;

  const double n = static_cast<double>(request.max_sites);
  const double t = static_cast<double>(request.min_sites);
  const double padded = static_cast<double>(PaddedDimension(request.dimension));
  const double z = request.noise_multiplier;
  const double budget = Modulus(request.bits) / 2 / request.headroom_sigmas;  // allowed std
  // Standard deviation of one coordinate of the sum at scale s: all max_sites
  // updates aligned (norm <= D2 each after rounding), plus rounding and noise.
  auto sum_std = [&](double s) {
    config.scale = s;
    const double l2 = RoundedL2Bound(config);
    const double site_variance = z * z * l2 * l2 / t;
    return std::sqrt(n * n * l2 * l2 / padded + n * (0.25 + site_variance));
  };
  if (sum_std(1e-12) > budget) {
    return absl::InvalidArgumentError(absl::StrCat(
        request.bits, " bits cannot hold the sum of ", request.max_sites,
        " sites even at the coarsest scale; use more bits"));
  }
  // sum_std grows with s: bisect for the largest s within budget.
  double lo = 1e-12;
  double hi = 1;
  while (sum_std(hi) <= budget) {
    lo = hi;
    hi *= 2;
  }
  for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (sum_std(mid) <= budget ? lo : hi) = mid;
  }
  config.scale = lo;
  const double l2 = RoundedL2Bound(config);
  config.site_noise_variance = z * z * l2 * l2 / t;
  return config;
}

double PredictedSquaredError(const DistributedDpConfig& config, int64_t sites) {
  const double per_coordinate =
      static_cast<double>(sites) * (0.25 + config.site_noise_variance);
  return static_cast<double>(config.dimension) * per_coordinate / (config.scale * config.scale);
}

double PredictedOverflowProbability(const DistributedDpConfig& config, int64_t sites,
                                    double sum_norm) {
  const double padded = static_cast<double>(PaddedDimension(config.dimension));
  const double signal = sum_norm * config.scale;
  const double variance = signal * signal / padded +
                          static_cast<double>(sites) * (0.25 + config.site_noise_variance);
  // The sum is an integer; it wraps when it is >= 2^(b-1) or < -2^(b-1)
  // (continuity-corrected at the half units).
  const double half = Modulus(config.bits) / 2;
  const double sd = std::sqrt(variance);
  return std::exp(static_cast<double>(LogNormalTail((half - 0.5) / sd))) +
         std::exp(static_cast<double>(LogNormalTail((half + 0.5) / sd)));
}

uint32_t WrapToModulus(int64_t value, int bits) {
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  return static_cast<uint32_t>(static_cast<uint64_t>(value) & mask);
}

int64_t UnwrapFromModulus(uint32_t value, int bits) {
  const int64_t v = static_cast<int64_t>(value);
  const int64_t half = int64_t{1} << (bits - 1);
  return v >= half ? v - (int64_t{1} << bits) : v;
}

void AddModulo(absl::Span<uint32_t> acc, absl::Span<const uint32_t> x, int bits) {
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  for (size_t i = 0; i < acc.size(); ++i) {
    acc[i] = static_cast<uint32_t>((static_cast<uint64_t>(acc[i]) + x[i]) & mask);
  }
}

absl::StatusOr<int> RoundConditionally(absl::Span<const double> values, double l2_bound,
                                       RandomSource& rng, absl::Span<int64_t> out) {
  // Compare squared norms exactly: floor(D2^2) against an integer sum.
  const unsigned __int128 limit = static_cast<unsigned __int128>(
      std::floor(static_cast<long double>(l2_bound) * l2_bound));
  for (int attempt = 1; attempt <= kMaxRoundingAttempts; ++attempt) {
    unsigned __int128 norm_sq = 0;
    uint64_t random_bits = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      // 32 random bits per coordinate: P(up) = frac to within 2^-32.
      if (i % 2 == 0) random_bits = rng.NextUint64();
      const double u = static_cast<double>(random_bits & 0xffffffffu) * 0x1.0p-32;
      random_bits >>= 32;
      const double floor_value = std::floor(values[i]);
      const int64_t rounded =
          static_cast<int64_t>(floor_value) + (u < values[i] - floor_value ? 1 : 0);
      out[i] = rounded;
      const uint64_t magnitude = static_cast<uint64_t>(rounded < 0 ? -rounded : rounded);
      norm_sq += static_cast<unsigned __int128>(magnitude) * magnitude;
    }
    if (norm_sq <= limit) return attempt;
  }
  return absl::InternalError(absl::StrCat("conditional rounding failed ", kMaxRoundingAttempts,
                                          " times; the input exceeds the norm bound ", l2_bound));
}

absl::StatusOr<DistributedDpEncoder> DistributedDpEncoder::Create(
    const DistributedDpConfig& config) {
  if (absl::Status status = ValidateConfig(config); !status.ok()) return status;
  return DistributedDpEncoder(config, PaddedDimension(config.dimension), RoundedL2Bound(config));
}

absl::StatusOr<DistributedDpEncoder::Report> DistributedDpEncoder::EncodeToIntegers(
    absl::Span<const float> update, uint64_t round_seed, RandomSource& rng,
    absl::Span<int64_t> out) const {
  if (static_cast<int64_t>(update.size()) != config_.dimension) {
    return absl::InvalidArgumentError(absl::StrCat("update has ", update.size(),
                                                   " values, the round expects ",
                                                   config_.dimension));
  }
  if (static_cast<int64_t>(out.size()) != padded_) {
    return absl::InvalidArgumentError(
        absl::StrCat("output needs ", padded_, " entries, got ", out.size()));
  }
  // 1. Clip (on a copy: the caller's update is left alone).
  std::vector<float> clipped(update.begin(), update.end());
  absl::StatusOr<ClipResult> clip = ClipL2(absl::MakeSpan(clipped), config_.clip_norm);
  if (!clip.ok()) return clip.status();
  // 2. Rotate and scale.
  absl::StatusOr<RandomizedHadamard> rotation =
      RandomizedHadamard::Create(config_.dimension, round_seed);
  if (!rotation.ok()) return rotation.status();
  std::vector<double> rotated(static_cast<size_t>(padded_));
  rotation->Rotate(clipped, config_.scale, absl::MakeSpan(rotated));
  // 3. Conditional randomised rounding.
  absl::StatusOr<int> attempts = RoundConditionally(rotated, l2_bound_, rng, out);
  if (!attempts.ok()) return attempts.status();
  // 4. This site's share of the noise.
  if (config_.site_noise_variance > 0) {
    const double mean = config_.site_noise_variance / 2;
    for (int64_t& value : out) value += SamplePoisson(mean, rng) - SamplePoisson(mean, rng);
  }
  return Report{clip->norm, clip->scale, *attempts};
}

absl::StatusOr<DistributedDpEncoder::Report> DistributedDpEncoder::Encode(
    absl::Span<const float> update, uint64_t round_seed, RandomSource& rng,
    absl::Span<uint32_t> out) const {
  if (static_cast<int64_t>(out.size()) != padded_) {
    return absl::InvalidArgumentError(
        absl::StrCat("output needs ", padded_, " words, got ", out.size()));
  }
  std::vector<int64_t> integers(static_cast<size_t>(padded_));
  absl::StatusOr<Report> report = EncodeToIntegers(update, round_seed, rng,
                                                   absl::MakeSpan(integers));
  if (!report.ok()) return report.status();
  // 5. Reduce modulo 2^b.
  for (size_t i = 0; i < integers.size(); ++i) out[i] = WrapToModulus(integers[i], config_.bits);
  return report;
}

absl::Status DistributedDpEncoder::Decode(absl::Span<const uint32_t> sum, uint64_t round_seed,
                                          absl::Span<float> out) const {
  if (static_cast<int64_t>(sum.size()) != padded_) {
    return absl::InvalidArgumentError(
        absl::StrCat("aggregated sum has ", sum.size(), " words, expected ", padded_));
  }
  if (static_cast<int64_t>(out.size()) != config_.dimension) {
    return absl::InvalidArgumentError(
        absl::StrCat("output needs ", config_.dimension, " entries, got ", out.size()));
  }
  absl::StatusOr<RandomizedHadamard> rotation =
      RandomizedHadamard::Create(config_.dimension, round_seed);
  if (!rotation.ok()) return rotation.status();
  std::vector<double> values(static_cast<size_t>(padded_));
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<double>(UnwrapFromModulus(sum[i], config_.bits));
  }
  rotation->InverseRotate(absl::MakeSpan(values), 1 / config_.scale, out);
  return absl::OkStatus();
}

}  // namespace tessera::privacy
