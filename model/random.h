// Randomness for training: shuffling, Poisson sampling of records and the
// Gaussian noise of DP-SGD, drawn from one stream of 64-bit words.
//
// Two sources, never mixed within one stream:
//  - Seeded(seed): std::mt19937_64, whose output sequence the C++ standard
//    fixes exactly, so a seed gives the same words on every machine. For
//    tests, simulations and the shuffling of non-private training only.
//  - Secure(): the OS CSPRNG (crypto/random.h, OpenSSL's private DRBG seeded
//    from getrandom(2)). DP-SGD in production must use it: the privacy
//    guarantee of Abadi et al. 2016 assumes the adversary can predict neither
//    the noise nor which records each step sampled (amplification by
//    subsampling), so neither may come from a seed anyone could know.
// The conversions from words to uniform, Gaussian and geometric variates are
// written out here (not std::*_distribution, whose output differs between
// standard libraries), so a seeded stream is repeatable across toolchains up
// to libm's last-bit differences in log/sin/cos.
//
// Errors: reading the OS CSPRNG can fail (in theory, after a successful first
// read). A stream never hides this: the failure is kept in status(), the
// words it returns after a failure are garbage, and callers must check
// status() before they use anything derived from them (the trainer checks it
// after every step and then discards the step).
//
// Thread-safety: a RandomStream is used from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tessera::model {

class RandomStream {
 public:
  // A deterministic stream: the same seed gives the same sequence.
  static std::unique_ptr<RandomStream> Seeded(uint64_t seed);
  // A stream read from the OS CSPRNG. INTERNAL when the first read fails.
  static absl::StatusOr<std::unique_ptr<RandomStream>> Secure();

  virtual ~RandomStream() = default;
  RandomStream(const RandomStream&) = delete;
  RandomStream& operator=(const RandomStream&) = delete;

  // OK, or the first error the underlying source reported.
  const absl::Status& status() const { return status_; }
  // True for streams from Secure().
  virtual bool secure() const = 0;

  // The next uniformly distributed 64-bit word.
  uint64_t NextWord() {
    if (position_ == buffer_.size()) Refill();
    return buffer_[position_++];
  }
  // Uniform on the open interval (0, 1): (k + 1/2) / 2^53 for a uniform
  // 53-bit k, so log() of it is always finite.
  double NextUniform();
  // Uniform on {0, ..., n - 1} without modulo bias (rejection sampling).
  // Precondition: n > 0.
  uint64_t NextBelow(uint64_t n);
  // A standard normal variate (Box-Muller transform, Box & Muller 1958, in
  // double precision from two 53-bit uniforms, so |z| < 8.7).
  double NextGaussian();
  // values[i] += stddev * z_i with fresh standard normal z_i, for every i.
  void AddGaussianNoise(double stddev, absl::Span<float> values);

 protected:
  RandomStream() : buffer_(kBufferWords), position_(kBufferWords) {}
  // Fills `words` completely; returns an error if the source failed.
  virtual absl::Status Fill(absl::Span<uint64_t> words) = 0;

 private:
  static constexpr size_t kBufferWords = 512;
  void Refill();

  std::vector<uint64_t> buffer_;
  size_t position_;
  absl::Status status_;
  bool has_spare_gaussian_ = false;
  double spare_gaussian_ = 0.0;
};

// Poisson sampling (Abadi et al. 2016, §3.1 "lots"; Mironov, Talwar & Zhang
// 2019, Def. 1): fills `indices` with the increasing indices in [0, n) of a
// sample that holds each index independently with probability q. Walks the
// gaps between chosen indices, which are geometric with parameter q
// (P(gap = k) = (1-q)^k q, drawn as floor(log U / log(1-q))), so the cost is
// O(qn) draws instead of n. q >= 1 takes every index; q <= 0 none.
void PoissonSample(int64_t n, double q, RandomStream& random, std::vector<int64_t>* indices);

// Replaces `order` with a uniformly random permutation of 0..n-1
// (Fisher-Yates, Knuth TAOCP vol. 2 §3.4.2 Algorithm P).
void RandomPermutation(int64_t n, RandomStream& random, std::vector<int64_t>* order);

}  // namespace tessera::model
