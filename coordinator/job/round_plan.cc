#include "coordinator/job/round_plan.h"

#include "coordinator/job/round_id.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "privacy/calibration.h"
#include "privacy/clipping.h"
#include "privacy/rdp_accountant.h"

namespace tessera::coordinator {
namespace {

// Bisection tolerance of the site-level noise multiplier (relative).
constexpr double kSiteNoiseTolerance = 1e-6;
// 2^63 as a double: values scaled to this or beyond do not fit in int64.
constexpr double kTwoTo63 = 9223372036854775808.0;

// The fixed-point scale s = floor((2^(b-1) - 1) / (n R)).
double FixedPointScale(int bits, int64_t max_sites) {
  const double top = std::ldexp(1.0, bits - 1) - 1;
  return std::floor(top / (static_cast<double>(max_sites) * kUpdateRange));
}

absl::StatusOr<int> BitWidth(const JobSpec& spec) {
  if (spec.secagg_bit_width < 2 || spec.secagg_bit_width > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("secure_aggregation.bit_width must be in 2..32 to carry a round, got ",
                     spec.secagg_bit_width));
  }
  return static_cast<int>(spec.secagg_bit_width);
}

absl::StatusOr<privacy::LimbCodec> ExactCodec(const JobSpec& spec, int bits) {
  absl::StatusOr<privacy::LimbCodec> codec = privacy::LimbCodec::Create(bits, spec.max_sites);
  if (!codec.ok()) {
    return Annotate(codec.status(), absl::StrCat("secure_aggregation.bit_width = ", bits,
                                                 " with rounds.max_sites = ", spec.max_sites,
                                                 " cannot sum counts exactly"));
  }
  return codec;
}

// Where position `index` of a training aggregate lives, for messages.
std::string PositionName(const strategy::AggregateLayout& layout, int64_t index) {
  if (index < layout.update_size()) return absl::StrCat(strategy::kUpdateName, "[", index, "]");
  for (const strategy::AggregateLayout::Entry& entry : layout.entries()) {
    if (index >= entry.offset && index < entry.offset + entry.length) {
      return entry.is_block ? absl::StrCat(entry.name, "[", index - entry.offset, "]") : entry.name;
    }
  }
  return absl::StrCat("position ", index);
}

// round(value * 2^fraction_bits) as an int64, or nullopt when it does not fit.
std::optional<int64_t> ToFixed(double value, int fraction_bits) {
  const double scaled = std::nearbyint(std::ldexp(value, fraction_bits));
  if (!(scaled >= -kTwoTo63 && scaled < kTwoTo63)) return std::nullopt;
  return static_cast<int64_t>(scaled);
}

// PlanDistributedDp picks the largest scale the ring allows, but on wide
// rings (32 bits with noise_multiplier near 1) that scale asks each site for
// more Skellam variance than the samplers support, and the config it returns
// fails ValidateConfig. A scale planned for a narrower ring also fits the
// job's ring, with more headroom, so the planning width steps down until the
// config is usable; the words keep the job's bit width. Each step halves the
// scale, which only matters for the rounding error, already negligible next
// to noise of that size.
absl::StatusOr<privacy::DistributedDpConfig> PlanForRing(
    privacy::DistributedDpPlanRequest request) {
  const int ring_bits = request.bits;
  absl::Status first_error;
  for (int planning_bits = ring_bits; planning_bits >= 2; --planning_bits) {
    request.bits = planning_bits;
    absl::StatusOr<privacy::DistributedDpConfig> config = privacy::PlanDistributedDp(request);
    if (!config.ok()) {
      if (first_error.ok()) first_error = config.status();
      break;  // a narrower ring cannot hold the sum either
    }
    config->bits = ring_bits;
    absl::Status usable = privacy::ValidateConfig(*config);
    if (usable.ok()) return config;
    if (first_error.ok()) first_error = usable;
  }
  return first_error;
}

absl::Status CheckMode(const JobSpec& spec, PrivacyMode mode) {
  if (spec.privacy_mode == mode) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("job `", spec.name, "` has privacy.mode = \"",
                                                 PrivacyModeName(spec.privacy_mode), "\", not \"",
                                                 PrivacyModeName(mode), "\""));
}

absl::StatusOr<double> Target(const JobSpec& spec) {
  if (!spec.target_epsilon.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job `", spec.name, "` sets neither privacy.epsilon nor privacy.noise_multiplier"));
  }
  return *spec.target_epsilon;
}

}  // namespace

absl::StatusOr<strategy::AggregateLayout> TrainingLayout(const JobSpec& spec, int64_t dimension) {
  const bool binary = spec.schema.label.type == agent::data::ColumnType::kBinary;
  return strategy::AggregateLayout::Standard(dimension, binary ? kHistogramBins : 0);
}

absl::StatusOr<SiteLevelPlan> PlanSiteLevel(const JobSpec& spec, int64_t dimension) {
  TESSERA_RETURN_IF_ERROR(CheckMode(spec, PrivacyMode::kSite));
  if (dimension < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("site-level DP needs a model with parameters, got dimension ", dimension));
  }
  TESSERA_ASSIGN_OR_RETURN(const int bits, BitWidth(spec));
  auto plan_at = [&](double z) -> absl::StatusOr<SiteLevelPlan> {
    privacy::DistributedDpPlanRequest request;
    request.dimension = dimension;
    request.clip_norm = spec.clip_norm;
    request.noise_multiplier = z;
    request.min_sites = spec.secagg_threshold;
    request.max_sites = spec.max_sites;
    request.bits = bits;
    SiteLevelPlan plan;
    TESSERA_ASSIGN_OR_RETURN(plan.config, PlanForRing(request));
    plan.noise_multiplier = z;
    TESSERA_ASSIGN_OR_RETURN(plan.round_event,
                             privacy::RoundEvent(plan.config, spec.secagg_threshold));
    return plan;
  };
  if (spec.noise_multiplier.has_value()) return plan_at(*spec.noise_multiplier);

  TESSERA_ASSIGN_OR_RETURN(const double target, Target(spec));
  // The scale, and so the rounded sensitivity, moves with z; the whole plan
  // is redone at every candidate so that the accounted event is the one the
  // sites will run.
  auto epsilon_of = [&](double z) -> absl::StatusOr<double> {
    TESSERA_ASSIGN_OR_RETURN(SiteLevelPlan plan, plan_at(z));
    privacy::RdpAccountant accountant;
    TESSERA_RETURN_IF_ERROR(accountant.Compose(plan.round_event, spec.rounds));
    TESSERA_ASSIGN_OR_RETURN(privacy::RdpEpsilon epsilon, accountant.Epsilon(spec.delta));
    return epsilon.epsilon;
  };
  absl::StatusOr<double> z = privacy::SmallestSufficient(epsilon_of, target, kSiteNoiseTolerance);
  if (!z.ok()) {
    return Annotate(z.status(), absl::StrCat("site-level noise for privacy.epsilon = ", target,
                                             " over ", spec.rounds, " rounds"));
  }
  return plan_at(*z);
}

absl::StatusOr<RecordLevelPlan> PlanRecordLevel(const JobSpec& spec, int64_t training_records) {
  TESSERA_RETURN_IF_ERROR(CheckMode(spec, PrivacyMode::kRecord));
  if (training_records < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a site needs at least one training record, got ", training_records));
  }
  if (spec.batch_size < 1 || spec.local_epochs < 1 || spec.rounds < 1) {
    return absl::InvalidArgumentError(
        "training.batch_size, training.local_epochs and rounds.count must be at least 1");
  }
  RecordLevelPlan plan;
  // Exactly as model/trainer.cc's Train computes them.
  plan.sampling_rate =
      std::min(1.0, static_cast<double>(spec.batch_size) / static_cast<double>(training_records));
  // ceil(N / B), written so that it cannot overflow for any N >= 1.
  const int64_t steps_per_epoch = (training_records - 1) / spec.batch_size + 1;
  int64_t total_steps = 0;
  if (__builtin_mul_overflow(spec.local_epochs, steps_per_epoch, &plan.steps_per_round) ||
      __builtin_mul_overflow(plan.steps_per_round, spec.rounds, &total_steps)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the job's step count overflows with ", training_records,
                     " records; raise training.batch_size or lower training.local_epochs or "
                     "rounds.count"));
  }
  plan.clip_norm = spec.clip_norm;
  if (spec.noise_multiplier.has_value()) {
    plan.noise_multiplier = *spec.noise_multiplier;
  } else {
    TESSERA_ASSIGN_OR_RETURN(const double target, Target(spec));
    absl::StatusOr<privacy::NoiseCalibration> calibration = privacy::SmallestNoiseMultiplier(
        privacy::AccountantKind::kRdp, target, spec.delta, plan.sampling_rate, total_steps);
    if (!calibration.ok()) {
      return Annotate(calibration.status(),
                      absl::StrCat("record-level noise for privacy.epsilon = ", target, " with ",
                                   training_records, " records"));
    }
    plan.noise_multiplier = calibration->noise_multiplier;
  }
  plan.step_event = privacy::PoissonGaussianEvent{plan.noise_multiplier, plan.sampling_rate};
  return plan;
}

absl::StatusOr<AggregateCodec> AggregateCodec::ForTraining(
    const JobSpec& spec, const strategy::AggregateLayout& layout) {
  TESSERA_ASSIGN_OR_RETURN(const int bits, BitWidth(spec));
  TESSERA_ASSIGN_OR_RETURN(privacy::LimbCodec limbs, ExactCodec(spec, bits));
  AggregateCodec codec(bits, limbs);
  codec.layout_ = layout;
  codec.value_count_ = layout.size();
  codec.update_size_ = layout.update_size();
  if (codec.update_size_ > 0) {
    if (spec.privacy_mode == PrivacyMode::kSite) {
      TESSERA_ASSIGN_OR_RETURN(SiteLevelPlan plan, PlanSiteLevel(spec, codec.update_size_));
      TESSERA_ASSIGN_OR_RETURN(privacy::DistributedDpEncoder encoder,
                               privacy::DistributedDpEncoder::Create(plan.config));
      codec.update_encoding_ = UpdateEncoding::kDistributedDp;
      codec.update_words_ = encoder.padded_dimension();
      codec.update_scale_ = plan.config.scale;
      codec.dp_encoder_ = std::move(encoder);
    } else {
      const double scale = FixedPointScale(bits, spec.max_sites);
      if (scale < kMinUpdateScale) {
        int needed = bits + 1;
        while (needed <= 32 && FixedPointScale(needed, spec.max_sites) < kMinUpdateScale) ++needed;
        const std::string fix = needed <= 32
                                    ? absl::StrCat("use secure_aggregation.bit_width >= ", needed)
                                    : std::string("lower rounds.max_sites");
        return absl::InvalidArgumentError(absl::StrCat(
            "secure_aggregation.bit_width = ", bits, " with rounds.max_sites = ", spec.max_sites,
            " leaves the model update ", scale, " integer steps per unit (at least ",
            kMinUpdateScale, " needed for a usable precision); ", fix));
      }
      codec.update_encoding_ = UpdateEncoding::kFixedPoint;
      codec.update_words_ = codec.update_size_;
      codec.update_scale_ = scale;
    }
  }
  const int64_t exact_values = codec.value_count_ - codec.update_size_;
  codec.word_count_ = static_cast<uint64_t>(codec.update_words_) +
                      static_cast<uint64_t>(exact_values) * static_cast<uint64_t>(limbs.limbs());
  return codec;
}

absl::StatusOr<AggregateCodec> AggregateCodec::ForStatistics(const JobSpec& spec, int64_t values) {
  if (values < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a statistics round needs at least one value, got ", values));
  }
  TESSERA_ASSIGN_OR_RETURN(const int bits, BitWidth(spec));
  TESSERA_ASSIGN_OR_RETURN(privacy::LimbCodec limbs, ExactCodec(spec, bits));
  AggregateCodec codec(bits, limbs);
  codec.statistics_ = true;
  codec.value_count_ = values;
  codec.word_count_ = static_cast<uint64_t>(values) * static_cast<uint64_t>(limbs.limbs());
  return codec;
}

absl::StatusOr<AggregateCodec::EncodeReport> AggregateCodec::Encode(
    absl::Span<const float> values, uint64_t round_seed, privacy::RandomSource& rng,
    std::vector<uint32_t>* words) const {
  if (statistics_) {
    return absl::FailedPreconditionError("Encode called on a statistics round's codec");
  }
  TESSERA_RETURN_IF_ERROR(layout_->CheckFinite(values));
  words->assign(static_cast<size_t>(word_count_), 0);
  const size_t update_size = static_cast<size_t>(update_size_);
  const absl::Span<const float> update = values.subspan(0, update_size);
  const absl::Span<uint32_t> out = absl::MakeSpan(*words);
  EncodeReport report;
  switch (update_encoding_) {
    case UpdateEncoding::kNone:
      break;
    case UpdateEncoding::kDistributedDp: {
      TESSERA_ASSIGN_OR_RETURN(
          privacy::DistributedDpEncoder::Report dp,
          dp_encoder_->Encode(update, round_seed, rng,
                              out.subspan(0, static_cast<size_t>(update_words_))));
      report.update_norm = dp.update_norm;
      report.clip_scale = dp.clip_scale;
      break;
    }
    case UpdateEncoding::kFixedPoint: {
      report.update_norm = privacy::L2Norm(update);
      for (size_t i = 0; i < update_size; ++i) {
        double value = static_cast<double>(update[i]);
        if (std::abs(value) > kUpdateRange) {
          value = std::clamp(value, -kUpdateRange, kUpdateRange);
          ++report.clamped;
        }
        // |value s| <= R s < 2^31: exact in double, and its floor fits int64.
        const double scaled = value * update_scale_;
        const double floor_value = std::floor(scaled);
        const bool up = privacy::Uniform01(rng) < scaled - floor_value;
        out[i] = privacy::WrapToModulus(static_cast<int64_t>(floor_value) + (up ? 1 : 0), bits_);
      }
      break;
    }
  }
  const size_t limbs = static_cast<size_t>(limbs_.limbs());
  size_t word = static_cast<size_t>(update_words_);
  for (size_t i = update_size; i < values.size(); ++i, word += limbs) {
    std::optional<int64_t> fixed = ToFixed(static_cast<double>(values[i]), kExactFractionBits);
    if (!fixed.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(PositionName(*layout_, static_cast<int64_t>(i)),
                       " is too large to sum exactly (its magnitude must stay below 2^47)"));
    }
    limbs_.Encode(*fixed, out.subspan(word, limbs));
  }
  return report;
}

absl::StatusOr<AggregateCodec::EncodeReport> AggregateCodec::EncodeStatistics(
    absl::Span<const double> values, std::vector<uint32_t>* words) const {
  if (!statistics_) {
    return absl::FailedPreconditionError("EncodeStatistics called on a training round's codec");
  }
  if (static_cast<int64_t>(values.size()) != value_count_) {
    return absl::InvalidArgumentError(
        absl::StrCat("statistics round expects ", value_count_, " values, got ", values.size()));
  }
  words->assign(static_cast<size_t>(word_count_), 0);
  const size_t limbs = static_cast<size_t>(limbs_.limbs());
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat("statistics[", i, "] is not finite"));
    }
    std::optional<int64_t> fixed = ToFixed(values[i], kStatisticsFractionBits);
    if (!fixed.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "statistics[", i, "] is too large to sum exactly (its magnitude must stay below 2^55)"));
    }
    limbs_.Encode(*fixed, absl::MakeSpan(*words).subspan(i * limbs, limbs));
  }
  return EncodeReport{};
}

absl::Status AggregateCodec::CheckSum(absl::Span<const uint32_t> sum) const {
  if (sum.size() != word_count_) {
    return absl::InvalidArgumentError(absl::StrCat("the aggregated sum has ", sum.size(),
                                                   " words, the round expects ", word_count_));
  }
  if (bits_ < 32) {
    const uint32_t limit = uint32_t{1} << bits_;
    for (size_t i = 0; i < sum.size(); ++i) {
      if (sum[i] >= limit) {
        return absl::InvalidArgumentError(
            absl::StrCat("word ", i, " of the aggregated sum is not reduced modulo 2^", bits_));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status AggregateCodec::Decode(absl::Span<const uint32_t> sum, uint64_t round_seed,
                                    std::vector<float>* values) const {
  if (statistics_) {
    return absl::FailedPreconditionError("Decode called on a statistics round's codec");
  }
  TESSERA_RETURN_IF_ERROR(CheckSum(sum));
  values->assign(static_cast<size_t>(value_count_), 0.0f);
  const size_t update_size = static_cast<size_t>(update_size_);
  const absl::Span<float> out = absl::MakeSpan(*values);
  switch (update_encoding_) {
    case UpdateEncoding::kNone:
      break;
    case UpdateEncoding::kDistributedDp:
      TESSERA_RETURN_IF_ERROR(
          dp_encoder_->Decode(sum.subspan(0, static_cast<size_t>(update_words_)), round_seed,
                              out.subspan(0, update_size)));
      break;
    case UpdateEncoding::kFixedPoint:
      for (size_t i = 0; i < update_size; ++i) {
        out[i] = static_cast<float>(static_cast<double>(privacy::UnwrapFromModulus(sum[i], bits_)) /
                                    update_scale_);
      }
      break;
  }
  const size_t limbs = static_cast<size_t>(limbs_.limbs());
  size_t word = static_cast<size_t>(update_words_);
  for (size_t i = update_size; i < out.size(); ++i, word += limbs) {
    const int64_t total = limbs_.Decode(sum.subspan(word, limbs));
    out[i] = static_cast<float>(std::ldexp(static_cast<double>(total), -kExactFractionBits));
  }
  return absl::OkStatus();
}

absl::Status AggregateCodec::DecodeStatistics(absl::Span<const uint32_t> sum,
                                              std::vector<double>* values) const {
  if (!statistics_) {
    return absl::FailedPreconditionError("DecodeStatistics called on a training round's codec");
  }
  TESSERA_RETURN_IF_ERROR(CheckSum(sum));
  values->assign(static_cast<size_t>(value_count_), 0.0);
  const size_t limbs = static_cast<size_t>(limbs_.limbs());
  for (size_t i = 0; i < values->size(); ++i) {
    const int64_t total = limbs_.Decode(sum.subspan(i * limbs, limbs));
    (*values)[i] = std::ldexp(static_cast<double>(total), -kStatisticsFractionBits);
  }
  return absl::OkStatus();
}

absl::StatusOr<privacy::PrivacyLedger> RoundEvents(const JobSpec& spec, int64_t dimension,
                                                   int64_t training_records) {
  privacy::PrivacyLedger ledger;
  switch (spec.privacy_mode) {
    case PrivacyMode::kRecord: {
      TESSERA_ASSIGN_OR_RETURN(RecordLevelPlan plan, PlanRecordLevel(spec, training_records));
      TESSERA_RETURN_IF_ERROR(ledger.Add(plan.step_event, plan.steps_per_round));
      break;
    }
    case PrivacyMode::kSite: {
      TESSERA_ASSIGN_OR_RETURN(SiteLevelPlan plan, PlanSiteLevel(spec, dimension));
      TESSERA_RETURN_IF_ERROR(ledger.Add(plan.round_event, 1));
      break;
    }
    case PrivacyMode::kNone:
      break;
  }
  return ledger;
}

crypto::secagg::RoundParameters SecAggParameters(const JobSpec& spec, const std::string& job_id,
                                                 uint32_t round, uint32_t attempt,
                                                 std::vector<std::string> participants,
                                                 absl::string_view round_seed,
                                                 uint64_t vector_length) {
  crypto::secagg::RoundParameters parameters;
  parameters.job_id = job_id;
  parameters.round = SecAggRoundNumber(round, attempt);
  parameters.participants = std::move(participants);
  parameters.threshold = static_cast<uint32_t>(spec.secagg_threshold);
  parameters.neighbours = static_cast<uint32_t>(spec.secagg_neighbours);
  parameters.bit_width = static_cast<uint32_t>(spec.secagg_bit_width);
  parameters.vector_length = vector_length;
  std::copy_n(round_seed.begin(), std::min(round_seed.size(), parameters.graph_seed.size()),
              parameters.graph_seed.begin());
  return parameters;
}

}  // namespace tessera::coordinator
