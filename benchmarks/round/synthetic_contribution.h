// What a load-generator site contributes to a round in place of reading
// records and training: SYNTHETIC values that go through the REAL encoding
// (coordinator/job/round_plan.h AggregateCodec: site-level DP's clip,
// rotation, scaling and Skellam noise from the OS CSPRNG, or fixed point;
// exact limbs for the slots and for statistics), so the coordinator decodes
// and applies its strategy to a well-formed sum.
//
//   * Training rounds: a fixed random vector of d floats (drawn once from a
//     seeded xoshiro256**, L2 norm half the job's clip norm, like a delta
//     that clipping leaves alone) as the update, multiplied by the FedAvg
//     weight of a site with 1,000 training records (0.1 of the 10,000 cap
//     of agent/local_round.h); evaluation slots of 250 hold-out examples
//     (loss sum 250 ln 2, 125 correct, score histograms of 125 positives in
//     the upper and 125 negatives in the lower half of the bins).
//   * Statistics rounds: for each numeric feature 750 values of mean 0.5
//     and variance 1 (count, sum, sum of squares).
// Every site sends the same values (only the noise, the rounding and the
// masks differ), so the coordinator's sum is n times them, which the
// decoded metrics show (loss ln 2, accuracy 0.5, AUC 1).
//
// The codec and the synthetic vector of a job are built once and shared by
// all sites (read-only), so n sites cost one copy of d floats.
//
// Thread-safety: CodecFor and Encode are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/job/job_spec.h"
#include "coordinator/job/round_plan.h"

namespace tessera::loadgen {

// A round's codec and the synthetic values it encodes.
struct RoundCodec {
  bool training = false;
  coordinator::AggregateCodec codec;
  std::vector<float> aggregate;    // training: layout.size() values
  std::vector<double> statistics;  // statistics: 3 per numeric feature
};

class SyntheticContribution {
 public:
  // `seed` fixes the synthetic update vector.
  explicit SyntheticContribution(uint64_t seed) : seed_(seed) {}
  SyntheticContribution(const SyntheticContribution&) = delete;
  SyntheticContribution& operator=(const SyntheticContribution&) = delete;

  // The codec of `job_id`'s training rounds (`training`, a model of
  // `dimension` parameters) or statistics rounds, built on first use with
  // TrainingLayout / AggregateCodec::ForTraining or ForStatistics, as the
  // coordinator and the agent build theirs. Their errors otherwise.
  absl::StatusOr<std::shared_ptr<const RoundCodec>> CodecFor(const std::string& job_id,
                                                             const coordinator::JobSpec& spec,
                                                             bool training, int64_t dimension);

  // One site's words for a round with public seed `round_seed` (32 bytes):
  // Encode (training; noise and rounding from a fresh OsRandomSource) or
  // EncodeStatistics. The codec's errors otherwise.
  static absl::StatusOr<std::vector<uint32_t>> Encode(const RoundCodec& codec,
                                                      const std::string& round_seed);

 private:
  const uint64_t seed_;
  absl::Mutex mutex_;
  std::map<std::string, std::shared_ptr<const RoundCodec>> codecs_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace tessera::loadgen
