// Random variates for training on top of privacy/random.h's RandomSource:
// the Gaussian noise of DP-SGD and the shuffling of non-private epochs.
// (Poisson sampling of DP-SGD lots is privacy/samplers.h's PoissonSubsample.)
//
// Which source: DP-SGD in production draws its noise and its lots from the
// OS CSPRNG (CsprngSource below). The guarantee of Abadi et al. 2016 assumes
// nobody can predict the noise or know which records each step sampled
// (amplification by subsampling), so neither may come from a seed anyone
// could know. Seeded generators (privacy::Xoshiro256StarStar) are for tests,
// simulations and the shuffling of non-private training only.
//
// Thread-safety: stateless functions; the RandomSource is used from one
// thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "privacy/random.h"

namespace tessera::model {

// Words from the OS CSPRNG as OpenSSL serves it (crypto/random.h:
// RAND_priv_bytes, OpenSSL 3's AES-256 CTR_DRBG of NIST SP 800-90A, seeded
// and reseeded from getrandom(2)), read in 32 KiB blocks. The same kind of
// randomness as privacy::OsRandomSource (unpredictable, never seedable), but
// DP-SGD draws about one word per parameter per step, and there the DRBG's
// AES-NI keystream in user space costs about a third of what getrandom(2)'s
// in-kernel ChaCha20 does (benchmarks/model/ measured DP-SGD at 2.4x the
// time of non-private training with getrandom, 1.6x with this).
class CsprngSource final : public privacy::RandomSource {
 public:
  // INTERNAL when the first read fails (OpenSSL's generator is not seeded).
  static absl::StatusOr<std::unique_ptr<CsprngSource>> Create();
  // Aborts the process if the generator fails after Create succeeded:
  // continuing with predictable noise would silently void the privacy
  // guarantee (the same choice as privacy::OsRandomSource).
  uint64_t NextUint64() override {
    if (position_ == kBufferWords) Refill();
    return buffer_[position_++];
  }

 private:
  CsprngSource() = default;
  absl::Status TryRefill();
  void Refill();
  static constexpr size_t kBufferWords = 4096;
  uint64_t buffer_[kBufferWords] = {};
  size_t position_ = kBufferWords;
};

// A standard normal variate by the ziggurat method (Marsaglia & Tsang 2000,
// "The Ziggurat Method for Generating Random Variables", J. Stat. Softw.
// 5(8), with 256 layers), taking the layer, the sign and the abscissa from
// independent bits of one word (as Doornik 2005, "An Improved Ziggurat
// Method to Generate Normal Random Samples", recommends) and the tail beyond
// r = 3.654 by Marsaglia's 1964 exact method. About one word per variate.
double SampleGaussian(privacy::RandomSource& random);

// values[i] += stddev * z_i with independent standard normal z_i.
void AddGaussianNoise(double stddev, privacy::RandomSource& random, absl::Span<float> values);

// Replaces `order` with a uniformly random permutation of 0..n-1
// (Fisher-Yates; Knuth, TAOCP vol. 2, §3.4.2, Algorithm P).
void RandomPermutation(int64_t n, privacy::RandomSource& random, std::vector<int64_t>* order);

}  // namespace tessera::model
