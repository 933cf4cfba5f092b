// The deterministic training / hold-out split of a site's records.
//
// Each record goes to the hold-out part when u < holdout_fraction, where
// u in [0, 1) is the top 53 bits of SplitMix64 (Steele, Lea & Flood,
// "Fast splittable pseudorandom number generators", OOPSLA 2014; the
// reference code is Vigna's splitmix64.c) seeded with the job's seed and
// advanced to the record's index + 1:
//
//   z = seed + (index + 1) * 0x9E3779B97F4A7C15   (mod 2^64)
//   u = Mix(z) >> 11 / 2^53
//
// so record i gets exactly the (i+1)-th output of a SplitMix64 generator
// seeded with `seed`. The assignment depends only on (seed, index): the same
// file gives the same split on every run and at every site restart, however
// it is read, and appending records never moves earlier ones. The index is
// the record's position in its source (Record::index), so for an SQLite
// query the order must be stable (ORDER BY a key). The hold-out size is
// binomial around fraction * records, not exact.
//
//   [split]                 # job file
//   holdout_fraction = 0.2  # optional, 0 <= f < 1, default 0.2
//   seed = 20261125         # optional, 0 .. 2^63-1, default 0
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"
#include "common/config.h"

namespace tessera::agent::data {

struct SplitConfig {
  double holdout_fraction = 0.2;
  uint64_t seed = 0;
};

// Reads [`prefix`] of a job file. Problems are recorded in `reader`.
SplitConfig ParseSplit(ConfigReader& reader, absl::string_view prefix);

// SplitMix64's output function (the "Mix" above) applied to `z`.
uint64_t SplitMix64Mix(uint64_t z);

// The (n+1)-th output of SplitMix64 seeded with `seed` (n = 0: the first).
uint64_t SplitMix64Output(uint64_t seed, uint64_t n);

// True when the record at `index` belongs to the hold-out part.
// Precondition: index >= 0.
bool IsHoldout(const SplitConfig& split, int64_t index);

}  // namespace tessera::agent::data
