#include "benchmarks/round/synthetic_contribution.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "agent/data/statistics.h"
#include "common/status.h"
#include "coordinator/job/round_id.h"
#include "coordinator/strategy/aggregate_layout.h"
#include "privacy/random.h"

namespace tessera::loadgen {
namespace {

namespace strategy = coordinator::strategy;

// A site with this many training records under agent/local_round.h's
// weight cap of 10,000 sends FedAvg weight 0.1.
constexpr double kSyntheticWeight = 1000.0 / 10000.0;
constexpr int kHoldoutExamples = 250;
constexpr int kStatisticsValues = 750;

absl::StatusOr<std::vector<float>> SyntheticAggregate(const coordinator::JobSpec& spec,
                                                      const strategy::AggregateLayout& layout,
                                                      uint64_t seed) {
  std::vector<float> aggregate(static_cast<size_t>(layout.size()), 0.0f);
  const absl::Span<float> all = absl::MakeSpan(aggregate);
  TESSERA_ASSIGN_OR_RETURN(absl::Span<float> update, layout.MutableUpdate(all));
  privacy::Xoshiro256StarStar rng(seed);
  double squares = 0;
  for (float& value : update) {
    // Uniform in [-1, 1) from the top 24 bits.
    value = static_cast<float>(static_cast<double>(rng.NextUint64() >> 40) / 8388608.0 - 1.0);
    squares += static_cast<double>(value) * static_cast<double>(value);
  }
  const bool weighted = spec.strategy.averaging == strategy::Averaging::kWeighted;
  const double scale = (squares > 0 ? 0.5 * spec.clip_norm / std::sqrt(squares) : 0.0) *
                       (weighted ? kSyntheticWeight : 1.0);
  for (float& value : update) value = static_cast<float>(value * scale);
  if (layout.Has(strategy::kWeightSlot)) {
    TESSERA_RETURN_IF_ERROR(
        layout.WriteSlot(all, strategy::kWeightSlot, static_cast<float>(kSyntheticWeight)));
  }
  TESSERA_RETURN_IF_ERROR(layout.WriteSlot(all, strategy::kEvalLossSumSlot,
                                           static_cast<float>(kHoldoutExamples * std::log(2.0))));
  TESSERA_RETURN_IF_ERROR(
      layout.WriteSlot(all, strategy::kEvalCorrectSlot, static_cast<float>(kHoldoutExamples / 2)));
  TESSERA_RETURN_IF_ERROR(
      layout.WriteSlot(all, strategy::kEvalCountSlot, static_cast<float>(kHoldoutExamples)));
  if (layout.Has(strategy::kEvalHistogramPositiveBlock)) {
    TESSERA_ASSIGN_OR_RETURN(auto positive,
                             layout.MutableBlock(all, strategy::kEvalHistogramPositiveBlock));
    TESSERA_ASSIGN_OR_RETURN(auto negative,
                             layout.MutableBlock(all, strategy::kEvalHistogramNegativeBlock));
    const size_t half = positive.size() / 2;
    for (int i = 0; i < kHoldoutExamples / 2 && half > 0; ++i) {
      positive[half + static_cast<size_t>(i) % half] += 1.0f;
      negative[static_cast<size_t>(i) % half] += 1.0f;
    }
  }
  return aggregate;
}

std::vector<double> SyntheticStatistics(const coordinator::JobSpec& spec) {
  const size_t features = agent::data::NumericFeatureNames(spec.schema).size();
  std::vector<double> sums;
  for (size_t k = 0; k < features; ++k) {
    const double count = kStatisticsValues, mean = 0.5, variance = 1.0;
    sums.push_back(count);
    sums.push_back(count * mean);
    sums.push_back(count * (variance + mean * mean));
  }
  return sums;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RoundCodec>> SyntheticContribution::CodecFor(
    const std::string& job_id, const coordinator::JobSpec& spec, bool training, int64_t dimension) {
  const std::string key = absl::StrCat(job_id, training ? "/training/" : "/statistics/", dimension);
  absl::MutexLock lock(&mutex_);
  if (auto it = codecs_.find(key); it != codecs_.end()) return it->second;
  std::shared_ptr<RoundCodec> built;
  if (training) {
    TESSERA_ASSIGN_OR_RETURN(strategy::AggregateLayout layout,
                             coordinator::TrainingLayout(spec, dimension));
    TESSERA_ASSIGN_OR_RETURN(coordinator::AggregateCodec codec,
                             coordinator::AggregateCodec::ForTraining(spec, layout));
    TESSERA_ASSIGN_OR_RETURN(std::vector<float> aggregate, SyntheticAggregate(spec, layout, seed_));
    built =
        std::make_shared<RoundCodec>(RoundCodec{true, std::move(codec), std::move(aggregate), {}});
  } else {
    std::vector<double> statistics = SyntheticStatistics(spec);
    TESSERA_ASSIGN_OR_RETURN(
        coordinator::AggregateCodec codec,
        coordinator::AggregateCodec::ForStatistics(spec, static_cast<int64_t>(statistics.size())));
    built = std::make_shared<RoundCodec>(
        RoundCodec{false, std::move(codec), {}, std::move(statistics)});
  }
  codecs_.emplace(key, built);
  return std::shared_ptr<const RoundCodec>(std::move(built));
}

absl::StatusOr<std::vector<uint32_t>> SyntheticContribution::Encode(const RoundCodec& codec,
                                                                    const std::string& round_seed) {
  std::vector<uint32_t> words;
  if (!codec.training) {
    TESSERA_RETURN_IF_ERROR(codec.codec.EncodeStatistics(codec.statistics, &words).status());
    return words;
  }
  TESSERA_ASSIGN_OR_RETURN(auto rng, privacy::OsRandomSource::Create());
  TESSERA_RETURN_IF_ERROR(
      codec.codec.Encode(codec.aggregate, coordinator::RotationSeed(round_seed), *rng, &words)
          .status());
  return words;
}

}  // namespace tessera::loadgen
