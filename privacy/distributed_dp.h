// Site-level distributed differential privacy: DP-FedAvg with the noise
// hidden under secure aggregation (Kairouz, Liu & Steinke 2021,
// arXiv:2102.06387, Algorithm 1; Agarwal, Kairouz & Liu 2021,
// arXiv:2110.04995, Algorithm 1), with Skellam noise.
//
// Each site encodes its model update x (d floats):
//   1. clip to L2 norm c;
//   2. rotate: y = s U [x; 0] with U = H D / sqrt(d') the randomised
//      Walsh-Hadamard rotation from the public round seed (d' = d padded to
//      a power of two) and s the scale (integers per unit);
//   3. round each coordinate up with probability equal to its fractional
//      part, repeating the whole rounding until ||round(y)||_2 <= D2, the
//      conditional-rounding bound (Kairouz et al., Sec. 4.1):
//        D2 = min( cs + sqrt(d'),
//                  sqrt( (cs)^2 + d'/4 + sqrt(2 log(1/beta)) (cs + sqrt(d')/2) ) ),
//      each attempt succeeding with probability >= 1 - beta;
//   4. add Skellam noise of per-coordinate variance v (its share);
//   5. reduce modulo 2^b (uint32_t words, b <= 32).
// Secure aggregation adds the words of the surviving sites modulo 2^b; the
// coordinator decodes the sum: map each word to [-2^(b-1), 2^(b-1)), divide
// by s, rotate back with U^T and drop the padding.
//
// Privacy: a site's rounded vector has L2 norm <= D2 and L1 norm <= D1 = D2
// min(sqrt(d'), D2), and the sum carries the Skellam noise of every site
// that finished. Each site's share v is sized so that the noise of the
// secure-aggregation threshold t (the fewest sites that can survive) already
// gives the target: the accounted event is SkellamEvent{D2, D1, t v}
// (RoundEvent), so the guarantee holds under any dropouts that leave the
// round alive. It assumes every surviving site really adds its share.
//
// Thread-safety: DistributedDpEncoder is immutable; Encode and Decode may be
// called concurrently with different RandomSources and buffers.
#pragma once

#include <cmath>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "privacy/dp_event.h"
#include "privacy/random.h"

namespace tessera::privacy {

struct DistributedDpConfig {
  int64_t dimension = 0;            // d: floats per update
  double clip_norm = 0;             // c: L2 bound on each site's update
  double scale = 0;                 // s: integer units per unit of the rotated update
  int bits = 0;                     // b: the sum lives in Z_{2^b}, 2 <= b <= 32
  double site_noise_variance = 0;   // v: Skellam variance each site adds per coordinate
  double rounding_beta = 0.6065306597126334;  // beta = e^{-1/2}, Kairouz et al.'s choice
};

// OK when the config is usable; INVALID_ARGUMENT naming the field otherwise.
absl::Status ValidateConfig(const DistributedDpConfig& config);

// D2 and D1 above (integer units).
double RoundedL2Bound(const DistributedDpConfig& config);
double RoundedL1Bound(const DistributedDpConfig& config);

// The privacy event of one round whose sum holds at least `min_sites` sites'
// noise. INVALID_ARGUMENT for an invalid config, min_sites < 1, or zero noise.
absl::StatusOr<SkellamEvent> RoundEvent(const DistributedDpConfig& config, int64_t min_sites);

struct DistributedDpPlanRequest {
  int64_t dimension = 0;
  double clip_norm = 0;
  // Noise standard deviation of the aggregate (with `min_sites` sites) in
  // units of the rounded sensitivity D2: the Gaussian-equivalent noise
  // multiplier of each round.
  double noise_multiplier = 0;
  int64_t min_sites = 0;  // the secure-aggregation threshold t
  int64_t max_sites = 0;  // sites selected per round (the most that can be summed)
  int bits = 0;
  // The modulus covers this many standard deviations of each coordinate of
  // the sum, with all max_sites updates pointing the same way (Kairouz et
  // al. use 3-4); the overflow probability per coordinate is then
  // <= 2 Phi_c(headroom_sigmas).
  double headroom_sigmas = 4;
  double rounding_beta = 0.6065306597126334;
};

// The largest scale s that keeps the sum of max_sites sites within the
// modulus, and the per-site noise variance (noise_multiplier D2)^2 / min_sites.
// INVALID_ARGUMENT for bad inputs or a bit width too small for any scale.
absl::StatusOr<DistributedDpConfig> PlanDistributedDp(const DistributedDpPlanRequest& request);

// Upper bound on E ||decoded sum - sum of clipped updates||_2^2 (real units)
// for `sites` contributing sites, without overflow: each site adds rounding
// variance <= 1/4 and noise variance v per coordinate; the orthogonal
// rotation spreads both evenly, d of the d' coordinates are kept.
double PredictedSquaredError(const DistributedDpConfig& config, int64_t sites);

// Probability that one coordinate of the sum of `sites` sites wraps around
// (leaves [-2^(b-1), 2^(b-1))), by the normal approximation with continuity
// correction: the coordinate has variance sum_norm^2 s^2 / d' + sites (1/4 +
// v), where sum_norm bounds the L2 norm of the summed updates (real units).
double PredictedOverflowProbability(const DistributedDpConfig& config, int64_t sites,
                                    double sum_norm);

// value mod 2^bits, and its inverse onto [-2^(bits-1), 2^(bits-1)).
uint32_t WrapToModulus(int64_t value, int bits);
int64_t UnwrapFromModulus(uint32_t value, int bits);
// acc <- acc + x (mod 2^bits), elementwise. Precondition: equal sizes.
void AddModulo(absl::Span<uint32_t> acc, absl::Span<const uint32_t> x, int bits);

// Step 3 alone: conditional randomised rounding of `values` to integers whose
// L2 norm is at most `l2_bound`. Returns the number of attempts; INTERNAL if
// 1000 attempts fail (probability < beta^1000 for inputs within the bound).
absl::StatusOr<int> RoundConditionally(absl::Span<const double> values, double l2_bound,
                                       RandomSource& rng, absl::Span<int64_t> out);

class DistributedDpEncoder {
 public:
  // INVALID_ARGUMENT for an invalid config.
  static absl::StatusOr<DistributedDpEncoder> Create(const DistributedDpConfig& config);

  const DistributedDpConfig& config() const { return config_; }
  int64_t padded_dimension() const { return padded_; }

  struct Report {
    double update_norm = 0;     // before clipping
    double clip_scale = 1;      // factor applied by clipping
    int rounding_attempts = 0;  // conditional rounding attempts (1 = first try)
  };

  // Steps 1-4: the site's integer vector before reduction modulo 2^b.
  // INVALID_ARGUMENT for a wrong size or non-finite values; `out` must have
  // padded_dimension() entries. `rng` must be an OsRandomSource in production.
  absl::StatusOr<Report> EncodeToIntegers(absl::Span<const float> update, uint64_t round_seed,
                                          RandomSource& rng, absl::Span<int64_t> out) const;

  // Steps 1-5: the words this site contributes to secure aggregation.
  absl::StatusOr<Report> Encode(absl::Span<const float> update, uint64_t round_seed,
                                RandomSource& rng, absl::Span<uint32_t> out) const;

  // The real-valued sum of the contributing sites' clipped updates (plus
  // noise) from their modular sum. INVALID_ARGUMENT for wrong sizes.
  absl::Status Decode(absl::Span<const uint32_t> sum, uint64_t round_seed,
                      absl::Span<float> out) const;

 private:
  DistributedDpEncoder(DistributedDpConfig config, int64_t padded, double l2_bound)
      : config_(config), padded_(padded), l2_bound_(l2_bound) {}
  DistributedDpConfig config_;
  int64_t padded_;
  double l2_bound_;
};

}  // namespace tessera::privacy
