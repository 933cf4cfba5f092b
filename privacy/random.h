// Randomness for the privacy mechanisms, through one interface so that tests
// and simulations can substitute a seeded generator.
//
// Three kinds, never mixed (see STYLE.md):
//   - OsRandomSource: the operating system's CSPRNG via getrandom(2) (a system
//     call, not file I/O). Production noise, rounding and record sampling
//     use it; the noise must be unpredictable to everyone, including the
//     coordinator, or it protects nothing.
//   - Xoshiro256StarStar: xoshiro256** (Blackman & Vigna 2018, "Scrambled
//     linear pseudorandom number generators"), seeded through SplitMix64
//     (Steele, Lea & Flood 2014). Deterministic from its seed. Used for the
//     PUBLIC per-round rotation (every party must derive the same signs from
//     the round seed) and for tests and simulations. It is not a CSPRNG and
//     must never produce noise in production.
//
// Thread-safety: a RandomSource is used from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tessera::privacy {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // A uniformly random 64-bit word, independent of all earlier ones.
  virtual uint64_t NextUint64() = 0;
};

// A uniform double in [0, 1) with 53 random bits.
inline double Uniform01(RandomSource& rng) {
  return static_cast<double>(rng.NextUint64() >> 11) * 0x1.0p-53;
}

// A uniform integer in [0, bound) without modulo bias (Lemire 2019,
// "Fast random integer generation in an interval", Algorithm 5).
// Precondition: bound > 0.
uint64_t UniformBelow(RandomSource& rng, uint64_t bound);

// One step of SplitMix64: advances `state` and returns the next output.
uint64_t SplitMix64(uint64_t& state);

class Xoshiro256StarStar final : public RandomSource {
 public:
  // State expanded from `seed` with four SplitMix64 outputs (the seeding
  // recommended by the xoshiro authors).
  explicit Xoshiro256StarStar(uint64_t seed);
  // State given directly, for reference vectors. Precondition: not all zero.
  static Xoshiro256StarStar FromState(uint64_t s0, uint64_t s1, uint64_t s2, uint64_t s3);

  uint64_t NextUint64() override;

 private:
  Xoshiro256StarStar() = default;
  uint64_t s_[4] = {0, 0, 0, 0};
};

class OsRandomSource final : public RandomSource {
 public:
  // UNAVAILABLE when getrandom(2) does not work on this system.
  static absl::StatusOr<std::unique_ptr<OsRandomSource>> Create();

  // Aborts the process if getrandom(2) starts failing after Create succeeded:
  // continuing without unpredictable noise would silently void the privacy
  // guarantee.
  uint64_t NextUint64() override;

 private:
  OsRandomSource() = default;
  void Refill();
  static constexpr size_t kBufferWords = 4096;  // 32 KiB per getrandom call
  uint64_t buffer_[kBufferWords] = {};
  size_t position_ = kBufferWords;
};

}  // namespace tessera::privacy
