#include "agent/data/split.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace tessera::agent::data {
namespace {

// SplitMix64's golden-gamma increment (Steele, Lea & Flood 2014).
constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

}  // namespace

uint64_t SplitMix64Mix(uint64_t z) {
  // David Stafford's "Mix13" finalizer, with the constants of splitmix64.c.
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64Output(uint64_t seed, uint64_t n) {
  return SplitMix64Mix(seed + (n + 1) * kGoldenGamma);
}

bool IsHoldout(const SplitConfig& split, int64_t index) {
  const uint64_t bits = SplitMix64Output(split.seed, static_cast<uint64_t>(index)) >> 11;
  const double u = static_cast<double>(bits) * 0x1.0p-53;
  return u < split.holdout_fraction;
}

SplitConfig ParseSplit(ConfigReader& reader, absl::string_view prefix) {
  SplitConfig split;
  const std::string fraction_key = absl::StrCat(prefix, ".holdout_fraction");
  split.holdout_fraction = reader.GetDouble(fraction_key, split.holdout_fraction, 0.0, 1.0);
  if (split.holdout_fraction >= 1.0) {
    reader.AddError(fraction_key, "must be below 1: a fraction of 1 leaves no training records");
  }
  split.seed = static_cast<uint64_t>(reader.GetInt(absl::StrCat(prefix, ".seed"), 0, 0,
                                                   std::numeric_limits<int64_t>::max()));
  return split;
}

}  // namespace tessera::agent::data
