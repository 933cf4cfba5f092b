#include "privacy/distributed_dp.h"

#include <cmath>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "privacy/clipping.h"
#include "privacy/hadamard.h"
#include "privacy/rdp_accountant.h"
#include "tests/privacy/statistics.h"
#include "tests/testing/status_matchers.h"

namespace tessera::privacy {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

constexpr uint64_t kRoundSeed = 20240611;

// A standard normal vector scaled to L2 norm `norm`, from a seeded generator.
std::vector<float> RandomUpdate(int64_t d, double norm, uint64_t seed) {
  Xoshiro256StarStar rng(seed);
  std::vector<double> v(static_cast<size_t>(d));
  double sq = 0;
  for (double& x : v) {
    // Box-Muller.
    const double u1 = 1 - Uniform01(rng);
    const double u2 = Uniform01(rng);
    x = std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    sq += x * x;
  }
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i] * norm / std::sqrt(sq));
  return out;
}

struct Federation {
  DistributedDpConfig config;
  std::vector<std::vector<float>> updates;
  std::vector<double> clipped_sum;
};

// `sites` random updates with norms between 0.5 and 2 times the clip norm.
Federation MakeFederation(const DistributedDpConfig& config, int sites) {
  Federation f;
  f.config = config;
  f.clipped_sum.assign(static_cast<size_t>(config.dimension), 0.0);
  for (int s = 0; s < sites; ++s) {
    const double norm = config.clip_norm * (0.5 + 1.5 * s / std::max(1, sites - 1));
    f.updates.push_back(RandomUpdate(config.dimension, norm, 1000 + static_cast<uint64_t>(s)));
    std::vector<float> clipped = f.updates.back();
    EXPECT_OK(ClipL2(absl::MakeSpan(clipped), config.clip_norm));
    for (size_t i = 0; i < clipped.size(); ++i) f.clipped_sum[i] += clipped[i];
  }
  return f;
}

// Runs the protocol: every site encodes with its own generator, the words
// are added modulo 2^b as secure aggregation would, and the sum is decoded.
// Returns ||decoded - sum of clipped updates||^2.
double RunRound(const Federation& f, uint64_t encode_seed, uint64_t decode_seed) {
  auto encoder = DistributedDpEncoder::Create(f.config);
  EXPECT_OK(encoder.status());
  const size_t padded = static_cast<size_t>(encoder->padded_dimension());
  std::vector<uint32_t> sum(padded, 0), words(padded);
  for (size_t s = 0; s < f.updates.size(); ++s) {
    Xoshiro256StarStar site_rng(500 + s);
    EXPECT_OK(encoder->Encode(f.updates[s], encode_seed, site_rng, absl::MakeSpan(words)));
    AddModulo(absl::MakeSpan(sum), words, f.config.bits);
  }
  std::vector<float> decoded(static_cast<size_t>(f.config.dimension));
  EXPECT_OK(encoder->Decode(sum, decode_seed, absl::MakeSpan(decoded)));
  double err = 0;
  for (size_t i = 0; i < decoded.size(); ++i) {
    const double e = decoded[i] - f.clipped_sum[i];
    err += e * e;
  }
  return err;
}

DistributedDpPlanRequest TypicalRequest() {
  DistributedDpPlanRequest request;
  request.dimension = 4000;  // padded to 4096
  request.clip_norm = 1.0;
  request.noise_multiplier = 1.0;
  request.min_sites = 5;
  request.max_sites = 8;
  request.bits = 20;
  return request;
}

TEST(DistributedDpTest, DecodedSumIsTheTrueSumWithinThePredictedError) {
  ASSERT_OK_AND_ASSIGN(DistributedDpConfig config, PlanDistributedDp(TypicalRequest()));
  const Federation f = MakeFederation(config, 8);
  const double err = RunRound(f, kRoundSeed, kRoundSeed);
  // The error is rounding (variance <= 1/4) plus Skellam noise (variance v)
  // per coordinate from each of 8 sites, over 4000 coordinates: a sum of
  // ~4000 independent squares, relative sd ~ sqrt(2/4000) = 0.022. Eight of
  // those on either side (false failure < 1e-12): above the noise alone,
  // below the prediction with the rounding bound.
  const double margin = 8 * std::sqrt(2.0 / 4000);
  const double noise_only = 4000.0 * 8 * config.site_noise_variance / (config.scale * config.scale);
  EXPECT_LE(err, PredictedSquaredError(config, 8) * (1 + margin));
  EXPECT_GE(err, noise_only * (1 - margin));
}

TEST(DistributedDpTest, WithoutNoiseOnlyUnbiasedRoundingErrorRemains) {
  ASSERT_OK_AND_ASSIGN(DistributedDpConfig config, PlanDistributedDp(TypicalRequest()));
  config.site_noise_variance = 0;
  const Federation f = MakeFederation(config, 8);
  auto encoder = DistributedDpEncoder::Create(config);
  ASSERT_OK(encoder.status());
  std::vector<uint32_t> sum(4096, 0), words(4096);
  for (size_t s = 0; s < f.updates.size(); ++s) {
    Xoshiro256StarStar rng(77 + s);
    ASSERT_OK(encoder->Encode(f.updates[s], kRoundSeed, rng, absl::MakeSpan(words)));
    AddModulo(absl::MakeSpan(sum), words, config.bits);
  }
  std::vector<float> decoded(4000);
  ASSERT_OK(encoder->Decode(sum, kRoundSeed, absl::MakeSpan(decoded)));
  double err_sq = 0, err_sum = 0;
  for (size_t i = 0; i < decoded.size(); ++i) {
    const double e = decoded[i] - f.clipped_sum[i];
    err_sq += e * e;
    err_sum += e;
  }
  const double bound = 4000.0 * 8 * 0.25 / (config.scale * config.scale);
  EXPECT_LE(err_sq, bound * (1 + 8 * std::sqrt(2.0 / 4000)));
  EXPECT_GT(err_sq, 0);  // rounding did happen
  // Unbiased: the summed error has sd <= sqrt(bound); 6 of them (~2e-9).
  EXPECT_LT(std::fabs(err_sum), 6 * std::sqrt(bound));
  // Decoding with another round's seed rotates back the wrong way: the error
  // is then about twice the squared norm of the sum, far above rounding.
  double sum_sq = 0;
  for (double v : f.clipped_sum) sum_sq += v * v;
  EXPECT_GT(RunRound(f, kRoundSeed, kRoundSeed + 1), sum_sq);
  EXPECT_GT(sum_sq, 100 * bound);
}

TEST(DistributedDpTest, ConditionalRoundingRespectsTheNormBoundAndIsUnbiased) {
  DistributedDpConfig config;
  config.dimension = 256;
  config.clip_norm = 1.0;
  config.scale = 20.0;
  config.bits = 16;
  const double bound = RoundedL2Bound(config);
  // A rotated vector of the largest allowed norm c s = 20.
  ASSERT_OK_AND_ASSIGN(RandomizedHadamard rotation, RandomizedHadamard::Create(256, 9));
  const std::vector<float> x = RandomUpdate(256, 1.0, 3);
  std::vector<double> y(256);
  rotation.Rotate(x, config.scale, absl::MakeSpan(y));
  Xoshiro256StarStar rng(4);
  std::vector<int64_t> out(256);
  std::vector<double> mean(256, 0.0);
  const int trials = 4000;
  for (int t = 0; t < trials; ++t) {
    ASSERT_OK_AND_ASSIGN(int attempts, RoundConditionally(y, bound, rng, absl::MakeSpan(out)));
    EXPECT_LE(attempts, 20);
    double norm_sq = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      const double rounded = static_cast<double>(out[i]);
      ASSERT_TRUE(rounded == std::floor(y[i]) || rounded == std::ceil(y[i]));
      norm_sq += static_cast<double>(out[i] * out[i]);
      mean[i] += static_cast<double>(out[i]) / trials;
    }
    ASSERT_LE(norm_sq, bound * bound);
  }
  // Each coordinate's mean over 4000 roundings is within 6 sd (sd <= 0.5/sqrt(4000)).
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(mean[i], y[i], 6 * 0.5 / std::sqrt(4000.0)) << i;
  // A bound below what any rounding can reach fails loudly instead of looping.
  EXPECT_THAT(RoundConditionally(y, 1.0, rng, absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("norm bound")));
}

TEST(DistributedDpTest, OverflowRateAtTheChosenBitWidthIsAsPredicted) {
  // Zero updates and a modulus so small that the summed noise of 3 sites
  // (sd ~58 against a range of +-128) wraps in ~3% of the coordinates.
  DistributedDpConfig config;
  config.dimension = 1 << 15;
  config.clip_norm = 1.0;
  config.scale = 1.0;
  config.bits = 8;
  config.site_noise_variance = 1130.0;
  ASSERT_OK_AND_ASSIGN(DistributedDpEncoder encoder, DistributedDpEncoder::Create(config));
  const std::vector<float> zero(static_cast<size_t>(config.dimension), 0.0f);
  std::vector<int64_t> total(static_cast<size_t>(config.dimension), 0), share(total.size());
  std::vector<uint32_t> wrapped(total.size(), 0), words(total.size());
  for (int s = 0; s < 3; ++s) {
    Xoshiro256StarStar rng(31 + static_cast<uint64_t>(s));
    ASSERT_OK(encoder.EncodeToIntegers(zero, kRoundSeed, rng, absl::MakeSpan(share)));
    for (size_t i = 0; i < total.size(); ++i) {
      total[i] += share[i];
      words[i] = WrapToModulus(share[i], config.bits);
    }
    AddModulo(absl::MakeSpan(wrapped), words, config.bits);
  }
  int64_t overflows = 0;
  for (size_t i = 0; i < total.size(); ++i) {
    const bool overflow = total[i] >= 128 || total[i] < -128;
    overflows += overflow ? 1 : 0;
    // Without overflow the modular sum unwraps to the true sum.
    if (!overflow) {
      ASSERT_EQ(UnwrapFromModulus(wrapped[i], config.bits), total[i]);
    }
  }
  const double predicted = PredictedOverflowProbability(config, 3, 0.0);
  // The prediction is a normal approximation; the exact Skellam(3v) tail:
  const int64_t k_max = 1200;
  const std::vector<double> log_pmf = testing::SkellamLogPmf(3 * 1130.0, k_max);
  double exact = 0;
  for (int64_t k = -k_max; k <= k_max; ++k) {
    if (k >= 128 || k < -128) exact += std::exp(log_pmf[static_cast<size_t>(k + k_max)]);
  }
  EXPECT_NEAR(predicted, exact, 0.03 * exact);
  // Overflows are independent across coordinates: Binomial(2^15, p); 6 sd
  // (false failure ~2e-9) plus the 3% allowance for the approximation.
  const double n = static_cast<double>(config.dimension);
  EXPECT_NEAR(static_cast<double>(overflows), n * predicted,
              6 * std::sqrt(n * predicted) + 0.03 * n * predicted);
  EXPECT_GT(predicted, 0.02);
  EXPECT_LT(predicted, 0.04);
}

TEST(DistributedDpTest, NoiseIsSizedForTheThresholdSoDropoutsKeepTheGuarantee) {
  DistributedDpPlanRequest request = TypicalRequest();
  ASSERT_OK_AND_ASSIGN(DistributedDpConfig config, PlanDistributedDp(request));
  // With exactly the threshold of survivors the aggregate noise has sd z D2.
  ASSERT_OK_AND_ASSIGN(SkellamEvent at_threshold, RoundEvent(config, request.min_sites));
  const double d2 = RoundedL2Bound(config);
  EXPECT_NEAR(at_threshold.variance, d2 * d2, 1e-9 * d2 * d2);
  EXPECT_DOUBLE_EQ(at_threshold.l2_sensitivity, d2);
  // More survivors only add noise.
  ASSERT_OK_AND_ASSIGN(SkellamEvent all, RoundEvent(config, request.max_sites));
  EXPECT_GT(all.variance, at_threshold.variance);
  // A lower threshold means a bigger share per site.
  request.min_sites = 2;
  ASSERT_OK_AND_ASSIGN(DistributedDpConfig low, PlanDistributedDp(request));
  EXPECT_GT(low.site_noise_variance / (low.scale * low.scale),
            2 * config.site_noise_variance / (config.scale * config.scale));
  // Even with every update aligned, the modulus holds headroom_sigmas sd.
  EXPECT_LE(PredictedOverflowProbability(config, request.max_sites,
                                         static_cast<double>(request.max_sites) * request.clip_norm),
            2 * 3.2e-5 * 1.01);  // 2 Phi_c(4)
}

TEST(DistributedDpTest, RoundEventAccountsLikeTheGaussianItApproximates) {
  // The plan sizes the aggregate noise to z D2 with z = 1, so each round's
  // RDP must tend to the Gaussian mechanism's alpha / (2 z^2) (Mironov 2017,
  // Prop. 7) at the integer orders where the Skellam bound holds.
  ASSERT_OK_AND_ASSIGN(DistributedDpConfig config, PlanDistributedDp(TypicalRequest()));
  ASSERT_OK_AND_ASSIGN(SkellamEvent event, RoundEvent(config, 5));
  std::vector<double> orders;
  for (int a = 2; a <= 256; ++a) orders.push_back(a);
  for (double order : orders) {
    EXPECT_GE(SkellamRdp(event, order), order / 2);
    EXPECT_NEAR(SkellamRdp(event, order), order / 2, 1e-6 * order);
  }
  ASSERT_OK_AND_ASSIGN(RdpAccountant skellam, RdpAccountant::WithOrders(orders));
  ASSERT_OK_AND_ASSIGN(RdpAccountant gaussian, RdpAccountant::WithOrders(orders));
  ASSERT_OK(skellam.Compose(event, 100));
  ASSERT_OK(gaussian.Compose(PoissonGaussianEvent{1.0, 1.0}, 100));
  ASSERT_OK_AND_ASSIGN(RdpEpsilon eps, skellam.Epsilon(1e-5));
  ASSERT_OK_AND_ASSIGN(RdpEpsilon gaussian_eps, gaussian.Epsilon(1e-5));
  EXPECT_GE(eps.epsilon, gaussian_eps.epsilon);
  EXPECT_LT(eps.epsilon, gaussian_eps.epsilon * 1.001);
}

TEST(DistributedDpTest, RejectsBadInput) {
  ASSERT_OK_AND_ASSIGN(DistributedDpConfig config, PlanDistributedDp(TypicalRequest()));
  ASSERT_OK_AND_ASSIGN(DistributedDpEncoder encoder, DistributedDpEncoder::Create(config));
  Xoshiro256StarStar rng(1);
  std::vector<uint32_t> words(4096);
  std::vector<float> short_update(10, 0.0f);
  EXPECT_THAT(encoder.Encode(short_update, 1, rng, absl::MakeSpan(words)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expects 4000")));
  std::vector<float> bad(4000, 0.0f);
  bad[7] = std::nanf("");
  EXPECT_THAT(encoder.Encode(bad, 1, rng, absl::MakeSpan(words)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("index 7")));
  std::vector<float> out(4000);
  EXPECT_THAT(encoder.Decode(std::vector<uint32_t>(100), 1, absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  DistributedDpConfig wide = config;
  wide.bits = 33;
  EXPECT_THAT(DistributedDpEncoder::Create(wide), StatusIs(absl::StatusCode::kInvalidArgument,
                                                           HasSubstr("bits")));
  DistributedDpPlanRequest request = TypicalRequest();
  request.bits = 4;
  EXPECT_THAT(PlanDistributedDp(request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more bits")));
  request = TypicalRequest();
  request.min_sites = 9;
  EXPECT_THAT(PlanDistributedDp(request), StatusIs(absl::StatusCode::kInvalidArgument));
  config.site_noise_variance = 0;
  EXPECT_THAT(RoundEvent(config, 5), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DistributedDpTest, ModularHelpersRoundTrip) {
  for (int bits : {2, 8, 16, 32}) {
    const int64_t half = int64_t{1} << (bits - 1);
    for (int64_t v : {-half, -half + 1, int64_t{-1}, int64_t{0}, int64_t{1}, half - 1}) {
      EXPECT_EQ(UnwrapFromModulus(WrapToModulus(v, bits), bits), v) << bits << " " << v;
    }
    EXPECT_EQ(UnwrapFromModulus(WrapToModulus(half, bits), bits), -half);  // wraps
  }
}

}  // namespace
}  // namespace tessera::privacy
