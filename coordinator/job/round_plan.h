// The round plan: what every party derives from a job to run its rounds —
// the aggregate layout of a training round, the per-round privacy settings
// and what they cost, and how a round's float vector travels as words in
// Z_{2^b} through secure aggregation and comes back as the sum.
//
// The coordinator and every agent call these same functions on the same
// JobSpec (rebuilt at the site by JobSpecFromJson), so they agree bit for bit
// on the layout, the word count (the secure-aggregation vector_length), the
// noise and the encoding. Pure and torch-free: no clock, no I/O; randomness
// only through the privacy::RandomSource the caller passes.
//
// Encoding (AggregateCodec). Secure aggregation reveals only the sum of the
// surviving sites' word vectors modulo 2^b (b = secure_aggregation.bit_width,
// n = rounds.max_sites the most sites a sum can hold). A training round's
// words are [update segment][exact segment]:
//
//  * Update segment, privacy mode "site": privacy::DistributedDpEncoder with
//    PlanSiteLevel(spec, update_size).config (clip, rotate, scale, round,
//    Skellam noise; padded_dimension() words). The noise has to be added
//    before the sum and stay hidden under secure aggregation, which is what
//    that encoder is for. Decode gives the real-valued sum of the clipped
//    updates plus the noise; E||error||^2 <= PredictedSquaredError(config,
//    sites) (rounding and noise), overflow as PredictedOverflowProbability.
//  * Update segment, modes "record" and "none": fixed point, one word per
//    value. Record-level noise is already in each site's update (DP-SGD) and
//    "none" has none, so the update only has to cross the ring, and one word
//    per value keeps the vector as short as the model. Each value is clamped
//    to [-R, R] (R = kUpdateRange = 16; clamped values are counted in the
//    report), multiplied by s = floor((2^(b-1) - 1) / (n R)) and rounded up
//    with probability equal to its fractional part (unbiased: E[word] = v s).
//    A site's word lies in [-R s, R s], so n of them sum inside
//    [-(2^(b-1) - 1), 2^(b-1) - 1] and never wrap. Each site's rounding error
//    is below one unit, so each coordinate of the decoded sum is within n / s
//    of the sum of the clamped values (deterministically). s must be at least
//    2^10: at b = 32, n = 10 it is 13,421,772 (resolution 7.5e-8, about a
//    float's at 1); at b = 20, n = 10 it is 3,276.
//  * Exact segment: every other layout value (weight, eval.loss_sum,
//    eval.correct, eval.count, eval.hist.*), times 2^16 and rounded to the
//    nearest int64, as privacy::LimbCodec(b, n) limbs (3 words each at
//    b = 32 with up to 1024 sites). The coordinator divides by the total
//    weight and by counts and builds accuracy and the AUC from counts: these
//    must not carry rounding noise, and the limbs sum exactly. Integers and
//    multiples of 2^-16 come back exactly (as floats: integers up to 2^24);
//    other values are within n 2^-17 of their sum. A value must satisfy
//    |v| 2^16 < 2^63 (Encode refuses others), and the sum is exact while the
//    true sum of the scaled values fits in int64 (|sum| < 2^47).
//
// A statistics round (feature sums and sums of squares for standardisation)
// has only an exact segment: each double times 2^8, rounded to the nearest
// int64, as limbs. Sums of squares are large (1e6 records of values near 1e5
// sum to 1e16), so fewer fraction bits leave room: |v| 2^8 < 2^63 per value;
// each value is within n 2^-9 of the sum and decodes to a double.
//
// Thread-safety: the free functions are pure. AggregateCodec is immutable;
// Encode and Decode may be called concurrently (with different RandomSources
// and output vectors).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "coordinator/job/job_spec.h"
#include "coordinator/strategy/aggregate_layout.h"
#include "privacy/distributed_dp.h"
#include "crypto/secagg/round_parameters.h"
#include "privacy/dp_event.h"
#include "privacy/limb_codec.h"
#include "privacy/random.h"

namespace tessera::coordinator {

// Score-histogram bins of a binary task's evaluation (the default of
// model::EvalOptions::histogram_bins, which the agent's evaluation uses).
inline constexpr int64_t kHistogramBins = 64;
// R: the fixed-point update segment clamps each value to [-R, R].
inline constexpr double kUpdateRange = 16;
// s must be at least this many integer steps per unit.
inline constexpr double kMinUpdateScale = 1024;
// Fraction bits of the exact segment and of statistics rounds.
inline constexpr int kExactFractionBits = 16;
inline constexpr int kStatisticsFractionBits = 8;

// The aggregate layout of a training round of `spec` for a model of
// `dimension` parameters: AggregateLayout::Standard(dimension, bins) with
// bins = kHistogramBins when the label is binary, else 0. INVALID_ARGUMENT
// as Standard() (a negative dimension, more than 2^31 - 1 values).
absl::StatusOr<strategy::AggregateLayout> TrainingLayout(const JobSpec& spec, int64_t dimension);

// Site-level DP (privacy mode "site") for a model of `dimension` parameters.
struct SiteLevelPlan {
  // PlanDistributedDp(dimension, clip_norm, z, min_sites = the secure-
  // aggregation threshold, max_sites, bits = bit_width). When that config is
  // unusable because its per-site noise variance exceeds what the samplers
  // support (ValidateConfig; typical at 32 bits), the scale is planned for
  // the widest narrower ring whose config is usable, and bits stays the
  // job's bit width.
  privacy::DistributedDpConfig config;
  // z per round: the job's noise_multiplier, or the smallest z (relative
  // tolerance 1e-6) whose RDP epsilon over `rounds` rounds of round_event is
  // at most the job's target at its delta.
  double noise_multiplier = 0;
  // privacy::RoundEvent(config, threshold): one round's release.
  privacy::SkellamEvent round_event;
};

// INVALID_ARGUMENT when the job's privacy mode is not "site", dimension < 1,
// or the settings cannot be planned (PlanDistributedDp's errors, e.g. a bit
// width too small for any scale); OUT_OF_RANGE when no noise multiplier up
// to 1e5 reaches the target epsilon.
absl::StatusOr<SiteLevelPlan> PlanSiteLevel(const JobSpec& spec, int64_t dimension);

// Record-level DP (mode "record") for a site with `training_records` records:
// what its DP-SGD does in each round and what that costs.
struct RecordLevelPlan {
  // The job's, or privacy::SmallestNoiseMultiplier(kRdp, epsilon, delta, q,
  // steps_per_round * rounds).
  double noise_multiplier = 0;
  // q = min(1, batch_size / training_records), as model/trainer.cc's Train.
  double sampling_rate = 0;
  // local_epochs * ceil(training_records / batch_size), as Train.
  int64_t steps_per_round = 0;
  double clip_norm = 0;
  // One step; a round is steps_per_round of them.
  privacy::PoissonGaussianEvent step_event;
};

// INVALID_ARGUMENT when the job's privacy mode is not "record",
// training_records < 1, or the job's total step count overflows int64;
// OUT_OF_RANGE when no noise multiplier reaches the target epsilon.
absl::StatusOr<RecordLevelPlan> PlanRecordLevel(const JobSpec& spec, int64_t training_records);

// The secure-aggregation parameters of one attempt of a round of `spec`,
// which the coordinator and every site must derive identically: the round
// number binds round and attempt (SecAggRoundNumber), `round_seed` (32
// bytes, checked by the caller) fixes the neighbour graph.
crypto::secagg::RoundParameters SecAggParameters(const JobSpec& spec, const std::string& job_id,
                                                 uint32_t round, uint32_t attempt,
                                                 std::vector<std::string> participants,
                                                 absl::string_view round_seed,
                                                 uint64_t vector_length);

// What one training round of `spec` releases about one site, for an
// accountant: record level, steps_per_round repetitions of the step event
// for `training_records` records; site level, the round event of a
// `dimension`-parameter model; privacy mode none, nothing (an empty ledger:
// no guarantee to account). Errors as PlanRecordLevel / PlanSiteLevel.
absl::StatusOr<privacy::PrivacyLedger> RoundEvents(const JobSpec& spec, int64_t dimension,
                                                   int64_t training_records);

// How a round's values travel as words in Z_{2^b} and come back as the sum
// (see the top of this file).
class AggregateCodec {
 public:
  // A training round with `layout` (normally TrainingLayout(spec, d)).
  // INVALID_ARGUMENT naming secure_aggregation.bit_width and the width that
  // would work when b is too small for the exact segment's limbs or gives the
  // fixed-point update fewer than kMinUpdateScale steps per unit; site mode
  // also fails as PlanSiteLevel(spec, layout.update_size()).
  static absl::StatusOr<AggregateCodec> ForTraining(const JobSpec& spec,
                                                    const strategy::AggregateLayout& layout);

  // A statistics round of `values` doubles summed exactly. INVALID_ARGUMENT
  // when values < 1 or the bit width is too small for the limbs.
  static absl::StatusOr<AggregateCodec> ForStatistics(const JobSpec& spec, int64_t values);

  // The number of words: the secure-aggregation vector_length.
  uint64_t word_count() const { return word_count_; }
  int bit_width() const { return bits_; }
  // Values per round: the layout's size, or the statistics count.
  int64_t value_count() const { return value_count_; }
  // Words of the update segment (the DP encoder's padded dimension in site
  // mode, else the update size; 0 for statistics).
  int64_t update_words() const { return update_words_; }
  // Integer steps per unit of the update segment: s of the fixed point, or
  // the DP encoder's scale; 0 when there is no update segment.
  double update_scale() const { return update_scale_; }
  // Words per exactly summed value.
  int limbs_per_value() const { return limbs_.limbs(); }

  struct EncodeReport {
    int64_t clamped = 0;     // fixed-point update values clamped to [-R, R]
    double update_norm = 0;  // L2 norm of the update before clipping or clamping
    double clip_scale = 1;   // site mode: the factor clipping applied
  };

  // Site side of a training round: the words of `values` (value_count()
  // floats in the layout). `round_seed` is the round's public randomness
  // (site mode: the rotation); `rng` draws the rounding and the noise and
  // must be an OsRandomSource in production. `words` is resized to
  // word_count(). INVALID_ARGUMENT for a wrong size, a NaN or infinite value,
  // or an exact value whose |v| 2^16 reaches 2^63 (naming the position as
  // "update[i]", "name" or "name[i]", never the value); FAILED_PRECONDITION
  // on a statistics codec; INTERNAL if conditional rounding keeps failing.
  absl::StatusOr<EncodeReport> Encode(absl::Span<const float> values, uint64_t round_seed,
                                      privacy::RandomSource& rng,
                                      std::vector<uint32_t>* words) const;

  // Site side of a statistics round. INVALID_ARGUMENT for a wrong size, a
  // non-finite value or |v| 2^8 >= 2^63 (naming "statistics[i]");
  // FAILED_PRECONDITION on a training codec.
  absl::StatusOr<EncodeReport> EncodeStatistics(absl::Span<const double> values,
                                                std::vector<uint32_t>* words) const;

  // Coordinator side: the summed words (word_count(), each below 2^b) back to
  // value_count() floats. INVALID_ARGUMENT for a wrong size or a word not
  // reduced modulo 2^b; FAILED_PRECONDITION on a statistics codec.
  absl::Status Decode(absl::Span<const uint32_t> sum, uint64_t round_seed,
                      std::vector<float>* values) const;

  // Coordinator side of a statistics round; errors as Decode.
  absl::Status DecodeStatistics(absl::Span<const uint32_t> sum, std::vector<double>* values) const;

 private:
  enum class UpdateEncoding { kNone, kDistributedDp, kFixedPoint };

  AggregateCodec(int bits, privacy::LimbCodec limbs) : bits_(bits), limbs_(limbs) {}

  absl::Status CheckSum(absl::Span<const uint32_t> sum) const;

  int bits_;
  privacy::LimbCodec limbs_;
  bool statistics_ = false;
  std::optional<strategy::AggregateLayout> layout_;  // training rounds
  int64_t value_count_ = 0;
  int64_t update_size_ = 0;
  UpdateEncoding update_encoding_ = UpdateEncoding::kNone;
  std::optional<privacy::DistributedDpEncoder> dp_encoder_;  // site mode
  double update_scale_ = 0;
  int64_t update_words_ = 0;
  uint64_t word_count_ = 0;
};

}  // namespace tessera::coordinator
