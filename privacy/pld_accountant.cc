#include "privacy/pld_accountant.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "privacy/fft.h"
#include "privacy/numerics.h"

namespace tessera::privacy {
namespace {

enum class Direction { kRemove, kAdd };

// The noise variable is truncated this many standard deviations from each
// mean: Phi_c(9.5) ~ 1e-21, so even 10^6 steps lose < 1e-14 to +infinity.
constexpr double kTailSigmas = 9.5;
// Mass allowed outside the FFT window when sizing it (the mass actually
// outside is bounded afterwards and added to delta).
constexpr double kWindowTail = 1e-18;
// Accept a window when the rigorous bound on the mass outside it is below this.
constexpr double kAcceptableWindowTail = 1e-14;
// Grid spacing as a fraction of the per-step privacy loss's standard deviation.
constexpr double kSpacingPerStd = 0.05;
// The most grid points one step's discretisation may take (32 MiB).
constexpr double kMaxStepPoints = 1 << 22;
// Grid points of the coarse pass used to size the window.
constexpr int64_t kCoarsePoints = 4096;
// Constant of the FFT forward-error bound (Higham, Thm 24.2: c ~ log2(n) (u + 4 sqrt2 u)).
constexpr double kFftErrorConstant = 8.0;
constexpr double kUnitRoundoff = std::numeric_limits<double>::epsilon() / 2;

struct GaussianStep {
  double q;
  double sigma;
  int64_t count;
};

// One step of the subsampled Gaussian in one direction, discretised on the
// grid {i h}: mass[k] is the probability of loss (first + k) h.
struct StepPld {
  int64_t first = 0;
  std::vector<double> mass;
  double infinity_mass = 0;
  int64_t count = 0;
};

long double LogAddExpL(long double a, long double b) {
  if (a == -std::numeric_limits<long double>::infinity()) return b;
  if (b == -std::numeric_limits<long double>::infinity()) return a;
  return std::max(a, b) + std::log1p(std::exp(-std::fabs(a - b)));
}

// The pair (P, Q) of one step. Remove: P = (1-q) N(0,s^2) + q N(1,s^2),
// Q = N(0,s^2), L(x) = log(1 - q + q exp((2x-1)/(2s^2))), increasing in x.
// Add: P and Q swapped, L(x) = -log(...), decreasing in x.
class GaussianPair {
 public:
  GaussianPair(double q, double sigma, Direction direction)
      : q_(q), sigma_(sigma), direction_(direction), log_q_(std::log(static_cast<long double>(q))) {}

  long double Loss(long double x) const {
    const long double v = (2 * x - 1) / (2.0L * sigma_ * sigma_);
    // log(1 - q + q e^v): log1p(q expm1(v)) is accurate unless the argument
    // nears -1 (q ~ 1 and v << 0); there log-sum-exp of the two terms is.
    const long double m = q_ * std::expm1(v);
    const long double l = m > -0.5L ? std::log1p(m)
                                     : LogAddExpL(std::log1p(-static_cast<long double>(q_)),
                                                  log_q_ + v);
    return direction_ == Direction::kRemove ? l : -l;
  }

  // The x where the loss equals `l`; -inf below (remove) or above (add) the
  // loss's range. From e^{+-l} = 1 - q + q e^v: v = log((expm1(+-l) + q) / q),
  // and v = +-l exactly when q = 1.
  long double XOfLoss(long double l) const {
    const long double signed_l = direction_ == Direction::kRemove ? l : -l;
    long double v = signed_l;
    if (q_ < 1) {
      const long double inner = std::expm1(signed_l) + q_;
      if (!(inner > 0)) return -std::numeric_limits<long double>::infinity();
      v = std::log(inner) - log_q_;
    }
    return sigma_ * sigma_ * v + 0.5L;
  }

  double sigma() const { return sigma_; }
  double q() const { return q_; }
  Direction direction() const { return direction_; }

 private:
  double q_;
  double sigma_;
  Direction direction_;
  long double log_q_;
};

// Mean and variance of one step's privacy loss under P, by the trapezoidal
// rule on a fine x grid (spectrally accurate for these smooth, Gaussian-
// decaying integrands). Only used to choose the grid spacing.
std::pair<double, double> LossMoments(const GaussianPair& pair) {
  constexpr int kPoints = 1 << 13;
  const double s = pair.sigma();
  const double a = -kTailSigmas * s;
  const double b = 1 + kTailSigmas * s;
  const double dx = (b - a) / kPoints;
  const double inv_2s2 = 1 / (2 * s * s);
  double m0 = 0, m1 = 0, m2 = 0;
  for (int i = 0; i <= kPoints; ++i) {
    const double x = a + dx * i;
    // Unnormalised densities (m0 normalises).
    const double d0 = std::exp(-x * x * inv_2s2);
    const double d1 = std::exp(-(x - 1) * (x - 1) * inv_2s2);
    const double density =
        pair.direction() == Direction::kRemove ? (1 - pair.q()) * d0 + pair.q() * d1 : d0;
    const double w = (i == 0 || i == kPoints) ? 0.5 : 1.0;
    const double l = static_cast<double>(pair.Loss(x));
    m0 += w * density;
    m1 += w * density * l;
    m2 += w * density * l * l;
  }
  const double mean = m1 / m0;
  return {mean, std::max(0.0, m2 / m0 - mean * mean)};
}

// Normal tails at an x edge for the two mixture components N(0,s^2), N(1,s^2).
struct Edge {
  long double x;
  long double y0, t0;  // x/s and its small tail
  long double y1, t1;  // (x-1)/s and its small tail
};

Edge MakeEdge(long double x, long double sigma) {
  Edge e;
  e.x = x;
  e.y0 = x / sigma;
  e.y1 = (x - 1) / sigma;
  e.t0 = NormalSmallTail(e.y0);
  e.t1 = NormalSmallTail(e.y1);
  return e;
}

// P- and Q-mass of x in (a.x, b.x] (a.x < b.x).
std::pair<long double, long double> PairMasses(const GaussianPair& pair, const Edge& a,
                                               const Edge& b) {
  const long double n0 = NormalMassFromTails(a.y0, a.t0, b.y0, b.t0);
  const long double n1 = NormalMassFromTails(a.y1, a.t1, b.y1, b.t1);
  const long double mixture = (1 - pair.q()) * n0 + pair.q() * n1;
  return pair.direction() == Direction::kRemove ? std::make_pair(mixture, n0)
                                                : std::make_pair(n0, mixture);
}

// exp(i h) for the grid indices of one discretisation, as the product of two
// table entries (exp(h (i mod 64)) and exp(64 h floor(i / 64))), each
// computed directly in long double: within a few ulps, with one
// multiplication instead of an exp per bucket.
class GridExp {
 public:
  GridExp(double h, int64_t first, int64_t last) : first_block_(FloorDiv(first)) {
    for (int j = 0; j < 64; ++j) fine_[j] = std::exp(static_cast<long double>(h) * j);
    const int64_t blocks = FloorDiv(last) - first_block_ + 1;
    coarse_.resize(static_cast<size_t>(blocks));
    for (int64_t b = 0; b < blocks; ++b) {
      coarse_[static_cast<size_t>(b)] =
          std::exp(static_cast<long double>(h) * 64 * static_cast<long double>(first_block_ + b));
    }
  }
  // exp(i h); +inf when it overflows long double (losses above ~11000).
  long double operator()(int64_t i) const {
    const int64_t block = FloorDiv(i);
    return coarse_[static_cast<size_t>(block - first_block_)] * fine_[i - block * 64];
  }

 private:
  static int64_t FloorDiv(int64_t i) { return i >= 0 ? i / 64 : -((-i + 63) / 64); }
  int64_t first_block_;
  long double fine_[64];
  std::vector<long double> coarse_;
};

// Connect-the-dots split of one bucket (l_{i-1}, l_i] with masses (p, qm),
// where e^{l_{i-1}} = lower_ratio: p_hi = (p - e^{l_{i-1}} qm) / (1 - e^{-h})
// at l_i, the rest at l_{i-1}. A relative 1e-10 of p is moved up on top:
// moving P-mass to a larger loss only increases delta(eps), and it covers
// the rounding error of the subtraction (~1e-18 / h relative).
void SplitBucket(long double p, long double qm, long double lower_ratio,
                 long double one_minus_e_h, double* lower, double* upper) {
  if (!(p > 0)) return;
  long double p_hi = p;
  if (qm > 0 && std::isfinite(lower_ratio)) {
    // ratio = e^{l_{i-1}} qm / p, in [e^{-h}, 1] up to rounding.
    const long double ratio = qm * lower_ratio / p;
    p_hi = p * (1 - ratio) / one_minus_e_h;
  }
  p_hi = std::clamp(p_hi + 1e-10L * p, 0.0L, p);
  *upper += static_cast<double>(p_hi);
  *lower += static_cast<double>(p - p_hi);
}

// Drops zero masses at both ends, so that the first and last entries carry
// mass (the Chernoff code shifts exponents by the extreme losses).
void TrimZeros(StepPld* step) {
  size_t begin = 0;
  size_t end = step->mass.size();
  while (begin < end && !(step->mass[begin] > 0)) ++begin;
  while (end > begin && !(step->mass[end - 1] > 0)) --end;
  if (begin == end) {  // no finite mass at all
    step->mass.assign(1, 0.0);
    return;
  }
  step->mass = std::vector<double>(step->mass.begin() + static_cast<std::ptrdiff_t>(begin),
                                   step->mass.begin() + static_cast<std::ptrdiff_t>(end));
  step->first += static_cast<int64_t>(begin);
}

// Connect-the-dots discretisation of one step on the grid {i h}.
StepPld DiscretizeStep(const GaussianStep& step, Direction direction, double h) {
  const GaussianPair pair(step.q, step.sigma, direction);
  const long double s = step.sigma;
  StepPld out;
  out.count = step.count;
  const long double one_minus_e_h = -std::expm1(-static_cast<long double>(h));
  if (direction == Direction::kRemove) {
    const long double x_lo = -kTailSigmas * s;
    const long double x_hi = 1 + kTailSigmas * s;
    // The grid starts at or below the loss at x_lo, so only the mass below
    // x_lo (~1e-21) is rounded up; the flat left end of the loss (where much
    // of the mass sits when q is small) is split like every other bucket.
    const int64_t i_lo = static_cast<int64_t>(std::floor(pair.Loss(x_lo) / h));
    const int64_t i_hi = std::max<int64_t>(i_lo, static_cast<int64_t>(std::ceil(pair.Loss(x_hi) / h)));
    out.first = i_lo;
    out.mass.assign(static_cast<size_t>(i_hi - i_lo + 1), 0.0);
    const GridExp grid_exp(h, i_lo, i_hi);
    // Everything at or below l_{i_lo} goes to i_lo (pessimistic; at most the
    // mass below x_lo = -9.5 s, ~1e-21).
    Edge previous = MakeEdge(std::min(pair.XOfLoss(static_cast<long double>(i_lo) * h), x_hi), s);
    const Edge minus_inf = MakeEdge(-std::numeric_limits<long double>::infinity(), s);
    out.mass[0] += static_cast<double>(PairMasses(pair, minus_inf, previous).first);
    for (int64_t i = i_lo + 1; i <= i_hi; ++i) {
      const long double x = i == i_hi ? x_hi : std::min(pair.XOfLoss(static_cast<long double>(i) * h), x_hi);
      const Edge edge = MakeEdge(x, s);
      const auto [p, qm] = PairMasses(pair, previous, edge);
      const size_t k = static_cast<size_t>(i - i_lo);
      SplitBucket(p, qm, grid_exp(i - 1), one_minus_e_h, &out.mass[k - 1], &out.mass[k]);
      previous = edge;
    }
    // Beyond x_hi the loss keeps growing: +infinity (pessimistic).
    const Edge plus_inf = MakeEdge(std::numeric_limits<long double>::infinity(), s);
    out.infinity_mass = static_cast<double>(PairMasses(pair, previous, plus_inf).first);
    TrimZeros(&out);
    return out;
  }
  // Add direction: P = N(0, s^2) and the loss decreases in x (bounded by
  // -log(1 - q) when q < 1).
  const long double x_lo = -kTailSigmas * s;
  const long double x_hi = kTailSigmas * s;
  const int64_t i_lo = static_cast<int64_t>(std::floor(pair.Loss(x_hi) / h));
  const int64_t i_hi = std::max<int64_t>(i_lo, static_cast<int64_t>(std::ceil(pair.Loss(x_lo) / h)));
  out.first = i_lo;
  out.mass.assign(static_cast<size_t>(i_hi - i_lo + 1), 0.0);
  const GridExp grid_exp(h, i_lo, i_hi);
  // Loss <= l_{i_lo}, i.e. x >= x(l_{i_lo}), goes to i_lo (pessimistic).
  Edge upper = MakeEdge(pair.XOfLoss(static_cast<long double>(i_lo) * h), s);
  const Edge plus_inf = MakeEdge(std::numeric_limits<long double>::infinity(), s);
  out.mass[0] += static_cast<double>(PairMasses(pair, upper, plus_inf).first);
  for (int64_t i = i_lo + 1; i <= i_hi; ++i) {
    const Edge lower = MakeEdge(std::max(pair.XOfLoss(static_cast<long double>(i) * h), x_lo), s);
    const auto [p, qm] = PairMasses(pair, lower, upper);
    const size_t k = static_cast<size_t>(i - i_lo);
    SplitBucket(p, qm, grid_exp(i - 1), one_minus_e_h, &out.mass[k - 1], &out.mass[k]);
    upper = lower;
  }
  // Below x_lo: +infinity (pessimistic; ~1e-21).
  const Edge minus_inf = MakeEdge(-std::numeric_limits<long double>::infinity(), s);
  out.infinity_mass = static_cast<double>(PairMasses(pair, minus_inf, upper).first);
  TrimZeros(&out);
  return out;
}

// ---- Chernoff bounds on the composed sum S = sum over steps of the losses ----

struct Cumulants {
  double k0 = 0;  // log E[e^{tS}; S finite]
  double k1 = 0;  // d/dt
  double k2 = 0;  // d^2/dt^2
};

Cumulants StepCumulants(const StepPld& step, double h, double t) {
  // Exponents are taken relative to the largest one (the top grid point for
  // t >= 0, the bottom one for t < 0), so nothing overflows.
  const size_t size = step.mass.size();
  const size_t anchor = t >= 0 ? size - 1 : 0;
  const double shift = t * static_cast<double>(step.first + static_cast<int64_t>(anchor)) * h;
  double m0 = 0, m1 = 0, m2 = 0;
  for (size_t k = 0; k < size; ++k) {
    if (step.mass[k] <= 0) continue;
    const double l = static_cast<double>(step.first + static_cast<int64_t>(k)) * h;
    const double offset = (static_cast<double>(k) - static_cast<double>(anchor)) * h;
    const double w = step.mass[k] * std::exp(t * offset);
    m0 += w;
    m1 += w * l;
    m2 += w * l * l;
  }
  Cumulants c;
  if (!(m0 > 0)) {
    c.k0 = -kInf;
    return c;
  }
  c.k0 = std::log(m0) + shift;
  c.k1 = m1 / m0;
  c.k2 = std::max(0.0, m2 / m0 - c.k1 * c.k1);
  return c;
}

Cumulants TotalCumulants(const std::vector<StepPld>& steps, double h, double t) {
  Cumulants total;
  for (const StepPld& step : steps) {
    const Cumulants c = StepCumulants(step, h, t);
    const double n = static_cast<double>(step.count);
    total.k0 += n * c.k0;
    total.k1 += n * c.k1;
    total.k2 += n * c.k2;
  }
  return total;
}

// The largest (upper) or smallest (lower) loss the composed sum can take.
double SupportEnd(const std::vector<StepPld>& steps, double h, bool upper) {
  double end = 0;
  for (const StepPld& step : steps) {
    const int64_t index = upper ? step.first + static_cast<int64_t>(step.mass.size()) - 1 : step.first;
    end += static_cast<double>(step.count) * static_cast<double>(index) * h;
  }
  return end;
}

// A loss a with P(S >= a) <= tau (upper) or P(S <= a) <= tau (lower), from
// the Chernoff bound inf_t K(t) - t a: at the optimal t, a = K'(t) and
// t K'(t) - K(t) = -log tau; the left side increases with |t|.
double ChernoffQuantile(const std::vector<StepPld>& steps, double h, double tau, bool upper) {
  const double sign = upper ? 1.0 : -1.0;
  const double log_tau = std::log(tau);
  // If the extreme grid point alone carries more than tau, no finite t helps.
  double log_extreme = 0;
  for (const StepPld& step : steps) {
    log_extreme += static_cast<double>(step.count) *
                   std::log(upper ? step.mass.back() : step.mass.front());
  }
  if (log_extreme >= log_tau) return SupportEnd(steps, h, upper);
  const Cumulants at_zero = TotalCumulants(steps, h, 0.0);
  const double spread = std::sqrt(std::max(at_zero.k2, 1e-300));
  auto excess = [&](double u) {  // t K'(t) - K(t) + log tau at t = sign * u
    const Cumulants c = TotalCumulants(steps, h, sign * u);
    return sign * u * c.k1 - c.k0 + log_tau;
  };
  double lo = 0;
  double hi = std::sqrt(-2 * log_tau) / spread;
  int doublings = 0;
  while (excess(hi) < 0) {
    lo = hi;
    hi *= 2;
    if (++doublings > 60) return SupportEnd(steps, h, upper);  // the bound never bites
  }
  for (int iter = 0; iter < 60 && hi - lo > 1e-9 * hi; ++iter) {
    const double mid = 0.5 * (lo + hi);
    (excess(mid) < 0 ? lo : hi) = mid;
  }
  const double t = sign * hi;
  const Cumulants c = TotalCumulants(steps, h, t);
  const double a = (c.k0 - log_tau) / t;  // bound at exactly tau for this t
  if (!std::isfinite(a)) return SupportEnd(steps, h, upper);
  return upper ? std::min(a, SupportEnd(steps, h, true)) : std::max(a, SupportEnd(steps, h, false));
}

// A rigorous upper bound on P(S > a) (upper) or P(S < a) (lower), minimised
// over t by bisection on K'(t) = a.
double ChernoffTail(const std::vector<StepPld>& steps, double h, double a, bool upper) {
  const double sign = upper ? 1.0 : -1.0;
  if (sign * a > sign * SupportEnd(steps, h, upper)) return 0;
  const Cumulants at_zero = TotalCumulants(steps, h, 0.0);
  if (sign * at_zero.k1 >= sign * a) return 1;
  const double spread = std::sqrt(std::max(at_zero.k2, 1e-300));
  double lo = 0;
  double hi = std::fabs(a - at_zero.k1) / (spread * spread) + 1 / spread;
  for (int i = 0; i < 60 && sign * TotalCumulants(steps, h, sign * hi).k1 < sign * a; ++i) {
    lo = hi;
    hi *= 2;
  }
  for (int iter = 0; iter < 40 && hi - lo > 1e-3 * hi; ++iter) {
    const double mid = 0.5 * (lo + hi);
    (sign * TotalCumulants(steps, h, sign * mid).k1 < sign * a ? lo : hi) = mid;
  }
  double best = 0;  // log of the bound
  for (double u : {lo, hi}) {
    if (u <= 0) continue;
    const Cumulants c = TotalCumulants(steps, h, sign * u);
    best = std::min(best, c.k0 - sign * u * a);
  }
  return std::exp(best);
}

int64_t FloorMod(int64_t a, int64_t n) {
  const int64_t r = a % n;
  return r < 0 ? r + n : r;
}

// Composes the steps of one direction on a window of n grid points starting
// at index `lo`.
DiscretePld ConvolveOnWindow(const std::vector<StepPld>& steps, double h, int64_t lo, size_t n) {
  DiscretePld out;
  out.discretization = h;
  out.first_index = lo;
  const RealFft fft = RealFft::Create(n).value();
  const size_t bins = n / 2 + 1;
  std::vector<std::complex<double>> product(bins, {1.0, 0.0});
  std::vector<std::complex<double>> spectrum(bins);
  std::vector<double> signal(n);
  // For the rounding bound: per frequency, sum_j T_j / |X_j| (how much an
  // error in each forward transform is amplified by the powers), and the
  // L2 norms of the inputs.
  std::vector<double> amplification(bins, 0.0);
  // Where some |X_j| is exactly 0 the ratio above is undefined; the term
  // T_j |X_j|^(T_j - 1) prod_{i != j} |X_i|^T_i is then at most 1 if T_j = 1
  // and 0 otherwise.
  std::vector<double> zero_terms(bins, 0.0);
  double weighted_input_norm = 0;  // sum_j T_j ||x_j||_2
  double finite_mass = 1;
  const int64_t window = static_cast<int64_t>(n);
  for (const StepPld& step : steps) {
    std::fill(signal.begin(), signal.end(), 0.0);
    for (size_t k = 0; k < step.mass.size(); ++k) {
      signal[static_cast<size_t>(FloorMod(step.first + static_cast<int64_t>(k), window))] +=
          step.mass[k];
    }
    double norm_sq = 0;
    for (double v : signal) norm_sq += v * v;
    fft.Forward(signal, absl::MakeSpan(spectrum));
    const double count = static_cast<double>(step.count);
    weighted_input_norm += count * std::sqrt(norm_sq);
    for (size_t f = 0; f < bins; ++f) {
      const double magnitude = std::abs(spectrum[f]);
      if (magnitude > 0) {
        amplification[f] += count / magnitude;
      } else if (step.count == 1) {
        zero_terms[f] += 1;
      }
      // |X|^T below the smallest double is exactly what pow would return.
      if (magnitude == 0 || count * std::log(magnitude) < -750) {
        product[f] = 0;
      } else {
        product[f] *= std::pow(spectrum[f], count);
      }
    }
    finite_mass *= std::pow(1 - step.infinity_mass, count);
  }
  // Rounding-error budget (Higham Thm 24.2 for each transform). An error dX_j
  // in a forward transform moves Y = prod_j X_j^T_j by |Y| T_j |dX_j| / |X_j|.
  // Two bounds on ||dY||_2: componentwise |dX_j| <= c u log2(n) ||x_j||_1 with
  // ||x_j||_1 <= 1, or in norm ||dX_j||_2 <= c u log2(n) sqrt(n) ||x_j||_2 with
  // the amplification bounded by T_j. The error of the inverse transform is
  // at most c u log2(n) ||Y||_1 / n per output. The L1 norm of the output
  // error, which bounds its effect on delta, is ||dY||_2 + n * that.
  const double log2n = std::log2(static_cast<double>(n));
  const double transform_error = kFftErrorConstant * kUnitRoundoff * log2n;
  double componentwise_sq = 0;
  double product_l1 = 0;
  for (size_t f = 0; f < bins; ++f) {
    const double weight = (f == 0 || f == bins - 1) ? 1.0 : 2.0;  // conjugate half
    const double sensitivity = std::abs(product[f]) * amplification[f] + zero_terms[f];
    componentwise_sq += weight * sensitivity * sensitivity;
    product_l1 += weight * std::abs(product[f]);
  }
  const double normwise = std::sqrt(static_cast<double>(n)) * weighted_input_norm;
  const double forward_bound = std::min(std::sqrt(componentwise_sq), normwise);
  const double rounding = transform_error * (forward_bound + product_l1);

  fft.InverseInPlace(absl::MakeSpan(product), absl::MakeSpan(signal));
  out.mass.assign(n, 0.0);
  for (size_t p = 0; p < n; ++p) {
    // Negative round-off is clamped to 0, which only increases delta.
    out.mass[static_cast<size_t>(FloorMod(static_cast<int64_t>(p) - lo, window))] =
        std::max(signal[p], 0.0);
  }
  out.infinity_mass = 1 - finite_mass;
  out.error_bound = rounding;
  return out;
}

size_t NextPowerOfTwo(double x) {
  size_t n = 1024;
  while (static_cast<double>(n) < x && n < (size_t{1} << 40)) n *= 2;
  return n;
}

absl::StatusOr<DiscretePld> ComposeDirection(const std::vector<GaussianStep>& steps,
                                             Direction direction, const PldOptions& options) {
  // 1. The spacing the grid should have: connect-the-dots spreads each step's
  // loss by up to h, adding at most h^2/4 to its variance, so h is kept to
  // kSpacingPerStd of the loss's (count-weighted) standard deviation per step
  // -- a relative variance error below 0.1% that does not grow with the
  // number of steps.
  double range = 0;
  double weighted_variance = 0;
  double total_count = 0;
  for (const GaussianStep& step : steps) {
    const GaussianPair pair(step.q, step.sigma, direction);
    const long double a = pair.Loss(-kTailSigmas * step.sigma);
    const long double b = pair.Loss(1 + kTailSigmas * step.sigma);
    range = std::max(range, static_cast<double>(std::fabs(b - a)));
    weighted_variance += static_cast<double>(step.count) * LossMoments(pair).second;
    total_count += static_cast<double>(step.count);
  }
  const absl::Status out_of_range = absl::OutOfRangeError(
      "these settings are outside the PLD accountant's numerical range; use the RDP accountant");
  if (!std::isfinite(range)) return out_of_range;
  range = std::max(range, 1e-12);
  const double target_h = std::min(options.discretization,
                                   kSpacingPerStd * std::sqrt(weighted_variance / total_count));
  // No single step may need more than kMaxStepPoints grid points.
  const double min_h = range / kMaxStepPoints;
  // 2. Size the window on a coarse grid.
  const double coarse_h = range / kCoarsePoints;
  std::vector<StepPld> coarse;
  for (const GaussianStep& step : steps) coarse.push_back(DiscretizeStep(step, direction, coarse_h));
  double lo_loss = ChernoffQuantile(coarse, coarse_h, kWindowTail, false);
  double hi_loss = ChernoffQuantile(coarse, coarse_h, kWindowTail, true);
  if (!std::isfinite(lo_loss) || !std::isfinite(hi_loss)) return out_of_range;
  const double margin = 0.05 * (hi_loss - lo_loss) + 2 * coarse_h;
  lo_loss -= margin;
  hi_loss += margin;

  const size_t max_n = size_t{1} << options.max_log2_size;
  for (int attempt = 0;; ++attempt) {
    // 3. Choose the grid: the target spacing if the window fits, else coarser.
    const double width = hi_loss - lo_loss;
    size_t n = std::min(NextPowerOfTwo(width / target_h + 1), max_n);
    double h = width / static_cast<double>(n - 1);
    if (h < min_h) {
      h = min_h;
      n = std::min(NextPowerOfTwo(width / h + 1), max_n);
    }
    if (!std::isfinite(h) || !(h > 0)) return out_of_range;
    std::vector<StepPld> fine;
    for (const GaussianStep& step : steps) fine.push_back(DiscretizeStep(step, direction, h));
    const int64_t lo = static_cast<int64_t>(std::floor(lo_loss / h));
    const int64_t hi = lo + static_cast<int64_t>(n) - 1;
    // 4. Rigorous bounds on the mass outside [lo, hi].
    const double above = ChernoffTail(fine, h, static_cast<double>(hi + 1) * h, true);
    const double below = ChernoffTail(fine, h, static_cast<double>(lo - 1) * h, false);
    if ((above > kAcceptableWindowTail || below > kAcceptableWindowTail) && attempt < 3) {
      lo_loss -= 0.5 * width;
      hi_loss += 0.5 * width;
      continue;
    }
    // 5. Convolve.
    DiscretePld out = ConvolveOnWindow(fine, h, lo, n);
    out.error_bound += above + below;
    return out;
  }
}

double DirectionDelta(const DiscretePld& d, double epsilon) {
  CompensatedSum sum;
  const long double h = d.discretization;
  for (size_t k = d.mass.size(); k-- > 0;) {
    const long double loss = static_cast<long double>(d.first_index + static_cast<int64_t>(k)) * h;
    if (loss <= epsilon) break;
    sum.Add(d.mass[k] * -std::expm1(epsilon - loss));
  }
  return std::min(1.0, static_cast<double>(sum.value()) + d.infinity_mass + d.error_bound);
}

double DirectionEpsilon(const DiscretePld& d, double delta) {
  const long double fixed = static_cast<long double>(d.infinity_mass) + d.error_bound;
  if (fixed >= delta) return kInf;
  const long double h = d.discretization;
  const long double decay = std::exp(-h);
  // Scanning down from the top grid point k: for eps in [(k-1)h, kh),
  // delta(eps) = fixed + A - exp(eps - (k-1)h) G with A = sum_{j>=k} m_j and
  // G = sum_{j>=k} m_j exp(-(j-k+1)h) = e^{-h} (m_k + G_{k+1}).
  CompensatedSum a;
  long double g = 0;
  long double lower_loss = 0;
  for (size_t k = d.mass.size(); k-- > 0;) {
    a.Add(d.mass[k]);
    g = decay * (d.mass[k] + g);
    lower_loss = static_cast<long double>(d.first_index + static_cast<int64_t>(k) - 1) * h;
    const long double at_lower = fixed + a.value() - g;
    if (at_lower > delta) {
      const long double eps = lower_loss + std::log((fixed + a.value() - delta) / g);
      return std::max(0.0, static_cast<double>(eps));
    }
    if (lower_loss <= 0) return 0.0;
  }
  // Below every grid point delta keeps the same form.
  if (!(fixed + a.value() > delta) || !(g > 0)) return 0.0;
  return std::max(0.0, static_cast<double>(lower_loss + std::log((fixed + a.value() - delta) / g)));
}

}  // namespace

double ComposedPld::Delta(double epsilon) const {
  double delta = 0;
  for (const DiscretePld& d : directions_) delta = std::max(delta, DirectionDelta(d, epsilon));
  return delta;
}

absl::StatusOr<double> ComposedPld::Epsilon(double delta) const {
  if (absl::Status status = ValidateDelta(delta); !status.ok()) return status;
  double epsilon = 0;
  for (const DiscretePld& d : directions_) epsilon = std::max(epsilon, DirectionEpsilon(d, delta));
  return epsilon;
}

absl::StatusOr<ComposedPld> ComposePld(const PrivacyLedger& ledger, const PldOptions& options) {
  if (!(options.discretization > 0) || !std::isfinite(options.discretization)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PLD discretization must be finite and > 0, got ", options.discretization));
  }
  if (options.max_log2_size < 10 || options.max_log2_size > 26) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PLD max_log2_size must be in [10, 26], got ", options.max_log2_size));
  }
  std::vector<GaussianStep> steps;
  bool unbounded = false;
  bool all_full_batch = true;
  for (const LedgerEntry& entry : ledger.entries()) {
    const auto* gaussian = std::get_if<PoissonGaussianEvent>(&entry.event);
    if (gaussian == nullptr) {
      return absl::UnimplementedError(absl::StrCat(
          "the PLD accountant supports Poisson-subsampled Gaussian events only, not ",
          DescribeEvent(entry.event), "; use the RDP accountant"));
    }
    if (absl::Status status = ValidateEvent(entry.event); !status.ok()) return status;
    if (gaussian->sampling_rate == 0 || entry.count == 0) continue;
    if (gaussian->noise_multiplier == 0) {
      unbounded = true;
      continue;
    }
    // Identical settings compose by adding counts.
    auto same = std::find_if(steps.begin(), steps.end(), [&](const GaussianStep& s) {
      return s.q == gaussian->sampling_rate && s.sigma == gaussian->noise_multiplier;
    });
    if (same != steps.end()) {
      same->count += entry.count;
    } else {
      steps.push_back({gaussian->sampling_rate, gaussian->noise_multiplier, entry.count});
    }
    all_full_batch = all_full_batch && gaussian->sampling_rate == 1;
  }
  ComposedPld result;
  if (unbounded) {
    DiscretePld everything;
    everything.discretization = options.discretization;
    everything.infinity_mass = 1;
    result.directions_.push_back(std::move(everything));
    return result;
  }
  if (steps.empty()) {
    DiscretePld nothing;  // loss 0 with probability 1
    nothing.discretization = options.discretization;
    nothing.mass = {1.0};
    result.directions_.push_back(std::move(nothing));
    return result;
  }
  for (Direction direction : {Direction::kRemove, Direction::kAdd}) {
    // Without sampling both directions have the same privacy loss distribution.
    if (direction == Direction::kAdd && all_full_batch) break;
    absl::StatusOr<DiscretePld> composed = ComposeDirection(steps, direction, options);
    if (!composed.ok()) return composed.status();
    result.directions_.push_back(*std::move(composed));
  }
  return result;
}

absl::Status PldAccountant::Compose(const DpEvent& event, int64_t count) {
  if (std::holds_alternative<SkellamEvent>(event)) {
    return absl::UnimplementedError(
        "the PLD accountant supports Poisson-subsampled Gaussian events only; use the RDP "
        "accountant for Skellam events");
  }
  return ledger_.Add(event, count);
}

absl::Status PldAccountant::Compose(const PrivacyLedger& ledger) {
  for (const LedgerEntry& entry : ledger.entries()) {
    if (absl::Status status = Compose(entry.event, entry.count); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<double> PldAccountant::Epsilon(double delta) const {
  absl::StatusOr<ComposedPld> pld = ComposePld(ledger_, options_);
  if (!pld.ok()) return pld.status();
  return pld->Epsilon(delta);
}

absl::StatusOr<double> PldAccountant::Delta(double epsilon) const {
  if (!(epsilon >= 0) || !std::isfinite(epsilon)) {
    return absl::InvalidArgumentError(
        absl::StrCat("epsilon must be finite and >= 0, got ", epsilon));
  }
  absl::StatusOr<ComposedPld> pld = ComposePld(ledger_, options_);
  if (!pld.ok()) return pld.status();
  return pld->Delta(epsilon);
}

}  // namespace tessera::privacy
