// Numerical building blocks shared by the privacy accountants: log-space
// arithmetic, Gaussian tail probabilities that stay accurate far into the
// tails, and compensated summation.
//
// The accountants must never under-report epsilon, so these helpers favour
// accuracy over speed: long double where cancellation threatens, and tail
// formulas that do not underflow where a naive erfc() would.
//
// Thread-safety: every function here is pure and safe to call concurrently.
#pragma once

#include <cmath>
#include <limits>

namespace tessera::privacy {

inline constexpr double kInf = std::numeric_limits<double>::infinity();

// log(exp(a) + exp(b)) without overflow; -inf is the log of zero.
double LogAddExp(double a, double b);

// log(Phi_c(y)) + y^2 / 2, where Phi_c(y) = P(N(0,1) > y) = erfc(y / sqrt 2) / 2.
// Adding y^2 / 2 keeps the value O(log y) for large y, so callers can combine
// it with other large exponents without cancellation. Accurate to a few ulps
// of long double for every finite y (scaled complementary error function:
// direct evaluation below y = 70, the asymptotic series of Abramowitz & Stegun
// 7.1.23 above).
long double LogScaledNormalTail(long double y);

// log(Phi_c(y)) = log P(N(0,1) > y), accurate in both tails.
long double LogNormalTail(long double y);

// P(a < N(0,1) <= b) for a <= b (either may be infinite), computed from the
// tail on the side away from the bulk so that small masses keep their
// relative precision.
long double NormalMass(long double a, long double b);

// Phi_c(|y|), the smaller of the two standard normal tails at y.
long double NormalSmallTail(long double y);

// NormalMass(a, b) from the precomputed small tails ta = NormalSmallTail(a)
// and tb = NormalSmallTail(b), for callers that reuse each edge twice.
long double NormalMassFromTails(long double a, long double ta, long double b, long double tb);

// Neumaier's compensated sum (an improved Kahan summation): the error does not
// grow with the number of terms.
class CompensatedSum {
 public:
  void Add(long double x) {
    long double t = sum_ + x;
    if (std::fabs(sum_) >= std::fabs(x)) {
      compensation_ += (sum_ - t) + x;
    } else {
      compensation_ += (x - t) + sum_;
    }
    sum_ = t;
  }
  long double value() const { return sum_ + compensation_; }

 private:
  long double sum_ = 0;
  long double compensation_ = 0;
};

}  // namespace tessera::privacy
