#include "privacy/rdp_accountant.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "privacy/numerics.h"

namespace tessera::privacy {
namespace {

// The fractional-order series stops when the last term is below this fraction
// of A - 1 (so the RDP value itself, not just A, is accurate to ~1e-10), or
// after kMaxSeriesTerms terms. The result is an upper bound either way (see
// the header); these only decide how tight it is. The cap is reached only
// for very large noise (z ~ 100 and above with q near 1/2), where the series
// decays like min(1, z^2 / i) i^-(alpha+1); the next integer order's exact
// value then serves as well (RDP does not decrease with the order).
constexpr long double kSeriesRelativeTolerance = 1e-10L;
constexpr int64_t kMaxSeriesTerms = 20'000;

bool IsInteger(double x) { return x == std::floor(x) && x < 1e9; }

// log(exp(x) - 1) for x > 0.
double LogExpm1(double x) { return x > 30 ? x + std::log1p(-std::exp(-x)) : std::log(std::expm1(x)); }

// log(A_alpha) for integer alpha >= 2 and 0 < q < 1 (binomial sum). Written
// as log1p(A - 1) with A - 1 = sum_{k>=2} C(a,k) (1-q)^(a-k) q^k expm1((k^2-k)/(2s^2)),
// because sum_k C(a,k)(1-q)^(a-k) q^k = 1: all terms are positive, so there is
// no cancellation even when A - 1 is 1e-12.
double LogAInteger(double q, double sigma, int64_t alpha) {
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double inv_2s2 = 1.0 / (2.0 * sigma * sigma);
  const double a = static_cast<double>(alpha);
  // Two passes: find the largest term, then sum relative to it.
  std::vector<double> log_terms;
  log_terms.reserve(static_cast<size_t>(alpha));
  double log_binom = std::log(a);  // log C(a, 1)
  double max_term = -kInf;
  for (int64_t k = 2; k <= alpha; ++k) {
    const double kd = static_cast<double>(k);
    log_binom += std::log((a - kd + 1) / kd);  // C(a,k) = C(a,k-1) (a-k+1)/k
    const double term = log_binom + (a - kd) * log_1mq + kd * log_q +
                        LogExpm1((kd * kd - kd) * inv_2s2);
    log_terms.push_back(term);
    max_term = std::max(max_term, term);
  }
  if (max_term == -kInf) return 0;
  CompensatedSum sum;
  for (double t : log_terms) sum.Add(std::exp(static_cast<long double>(t - max_term)));
  const double log_a_minus_1 = max_term + static_cast<double>(std::log(sum.value()));
  // log(1 + exp(l)), stable for any l.
  return log_a_minus_1 > 0 ? log_a_minus_1 + std::log1p(std::exp(-log_a_minus_1))
                           : std::log1p(std::exp(log_a_minus_1));
}

// A running sum of signed terms given by their logs, kept relative to the
// largest term seen so far so that nothing overflows.
class ScaledSum {
 public:
  void Add(long double log_magnitude, bool negative) {
    if (log_magnitude == -std::numeric_limits<long double>::infinity()) return;
    if (log_magnitude > scale_) {
      const long double factor = std::exp(scale_ - log_magnitude);
      hi_ *= factor;
      lo_ *= factor;
      scale_ = log_magnitude;
    }
    const long double x = std::exp(log_magnitude - scale_);
    Accumulate(negative ? -x : x);
  }
  long double scale() const { return scale_; }
  // The sum divided by exp(scale()).
  long double scaled_value() const { return hi_ + lo_; }

 private:
  void Accumulate(long double x) {  // Neumaier's compensation
    const long double t = hi_ + x;
    lo_ += std::fabs(hi_) >= std::fabs(x) ? (hi_ - t) + x : (x - t) + hi_;
    hi_ = t;
  }
  long double scale_ = -std::numeric_limits<long double>::infinity();
  long double hi_ = 0;
  long double lo_ = 0;
};

// (k^2 - k) / (2 s^2) + log Phi_c(y) with y = (k - z0) / s (side 0) or
// y = (z0 - k) / s (side 1); both are log of the Gaussian integrals in
// Mironov et al. Section 3.3. For y > 0 the two large exponents are combined
// analytically: (k^2 - k - (k - z0)^2) / (2 s^2) = (2 k z0 - k - z0^2) / (2 s^2).
long double LogGaussianPiece(long double k, long double z0, long double sigma, bool side1) {
  const long double y = side1 ? (z0 - k) / sigma : (k - z0) / sigma;
  const long double inv_2s2 = 1.0L / (2.0L * sigma * sigma);
  if (y > 0) return (2.0L * k * z0 - k - z0 * z0) * inv_2s2 + LogScaledNormalTail(y);
  return (k * k - k) * inv_2s2 + LogNormalTail(y);
}

// log(A_alpha) for fractional alpha > 1 and 0 < q < 1: Mironov, Talwar &
// Zhang 2019, Section 3.3, with signed binomial coefficients. `converged`
// tells whether the tolerance was met before kMaxSeriesTerms.
double LogAFractional(double q, double sigma, double alpha, bool* converged) {
  const long double a = alpha;
  const long double s = sigma;
  const long double log_q = std::log(static_cast<long double>(q));
  const long double log_1mq = std::log1p(-static_cast<long double>(q));
  const long double z0 = s * s * (log_1mq - log_q) + 0.5L;
  // Terms alternate in sign and decrease in magnitude from this index on.
  const int64_t alternating_from = static_cast<int64_t>(std::floor(alpha)) + 2;

  *converged = false;
  ScaledSum sum;
  long double log_abs_binom = 0;  // log |C(a, 0)|
  bool negative = false;          // sign of C(a, i)
  long double previous_scaled = 0, previous_scale = 0;
  for (int64_t i = 0; i < kMaxSeriesTerms; ++i) {
    const long double id = static_cast<long double>(i);
    if (i > 0) {
      const long double factor = (a - id + 1.0L) / id;  // C(a,i) = C(a,i-1) (a-i+1)/i
      log_abs_binom += std::log(std::fabs(factor));
      if (factor < 0) negative = !negative;
    }
    const long double j = a - id;
    const long double log_s0 =
        log_abs_binom + id * log_q + j * log_1mq + LogGaussianPiece(id, z0, s, false);
    const long double log_s1 =
        log_abs_binom + j * log_q + id * log_1mq + LogGaussianPiece(j, z0, s, true);
    const long double log_term = std::max(log_s0, log_s1) +
                                 std::log1p(std::exp(std::min(log_s0, log_s1) -
                                                     std::max(log_s0, log_s1)));
    previous_scaled = sum.scaled_value();
    previous_scale = sum.scale();
    sum.Add(log_term, negative);
    if (i >= alternating_from) {
      // Stop once the next partial sum can move A - 1 (the quantity the RDP
      // depends on) by less than the tolerance.
      const long double current = sum.scaled_value();
      const long double excess = current - std::exp(-sum.scale());  // (A - 1) / exp(scale)
      const long double reference = std::max(excess, current * 1e-18L);
      if (current > 0 && std::exp(log_term - sum.scale()) < reference * kSeriesRelativeTolerance) {
        *converged = true;
        break;
      }
    }
  }
  // Cannot happen for valid inputs (the first terms are positive and dominate
  // the alternating tail); if rounding ever made it so, claim nothing.
  if (!(sum.scaled_value() > 0)) return kInf;
  // The true A lies between the last two partial sums; take the larger.
  long double log_current = std::log(sum.scaled_value()) + sum.scale();
  long double log_previous =
      previous_scaled > 0 ? std::log(previous_scaled) + previous_scale : log_current;
  return static_cast<double>(std::max(log_current, log_previous));
}

}  // namespace

double PoissonGaussianRdp(double sampling_rate, double noise_multiplier, double order) {
  if (sampling_rate == 0) return 0;
  if (noise_multiplier == 0) return kInf;
  if (sampling_rate == 1) return order / (2.0 * noise_multiplier * noise_multiplier);
  if (IsInteger(order)) {
    const double log_a =
        LogAInteger(sampling_rate, noise_multiplier, static_cast<int64_t>(order));
    return std::max(0.0, log_a / (order - 1));
  }
  bool converged = false;
  double rdp =
      std::max(0.0, LogAFractional(sampling_rate, noise_multiplier, order, &converged) /
                        (order - 1));
  if (!converged) {
    // Both are upper bounds; keep the smaller.
    rdp = std::min(rdp, PoissonGaussianRdp(sampling_rate, noise_multiplier, std::ceil(order)));
  }
  return rdp;
}

double SkellamRdp(const SkellamEvent& event, double order) {
  if (!IsInteger(order)) return kInf;
  const double a = order;
  const double d2sq = event.l2_sensitivity * event.l2_sensitivity;
  const double d1 = event.l1_sensitivity;
  const double mu = event.variance;
  return a * d2sq / (2 * mu) +
         std::min(((2 * a - 1) * d2sq + 6 * d1) / (4 * mu * mu), 3 * d1 / (2 * mu));
}

double EventRdp(const DpEvent& event, double order) {
  if (const auto* gaussian = std::get_if<PoissonGaussianEvent>(&event)) {
    return PoissonGaussianRdp(gaussian->sampling_rate, gaussian->noise_multiplier, order);
  }
  return SkellamRdp(std::get<SkellamEvent>(event), order);
}

namespace {

absl::Status ValidateCurve(absl::Span<const double> orders, absl::Span<const double> rdp) {
  if (orders.empty() || orders.size() != rdp.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("RDP curve needs as many values as orders (and at least one); got ",
                     orders.size(), " orders and ", rdp.size(), " values"));
  }
  for (double order : orders) {
    if (!(order > 1) || !std::isfinite(order)) {
      return absl::InvalidArgumentError(
          absl::StrCat("RDP orders must be finite and > 1, got ", order));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RdpEpsilon> EpsilonFromRdp(absl::Span<const double> orders,
                                          absl::Span<const double> rdp, double delta,
                                          RdpConversion conversion) {
  if (absl::Status status = ValidateCurve(orders, rdp); !status.ok()) return status;
  if (absl::Status status = ValidateDelta(delta); !status.ok()) return status;
  RdpEpsilon best{kInf, 0};
  const double log_delta = std::log(delta);
  for (size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i];
    if (!(rdp[i] < kInf)) continue;
    const double eps = conversion == RdpConversion::kImproved
                           ? rdp[i] + std::log1p(-1.0 / a) - (log_delta + std::log(a)) / (a - 1)
                           : rdp[i] - log_delta / (a - 1);
    if (eps < best.epsilon) best = RdpEpsilon{eps, a};
  }
  best.epsilon = std::max(best.epsilon, 0.0);
  return best;
}

absl::StatusOr<RdpDelta> DeltaFromRdp(absl::Span<const double> orders,
                                      absl::Span<const double> rdp, double epsilon) {
  if (absl::Status status = ValidateCurve(orders, rdp); !status.ok()) return status;
  if (!(epsilon >= 0) || !std::isfinite(epsilon)) {
    return absl::InvalidArgumentError(
        absl::StrCat("epsilon must be finite and >= 0, got ", epsilon));
  }
  RdpDelta best{1.0, 0};
  for (size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i];
    if (!(rdp[i] < kInf)) continue;
    // Inverse of the improved conversion (Canonne, Kamath & Steinke, Prop. 12).
    const double log_delta = (a - 1) * (rdp[i] + std::log1p(-1.0 / a) - epsilon) - std::log(a);
    const double delta = std::exp(std::min(log_delta, 0.0));
    if (delta < best.delta) best = RdpDelta{delta, a};
  }
  return best;
}

const std::vector<double>& RdpAccountant::DefaultOrders() {
  static const std::vector<double>* const kOrders = [] {
    auto* orders = new std::vector<double>;
    for (int i = 1; i <= 9; ++i) orders->push_back(1.0 + i / 100.0);
    for (int i = 1; i < 100; ++i) orders->push_back(1.0 + i / 10.0);
    for (int i = 11; i <= 63; ++i) orders->push_back(i);
    for (double o : {64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 768, 1024}) {
      orders->push_back(o);
    }
    return orders;
  }();
  return *kOrders;
}

RdpAccountant::RdpAccountant() : RdpAccountant(DefaultOrders()) {}

RdpAccountant::RdpAccountant(std::vector<double> orders)
    : orders_(std::move(orders)), rdp_(orders_.size(), 0.0) {}

absl::StatusOr<RdpAccountant> RdpAccountant::WithOrders(std::vector<double> orders) {
  std::vector<double> zeros(orders.size(), 0.0);
  if (absl::Status status = ValidateCurve(orders, zeros); !status.ok()) return status;
  return RdpAccountant(std::move(orders));
}

absl::Status RdpAccountant::Compose(const DpEvent& event, int64_t count) {
  if (absl::Status status = ValidateEntry(event, count); !status.ok()) return status;
  if (count == 0) return absl::OkStatus();
  for (size_t i = 0; i < orders_.size(); ++i) {
    const double step = EventRdp(event, orders_[i]);
    rdp_[i] += step == 0 ? 0 : static_cast<double>(count) * step;
  }
  return absl::OkStatus();
}

absl::Status RdpAccountant::Compose(const PrivacyLedger& ledger) {
  for (const LedgerEntry& entry : ledger.entries()) {
    if (absl::Status status = Compose(entry.event, entry.count); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<RdpEpsilon> RdpAccountant::Epsilon(double delta, RdpConversion conversion) const {
  return EpsilonFromRdp(orders_, rdp_, delta, conversion);
}

absl::StatusOr<RdpDelta> RdpAccountant::Delta(double epsilon) const {
  return DeltaFromRdp(orders_, rdp_, epsilon);
}

}  // namespace tessera::privacy
