// The round plan: layouts, per-round privacy plans and the codec that carries
// a round's values through secure aggregation. Sums are formed as secure
// aggregation forms them (privacy::AddModulo over the sites' words) and
// compared with the plain sums of what the sites encoded.
#include "coordinator/job/round_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/job/job_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "privacy/calibration.h"
#include "privacy/clipping.h"
#include "privacy/rdp_accountant.h"
#include "tests/testing/status_matchers.h"

namespace tessera::coordinator {
namespace {

using ::tessera::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kRoundSeed = 0x5eed0f7e55e7a;

// A valid job (it passes the job-file rules, see RebuiltJobPlansTheSame):
// 3 to 10 sites, each with 2 neighbours of which 2 must survive, 32 bits.
JobSpec MakeSpec(PrivacyMode mode) {
  JobSpec spec;
  spec.name = "plan-test";
  spec.dataset = "cohort";
  spec.schema.features = {agent::data::NumericColumn("age", 0, 120),
                          agent::data::BinaryColumn("smoker")};
  spec.schema.label = agent::data::BinaryColumn("readmitted");
  spec.rounds = 20;
  spec.min_sites = 3;
  spec.max_sites = 10;
  spec.secagg_neighbours = 2;
  spec.secagg_threshold = 2;
  spec.secagg_bit_width = 32;
  spec.privacy_mode = mode;
  if (mode != PrivacyMode::kNone) {
    spec.clip_norm = 1.0;
    spec.delta = 1e-5;
    spec.noise_multiplier = 1.0;
  }
  return spec;
}

double Uniform(privacy::RandomSource& rng, double lo, double hi) {
  return lo + (hi - lo) * privacy::Uniform01(rng);
}

// One site's aggregate: the update from `update`, weight 0.25 (k + 1), and
// evaluation sums as a site fills them (loss sum not a multiple of 2^-16,
// integer counts and histogram counts).
std::vector<float> SiteVector(const strategy::AggregateLayout& layout,
                              const std::vector<float>& update, int k, privacy::RandomSource& rng) {
  std::vector<float> values(static_cast<size_t>(layout.size()), 0.0f);
  absl::Span<float> span = absl::MakeSpan(values);
  absl::StatusOr<absl::Span<float>> out = layout.MutableUpdate(span);
  EXPECT_OK(out);
  std::copy(update.begin(), update.end(), out->begin());
  EXPECT_OK(layout.WriteSlot(span, strategy::kWeightSlot, 0.25f * static_cast<float>(k + 1)));
  EXPECT_OK(layout.WriteSlot(span, strategy::kEvalLossSumSlot,
                             static_cast<float>(Uniform(rng, 10, 500))));
  EXPECT_OK(layout.WriteSlot(span, strategy::kEvalCorrectSlot, static_cast<float>(90 + k)));
  EXPECT_OK(layout.WriteSlot(span, strategy::kEvalCountSlot, static_cast<float>(100 + 7 * k)));
  if (layout.Has(strategy::kEvalHistogramPositiveBlock)) {
    for (const char* name :
         {strategy::kEvalHistogramPositiveBlock, strategy::kEvalHistogramNegativeBlock}) {
      absl::StatusOr<absl::Span<float>> block = layout.MutableBlock(span, name);
      EXPECT_OK(block);
      for (float& count : *block) count = static_cast<float>(privacy::UniformBelow(rng, 50));
    }
  }
  return values;
}

// The sites' words summed mod 2^b, as secure aggregation reveals them.
struct Summed {
  std::vector<uint32_t> sum;
  int64_t clamped = 0;
  std::vector<AggregateCodec::EncodeReport> reports;
};

Summed EncodeAndSum(const AggregateCodec& codec, const std::vector<std::vector<float>>& sites,
                    uint64_t rng_seed) {
  Summed result;
  result.sum.assign(codec.word_count(), 0);
  std::vector<uint32_t> words;
  for (size_t k = 0; k < sites.size(); ++k) {
    privacy::Xoshiro256StarStar rng(rng_seed + k);  // each site its own generator
    absl::StatusOr<AggregateCodec::EncodeReport> report =
        codec.Encode(sites[k], kRoundSeed, rng, &words);
    EXPECT_OK(report);
    if (!report.ok()) continue;
    EXPECT_EQ(words.size(), codec.word_count());
    privacy::AddModulo(absl::MakeSpan(result.sum), words, codec.bit_width());
    result.clamped += report->clamped;
    result.reports.push_back(*report);
  }
  return result;
}

// The exact segment's expected sum: each value rounded to the nearest
// multiple of 2^-16 (the encoding's definition), summed exactly in int64.
float ExactSum(const std::vector<std::vector<float>>& sites, size_t index) {
  int64_t total = 0;
  for (const auto& site : sites) {
    total += static_cast<int64_t>(std::nearbyint(std::ldexp(double{site[index]}, 16)));
  }
  return static_cast<float>(std::ldexp(static_cast<double>(total), -16));
}

void ExpectExactSegment(const strategy::AggregateLayout& layout,
                        const std::vector<std::vector<float>>& sites,
                        const std::vector<float>& decoded) {
  for (size_t i = static_cast<size_t>(layout.update_size()); i < decoded.size(); ++i) {
    EXPECT_EQ(decoded[i], ExactSum(sites, i)) << "position " << i;
  }
  // Weights (multiples of 1/4) and counts (integers) come back as their
  // plain sums: 0.25 (1 + ... + n), sum of 100 + 7k.
  const double n = static_cast<double>(sites.size());
  ASSERT_OK_AND_ASSIGN(float weight, layout.ReadSlot(decoded, strategy::kWeightSlot));
  EXPECT_EQ(weight, 0.25 * n * (n + 1) / 2);
  ASSERT_OK_AND_ASSIGN(float count, layout.ReadSlot(decoded, strategy::kEvalCountSlot));
  EXPECT_EQ(count, 100 * n + 7 * n * (n - 1) / 2);
  ASSERT_OK_AND_ASSIGN(float correct, layout.ReadSlot(decoded, strategy::kEvalCorrectSlot));
  EXPECT_EQ(correct, 90 * n + n * (n - 1) / 2);
}

TEST(TrainingLayoutTest, BinaryLabelsGetScoreHistograms) {
  JobSpec spec = MakeSpec(PrivacyMode::kNone);
  ASSERT_OK_AND_ASSIGN(strategy::AggregateLayout binary, TrainingLayout(spec, 31));
  // 31 update values, 4 slots, 2 histograms of 64 bins.
  EXPECT_EQ(binary.size(), 31 + 4 + 2 * 64);
  ASSERT_OK_AND_ASSIGN(auto hist, binary.Find(strategy::kEvalHistogramNegativeBlock));
  EXPECT_EQ(hist.length, 64);
  spec.schema.label = agent::data::NumericColumn("length_of_stay");
  ASSERT_OK_AND_ASSIGN(strategy::AggregateLayout regression, TrainingLayout(spec, 31));
  EXPECT_EQ(regression.size(), 31 + 4);
  EXPECT_FALSE(regression.Has(strategy::kEvalHistogramPositiveBlock));
  EXPECT_THAT(TrainingLayout(spec, -1), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AggregateCodecTest, FixedPointScaleAndWordCountFollowTheFormulas) {
  // s = floor((2^(b-1) - 1) / (n R)) with n = 10, R = 16:
  // 2147483647 / 160 = 13421772.8 and 524287 / 160 = 3276.8.
  // Words: d + (4 + 128) L, with L = ceil(64 / (b - ceil(log2 10))):
  // b = 32: w = 28, L = 3; b = 20: w = 16, L = 4.
  for (PrivacyMode mode : {PrivacyMode::kNone, PrivacyMode::kRecord}) {
    JobSpec spec = MakeSpec(mode);
    ASSERT_OK_AND_ASSIGN(auto layout, TrainingLayout(spec, 100));
    ASSERT_OK_AND_ASSIGN(AggregateCodec codec, AggregateCodec::ForTraining(spec, layout));
    EXPECT_EQ(codec.update_scale(), 13421772);
    EXPECT_EQ(codec.limbs_per_value(), 3);
    EXPECT_EQ(codec.word_count(), 100u + 132u * 3u);
    spec.secagg_bit_width = 20;
    ASSERT_OK_AND_ASSIGN(AggregateCodec narrow, AggregateCodec::ForTraining(spec, layout));
    EXPECT_EQ(narrow.update_scale(), 3276);
    EXPECT_EQ(narrow.word_count(), 100u + 132u * 4u);
    EXPECT_EQ(narrow.bit_width(), 20);
  }
}

TEST(AggregateCodecTest, FixedPointSumsAreWithinTheRoundingBound) {
  for (int64_t bits : {32, 20}) {
    for (PrivacyMode mode : {PrivacyMode::kNone, PrivacyMode::kRecord}) {
      SCOPED_TRACE(absl::StrCat(bits, " bits, ", PrivacyModeName(mode)));
      JobSpec spec = MakeSpec(mode);
      spec.secagg_bit_width = bits;
      const int64_t d = 200;
      ASSERT_OK_AND_ASSIGN(auto layout, TrainingLayout(spec, d));
      ASSERT_OK_AND_ASSIGN(AggregateCodec codec, AggregateCodec::ForTraining(spec, layout));
      // 7 sites (fewer than max_sites) with values in [-20, 20]: some beyond
      // R = 16 get clamped.
      privacy::Xoshiro256StarStar data(42);
      std::vector<std::vector<float>> sites;
      std::vector<double> clamped_sum(static_cast<size_t>(d), 0.0);
      int64_t expected_clamped = 0;
      for (int k = 0; k < 7; ++k) {
        std::vector<float> update(static_cast<size_t>(d));
        for (size_t i = 0; i < update.size(); ++i) {
          update[i] = static_cast<float>(Uniform(data, -20, 20));
          if (std::abs(update[i]) > 16) ++expected_clamped;
          clamped_sum[i] += std::clamp(double{update[i]}, -16.0, 16.0);
        }
        sites.push_back(SiteVector(layout, update, k, data));
      }
      Summed summed = EncodeAndSum(codec, sites, 1000);
      EXPECT_EQ(summed.clamped, expected_clamped);
      EXPECT_GT(expected_clamped, 0);
      std::vector<float> decoded;
      ASSERT_OK(codec.Decode(summed.sum, kRoundSeed, &decoded));
      ASSERT_EQ(decoded.size(), static_cast<size_t>(layout.size()));
      // Each site's rounding error is below one unit of 1/s: the sum is
      // within n / s, plus the final rounding to float (half an ulp).
      const double n = static_cast<double>(sites.size());
      for (size_t i = 0; i < static_cast<size_t>(d); ++i) {
        const double bound = n / codec.update_scale() + std::abs(clamped_sum[i]) * 0x1p-23;
        EXPECT_NEAR(decoded[i], clamped_sum[i], bound) << "update[" << i << "]";
      }
      ExpectExactSegment(layout, sites, decoded);
    }
  }
}

TEST(AggregateCodecTest, FullSitesAtTheClampNeverWrap) {
  // max_sites sites all at +R (or -R after clamping) give +-n R s, the edge of
  // the ring's signed range: the decoded sum is exactly +-n R.
  JobSpec spec = MakeSpec(PrivacyMode::kNone);
  spec.secagg_bit_width = 20;
  ASSERT_OK_AND_ASSIGN(auto layout, TrainingLayout(spec, 2));
  ASSERT_OK_AND_ASSIGN(AggregateCodec codec, AggregateCodec::ForTraining(spec, layout));
  privacy::Xoshiro256StarStar data(7);
  std::vector<std::vector<float>> sites;
  for (int k = 0; k < spec.max_sites; ++k) {
    sites.push_back(SiteVector(layout, {16.0f, -1e6f}, k, data));
  }
  Summed summed = EncodeAndSum(codec, sites, 50);
  std::vector<float> decoded;
  ASSERT_OK(codec.Decode(summed.sum, kRoundSeed, &decoded));
  EXPECT_EQ(decoded[0], 160.0f);
  EXPECT_EQ(decoded[1], -160.0f);
  EXPECT_EQ(summed.clamped, spec.max_sites);
}

TEST(AggregateCodecTest, FixedPointRoundingIsRandomisedAndUnbiased) {
  // A value 0.25 units above an integer rounds up with probability 0.25:
  // over 10000 encodings the count of round-ups is Binomial(10000, 0.25),
  // sd 43.3; 5 sd either side fails a correct codec with probability < 1e-6.
  JobSpec spec = MakeSpec(PrivacyMode::kNone);
  ASSERT_OK_AND_ASSIGN(auto layout, TrainingLayout(spec, 1));
  ASSERT_OK_AND_ASSIGN(AggregateCodec codec, AggregateCodec::ForTraining(spec, layout));
  const double s = codec.update_scale();
  std::vector<float> values(static_cast<size_t>(layout.size()), 0.0f);
  values[0] = static_cast<float>((3 + 0.25) / s);  // exactly 3.25 units: 1/s < 2^-23
  const double units = static_cast<double>(values[0]) * s;
  const double fraction = units - std::floor(units);
  ASSERT_NEAR(fraction, 0.25, 0.01);
  privacy::Xoshiro256StarStar rng(99);
  std::vector<uint32_t> words;
  int ups = 0;
  for (int trial = 0; trial < 10000; ++trial) {
    ASSERT_OK(codec.Encode(values, kRoundSeed, rng, &words));
    ups += words[0] == 4 ? 1 : 0;
    ASSERT_TRUE(words[0] == 3 || words[0] == 4) << words[0];
  }
  EXPECT_NEAR(ups, 10000 * fraction, 5 * 43.3);
}

// 6 of 10 sites, updates of norm 0.5 to 2 clipped to 1, through the codec of
// a site-mode job with noise multiplier z.
void ExpectSiteLevelSum(double z, bool check_signal) {
  SCOPED_TRACE(absl::StrCat("noise multiplier ", z));
  JobSpec spec = MakeSpec(PrivacyMode::kSite);
  spec.noise_multiplier = z;
  const int64_t d = 100;
  ASSERT_OK_AND_ASSIGN(auto layout, TrainingLayout(spec, d));
  ASSERT_OK_AND_ASSIGN(AggregateCodec codec, AggregateCodec::ForTraining(spec, layout));
  ASSERT_OK_AND_ASSIGN(SiteLevelPlan plan, PlanSiteLevel(spec, d));
  EXPECT_EQ(codec.update_words(), 128);  // d padded to a power of two
  EXPECT_EQ(codec.update_scale(), plan.config.scale);
  EXPECT_EQ(codec.word_count(), 128u + 132u * 3u);

  privacy::Xoshiro256StarStar data(5);
  std::vector<std::vector<float>> sites;
  std::vector<double> clipped_sum(static_cast<size_t>(d), 0.0);
  for (int k = 0; k < 6; ++k) {
    std::vector<float> update(static_cast<size_t>(d));
    for (float& v : update) v = static_cast<float>(Uniform(data, -1, 1));
    const double norm = privacy::L2Norm(update);
    const double target = 0.5 + 0.3 * k;  // 0.5 ... 2.0
    for (float& v : update) v = static_cast<float>(v * target / norm);
    std::vector<float> clipped = update;
    ASSERT_OK(privacy::ClipL2(absl::MakeSpan(clipped), spec.clip_norm));
    for (size_t i = 0; i < clipped.size(); ++i) clipped_sum[i] += clipped[i];
    sites.push_back(SiteVector(layout, update, k, data));
  }
  Summed summed = EncodeAndSum(codec, sites, 300);
  ASSERT_EQ(summed.reports.size(), 6u);
  EXPECT_NEAR(summed.reports[5].update_norm, 2.0, 1e-5);
  EXPECT_NEAR(summed.reports[5].clip_scale, 0.5, 1e-5);
  EXPECT_EQ(summed.reports[0].clip_scale, 1.0);
  std::vector<float> decoded;
  ASSERT_OK(codec.Decode(summed.sum, kRoundSeed, &decoded));
  double error_sq = 0;
  double signal_sq = 0;
  for (size_t i = 0; i < static_cast<size_t>(d); ++i) {
    error_sq += (decoded[i] - clipped_sum[i]) * (decoded[i] - clipped_sum[i]);
    signal_sq += clipped_sum[i] * clipped_sum[i];
  }
  // Markov's inequality on E||error||^2 <= PredictedSquaredError: a correct
  // codec exceeds 1000 times it with probability <= 1e-3 (for a seed drawn at
  // random; the seed is fixed, so the test is deterministic).
  const double predicted = privacy::PredictedSquaredError(plan.config, 6);
  EXPECT_LE(error_sq, 1000 * predicted);
  if (check_signal) {
    EXPECT_LT(1000 * predicted, 0.01 * signal_sq);
  }
  ExpectExactSegment(layout, sites, decoded);
}

TEST(AggregateCodecTest, SiteLevelSumIsWithinThePredictedError) {
  // Small noise (z = 1e-4, below what a job file may ask for) so that the
  // bound is far below the signal and a wrong scale, rotation or sign fails.
  ExpectSiteLevelSum(1e-4, /*check_signal=*/true);
  // Real noise, on the 32-bit ring where the plan steps the scale down.
  ExpectSiteLevelSum(1.0, /*check_signal=*/false);
}

TEST(AggregateCodecTest, StatisticsSumExactly) {
  JobSpec spec = MakeSpec(PrivacyMode::kRecord);
  ASSERT_OK_AND_ASSIGN(AggregateCodec codec, AggregateCodec::ForStatistics(spec, 6));
  EXPECT_EQ(codec.word_count(), 6u * 3u);
  // Per site: a count, feature sums and sums of squares, large and negative;
  // the last value is not a multiple of 2^-8 and is compared with the sum
  // of its rounded values (round(v 2^8) / 2^8, the encoding's definition).
  const std::vector<std::vector<double>> sites = {
      {1200, -35000.5, 1.5e15, 0.0, -7.25, 1.0 / 3},
      {800, 12000.25, 2.25e15, 1e-3, -1e12, 2.0 / 3},
      {4000, 99999.75, 3.5e13, -4, 3e12, 0.1},
  };
  std::vector<uint32_t> sum(codec.word_count(), 0);
  std::vector<uint32_t> words;
  for (const auto& site : sites) {
    ASSERT_OK(codec.EncodeStatistics(site, &words));
    privacy::AddModulo(absl::MakeSpan(sum), words, codec.bit_width());
  }
  std::vector<double> decoded;
  ASSERT_OK(codec.DecodeStatistics(sum, &decoded));
  ASSERT_EQ(decoded.size(), 6u);
  EXPECT_EQ(decoded[0], 6000);
  EXPECT_EQ(decoded[1], 76999.5);
  EXPECT_EQ(decoded[2], 3.785e15);
  EXPECT_EQ(decoded[4], 2e12 - 7.25);
  // 1e-3 -> 0, -4 -> -4; 1/3 -> 85/256, 2/3 -> 171/256, 0.1 -> 26/256.
  EXPECT_EQ(decoded[3], -4);
  EXPECT_EQ(decoded[5], (85.0 + 171 + 26) / 256);
}

TEST(AggregateCodecTest, RefusesBitWidthsTooSmall) {
  // Fixed point at 16 bits, 10 sites: s = floor(32767 / 160) = 204 < 1024;
  // 19 bits give floor(262143 / 160) = 1638, 18 bits 819.
  JobSpec spec = MakeSpec(PrivacyMode::kRecord);
  spec.secagg_bit_width = 16;
  ASSERT_OK_AND_ASSIGN(auto layout, TrainingLayout(spec, 10));
  EXPECT_THAT(AggregateCodec::ForTraining(spec, layout),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("secure_aggregation.bit_width"), HasSubstr(">= 19"))));
  spec.secagg_bit_width = 19;
  EXPECT_OK(AggregateCodec::ForTraining(spec, layout));
  // 65535 sites: 31 bits give floor((2^30 - 1) / 1048560) = 1024, 30 bits 511.
  spec.max_sites = 65535;
  spec.secagg_bit_width = 30;
  EXPECT_THAT(AggregateCodec::ForTraining(spec, layout),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(">= 31")));
  // An evaluation-only layout has no update segment, but the exact limbs
  // still need b - ceil(log2 10) >= 4.
  spec = MakeSpec(PrivacyMode::kNone);
  spec.secagg_bit_width = 7;
  ASSERT_OK_AND_ASSIGN(auto eval_only, TrainingLayout(spec, 0));
  EXPECT_THAT(AggregateCodec::ForTraining(spec, eval_only),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("secure_aggregation.bit_width"), HasSubstr("at least 8"))));
  EXPECT_THAT(AggregateCodec::ForStatistics(spec, 4),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least 8")));
  spec.secagg_bit_width = 8;
  ASSERT_OK_AND_ASSIGN(AggregateCodec eval_codec, AggregateCodec::ForTraining(spec, eval_only));
  EXPECT_EQ(eval_codec.word_count(), 132u * 16u);  // w = 4, L = 16
  EXPECT_THAT(AggregateCodec::ForStatistics(spec, 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AggregateCodecTest, RefusesBadInputNamingThePositionNotTheValue) {
  JobSpec spec = MakeSpec(PrivacyMode::kNone);
  ASSERT_OK_AND_ASSIGN(auto layout, TrainingLayout(spec, 5));
  ASSERT_OK_AND_ASSIGN(AggregateCodec codec, AggregateCodec::ForTraining(spec, layout));
  privacy::Xoshiro256StarStar rng(1);
  std::vector<uint32_t> words;
  std::vector<float> values(static_cast<size_t>(layout.size()), 1.0f);
  EXPECT_THAT(codec.Encode(absl::MakeSpan(values).subspan(1), kRoundSeed, rng, &words),
              StatusIs(absl::StatusCode::kInvalidArgument));
  values[3] = std::nanf("");
  EXPECT_THAT(codec.Encode(values, kRoundSeed, rng, &words),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("update[3]")));
  values[3] = 1.0f;
  values[6] = 1.2345e30f;  // eval.loss_sum: 2^16 times it is beyond int64
  EXPECT_THAT(codec.Encode(values, kRoundSeed, rng, &words),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("eval.loss_sum"), Not(HasSubstr("1.2345")),
                             Not(HasSubstr("e+30")))));
  values[6] = 1.0f;
  values[5 + 4 + 64 + 2] = INFINITY;
  EXPECT_THAT(codec.Encode(values, kRoundSeed, rng, &words),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("eval.hist.neg[2]")));

  ASSERT_OK_AND_ASSIGN(AggregateCodec stats, AggregateCodec::ForStatistics(spec, 2));
  EXPECT_THAT(stats.EncodeStatistics(std::vector<double>{1.0, NAN}, &words),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("statistics[1]")));
  EXPECT_THAT(stats.EncodeStatistics(std::vector<double>{4e16, 1.0}, &words),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("statistics[0]"), Not(HasSubstr("4e")))));
  EXPECT_THAT(stats.EncodeStatistics(std::vector<double>{1.0}, &words),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Each codec serves one kind of round.
  EXPECT_THAT(stats.Encode(values, kRoundSeed, rng, &words),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(codec.EncodeStatistics(std::vector<double>{1.0, 2.0}, &words),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  std::vector<double> doubles;
  EXPECT_THAT(codec.DecodeStatistics(std::vector<uint32_t>(stats.word_count()), &doubles),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(AggregateCodecTest, DecodeRefusesAMalformedSum) {
  JobSpec spec = MakeSpec(PrivacyMode::kNone);
  spec.secagg_bit_width = 24;
  ASSERT_OK_AND_ASSIGN(auto layout, TrainingLayout(spec, 5));
  ASSERT_OK_AND_ASSIGN(AggregateCodec codec, AggregateCodec::ForTraining(spec, layout));
  std::vector<float> values;
  std::vector<uint32_t> sum(codec.word_count() - 1, 0);
  EXPECT_THAT(codec.Decode(sum, kRoundSeed, &values), StatusIs(absl::StatusCode::kInvalidArgument));
  sum.assign(codec.word_count(), 0);
  sum[9] = uint32_t{1} << 24;  // not reduced modulo 2^24
  EXPECT_THAT(codec.Decode(sum, kRoundSeed, &values),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("word 9")));
}

TEST(RecordLevelPlanTest, StepsAndSamplingRateMatchTheTrainer) {
  // model/trainer.cc: q = min(1, B / N), steps = epochs * ceil(N / B).
  struct Case {
    int64_t records, batch, epochs;
    double q;
    int64_t steps;
  } cases[] = {{1000, 32, 2, 0.032, 64},  {10, 32, 3, 1.0, 3}, {64, 32, 3, 0.5, 6},
               {65, 32, 1, 32.0 / 65, 3}, {1, 1, 5, 1.0, 5},   {100000, 256, 1, 0.00256, 391}};
  for (const Case& c : cases) {
    JobSpec spec = MakeSpec(PrivacyMode::kRecord);
    spec.batch_size = c.batch;
    spec.local_epochs = c.epochs;
    ASSERT_OK_AND_ASSIGN(RecordLevelPlan plan, PlanRecordLevel(spec, c.records));
    EXPECT_DOUBLE_EQ(plan.sampling_rate, c.q) << c.records << " records, batch " << c.batch;
    EXPECT_EQ(plan.steps_per_round, c.steps) << c.records << " records, batch " << c.batch;
    EXPECT_EQ(plan.noise_multiplier, 1.0);  // the job's fixed noise, passed through
    EXPECT_EQ(plan.clip_norm, 1.0);
    EXPECT_EQ(plan.step_event, (privacy::PoissonGaussianEvent{1.0, plan.sampling_rate}));
  }
}

TEST(RecordLevelPlanTest, CalibratedNoiseIsTheSmallestMeetingTheTarget) {
  JobSpec spec = MakeSpec(PrivacyMode::kRecord);
  spec.noise_multiplier.reset();
  spec.target_epsilon = 3.0;
  spec.batch_size = 50;
  spec.local_epochs = 2;
  ASSERT_OK_AND_ASSIGN(RecordLevelPlan plan, PlanRecordLevel(spec, 2000));
  const int64_t steps = plan.steps_per_round * spec.rounds;  // 2 * 40 * 20
  EXPECT_EQ(steps, 1600);
  ASSERT_OK_AND_ASSIGN(privacy::EpsilonReport at_z,
                       privacy::ComputeEpsilon(privacy::AccountantKind::kRdp,
                                               {plan.noise_multiplier, 0.025, steps}, spec.delta));
  EXPECT_LE(at_z.epsilon, 3.0);
  ASSERT_OK_AND_ASSIGN(
      privacy::EpsilonReport below,
      privacy::ComputeEpsilon(privacy::AccountantKind::kRdp,
                              {0.98 * plan.noise_multiplier, 0.025, steps}, spec.delta));
  EXPECT_GT(below.epsilon, 3.0);
}

TEST(RecordLevelPlanTest, RefusesOtherModesAndEmptySites) {
  EXPECT_THAT(PlanRecordLevel(MakeSpec(PrivacyMode::kSite), 100),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"site\"")));
  EXPECT_THAT(PlanRecordLevel(MakeSpec(PrivacyMode::kRecord), 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// epsilon over the job of a site-level plan, by the RDP accountant.
double SiteLevelEpsilon(const JobSpec& spec, const SiteLevelPlan& plan) {
  privacy::RdpAccountant accountant;
  EXPECT_OK(accountant.Compose(plan.round_event, spec.rounds));
  absl::StatusOr<privacy::RdpEpsilon> epsilon = accountant.Epsilon(spec.delta);
  EXPECT_OK(epsilon);
  return epsilon.ok() ? epsilon->epsilon : 0;
}

// PlanDistributedDp's request for the job of MakeSpec at `bits`.
privacy::DistributedDpPlanRequest Request(int64_t dimension, double z, int bits) {
  privacy::DistributedDpPlanRequest request;
  request.dimension = dimension;
  request.clip_norm = 1.0;
  request.noise_multiplier = z;
  request.min_sites = 2;  // the secure-aggregation threshold
  request.max_sites = 10;
  request.bits = bits;
  return request;
}

TEST(SiteLevelPlanTest, FixedNoiseIsPassedThrough) {
  JobSpec spec = MakeSpec(PrivacyMode::kSite);
  spec.noise_multiplier = 0.8;
  spec.secagg_bit_width = 20;
  ASSERT_OK_AND_ASSIGN(SiteLevelPlan plan, PlanSiteLevel(spec, 1000));
  EXPECT_EQ(plan.noise_multiplier, 0.8);
  // The config is PlanDistributedDp's for the job's settings, and the event
  // RoundEvent's at the threshold.
  ASSERT_OK_AND_ASSIGN(privacy::DistributedDpConfig expected,
                       privacy::PlanDistributedDp(Request(1000, 0.8, 20)));
  EXPECT_EQ(plan.config.scale, expected.scale);
  EXPECT_EQ(plan.config.site_noise_variance, expected.site_noise_variance);
  EXPECT_EQ(plan.config.clip_norm, 1.0);
  EXPECT_EQ(plan.config.bits, 20);
  EXPECT_EQ(plan.config.dimension, 1000);
  ASSERT_OK_AND_ASSIGN(privacy::SkellamEvent event, privacy::RoundEvent(expected, 2));
  EXPECT_EQ(plan.round_event, event);
}

TEST(SiteLevelPlanTest, WideRingsGetAScaleTheNoiseSamplersSupport) {
  // At 32 bits PlanDistributedDp's largest scale asks each site for a noise
  // variance above ValidateConfig's limit; the plan takes the scale of the
  // widest narrower ring whose config is usable and keeps 32-bit words.
  JobSpec spec = MakeSpec(PrivacyMode::kSite);
  spec.noise_multiplier = 0.8;
  ASSERT_OK_AND_ASSIGN(privacy::DistributedDpConfig widest,
                       privacy::PlanDistributedDp(Request(1000, 0.8, 32)));
  EXPECT_THAT(privacy::ValidateConfig(widest), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(SiteLevelPlan plan, PlanSiteLevel(spec, 1000));
  EXPECT_EQ(plan.config.bits, 32);
  EXPECT_OK(privacy::ValidateConfig(plan.config));
  int planned_at = 0;
  for (int bits = 31; bits >= 20 && planned_at == 0; --bits) {
    ASSERT_OK_AND_ASSIGN(privacy::DistributedDpConfig at,
                         privacy::PlanDistributedDp(Request(1000, 0.8, bits)));
    if (at.scale == plan.config.scale) {
      planned_at = bits;
      EXPECT_EQ(plan.config.site_noise_variance, at.site_noise_variance);
    }
  }
  ASSERT_GT(planned_at, 0) << "the scale is not PlanDistributedDp's at any width";
  ASSERT_OK_AND_ASSIGN(privacy::DistributedDpConfig wider,
                       privacy::PlanDistributedDp(Request(1000, 0.8, planned_at + 1)));
  wider.bits = 32;
  EXPECT_FALSE(privacy::ValidateConfig(wider).ok()) << "a wider ring was usable";
  ASSERT_OK_AND_ASSIGN(privacy::SkellamEvent event, privacy::RoundEvent(plan.config, 2));
  EXPECT_EQ(plan.round_event, event);
}

TEST(SiteLevelPlanTest, CalibratedNoiseMeetsTheTargetOverAllRounds) {
  JobSpec spec = MakeSpec(PrivacyMode::kSite);
  spec.noise_multiplier.reset();
  spec.target_epsilon = 4.0;
  ASSERT_OK_AND_ASSIGN(SiteLevelPlan plan, PlanSiteLevel(spec, 1000));
  EXPECT_LE(SiteLevelEpsilon(spec, plan), 4.0);
  // And it is the smallest such: 2% less noise misses the target.
  JobSpec less = spec;
  less.target_epsilon.reset();
  less.noise_multiplier = 0.98 * plan.noise_multiplier;
  ASSERT_OK_AND_ASSIGN(SiteLevelPlan weaker, PlanSiteLevel(less, 1000));
  EXPECT_GT(SiteLevelEpsilon(less, weaker), 4.0);
  // More rounds need more noise.
  spec.rounds = 80;
  ASSERT_OK_AND_ASSIGN(SiteLevelPlan longer, PlanSiteLevel(spec, 1000));
  EXPECT_GT(longer.noise_multiplier, plan.noise_multiplier);
  EXPECT_LE(SiteLevelEpsilon(spec, longer), 4.0);
}

TEST(SiteLevelPlanTest, RefusesOtherModesAndEmptyModels) {
  EXPECT_THAT(PlanSiteLevel(MakeSpec(PrivacyMode::kRecord), 10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"record\"")));
  EXPECT_THAT(PlanSiteLevel(MakeSpec(PrivacyMode::kSite), 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RoundPlanTest, RebuiltJobPlansTheSame) {
  // The site rebuilds the job from its canonical JSON; the plan it derives
  // must match the coordinator's bit for bit.
  JobSpec spec = MakeSpec(PrivacyMode::kSite);
  spec.noise_multiplier.reset();
  spec.target_epsilon = 2.5;
  ASSERT_OK_AND_ASSIGN(JobSpec rebuilt, JobSpecFromJson(CanonicalJson(spec)));
  ASSERT_OK_AND_ASSIGN(SiteLevelPlan coordinator, PlanSiteLevel(spec, 300));
  ASSERT_OK_AND_ASSIGN(SiteLevelPlan site, PlanSiteLevel(rebuilt, 300));
  EXPECT_EQ(site.noise_multiplier, coordinator.noise_multiplier);
  EXPECT_EQ(site.config.scale, coordinator.config.scale);
  EXPECT_EQ(site.config.site_noise_variance, coordinator.config.site_noise_variance);
  EXPECT_EQ(site.round_event, coordinator.round_event);
  ASSERT_OK_AND_ASSIGN(auto layout, TrainingLayout(rebuilt, 300));
  ASSERT_OK_AND_ASSIGN(auto coordinator_layout, TrainingLayout(spec, 300));
  EXPECT_EQ(layout, coordinator_layout);
  ASSERT_OK_AND_ASSIGN(AggregateCodec site_codec, AggregateCodec::ForTraining(rebuilt, layout));
  ASSERT_OK_AND_ASSIGN(AggregateCodec coordinator_codec,
                       AggregateCodec::ForTraining(spec, coordinator_layout));
  EXPECT_EQ(site_codec.word_count(), coordinator_codec.word_count());
  EXPECT_EQ(site_codec.update_scale(), coordinator_codec.update_scale());
}

}  // namespace
}  // namespace tessera::coordinator
