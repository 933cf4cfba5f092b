// How a round of a job is named inside secure aggregation and where its
// public randomness comes from. Both the coordinator and every site derive
// these from the task, so they must agree bit for bit.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace tessera::coordinator {

// The round number bound into every secure-aggregation message, signature
// and key derivation (crypto/secagg RoundParameters::round): the job's round
// and the attempt together, so a retried round's messages are useless in
// any other attempt.
inline uint64_t SecAggRoundNumber(uint32_t round, uint32_t attempt) {
  return (static_cast<uint64_t>(round) << 32) | attempt;
}

// The seed of the public random rotation of site-level DP
// (privacy/distributed_dp.h): the first 8 bytes of the round's 32-byte
// public seed, little-endian. 0 for a shorter seed (which a task check
// refuses before this is used).
inline uint64_t RotationSeed(absl::string_view round_seed) {
  if (round_seed.size() < 8) return 0;
  uint64_t seed = 0;
  for (int i = 7; i >= 0; --i) {
    seed = (seed << 8) | static_cast<uint8_t>(round_seed[static_cast<size_t>(i)]);
  }
  return seed;
}

}  // namespace tessera::coordinator
