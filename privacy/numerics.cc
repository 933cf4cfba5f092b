#include "privacy/numerics.h"

#include <algorithm>
#include <cmath>

namespace tessera::privacy {
namespace {

constexpr long double kSqrt2 = 1.41421356237309504880168872420969808L;
constexpr long double kLogSqrtPi = 0.572364942924700087071713675676529356L;  // log(sqrt(pi))
constexpr long double kLog2 = 0.693147180559945309417232121458176568L;

// log(erfcx(x)) = log(erfc(x)) + x^2 for x >= 0.
long double LogErfcx(long double x) {
  // erfcl(x) stays a normal long double up to x ~ 106 and exp(x^2) is
  // representable there, so the direct product is exact to a few ulps.
  if (x < 50.0L) return std::log(std::erfc(x)) + x * x;
  // Asymptotic series, Abramowitz & Stegun 7.1.23:
  // erfcx(x) ~ 1/(x sqrt(pi)) * sum_k (-1)^k (2k-1)!! / (2x^2)^k.
  // At x >= 50 the ninth term is below 1e-30 of the first.
  const long double inv = 1.0L / (2.0L * x * x);
  long double term = 1.0L;
  long double series = 1.0L;
  for (int k = 1; k <= 8; ++k) {
    term *= -static_cast<long double>(2 * k - 1) * inv;
    series += term;
  }
  return std::log(series) - std::log(x) - kLogSqrtPi;
}

}  // namespace

double LogAddExp(double a, double b) {
  if (a == -kInf) return b;
  if (b == -kInf) return a;
  const double hi = std::max(a, b);
  const double lo = std::min(a, b);
  return hi + std::log1p(std::exp(lo - hi));
}

long double LogScaledNormalTail(long double y) {
  const long double x = y / kSqrt2;
  if (x >= 0) return LogErfcx(x) - kLog2;
  // Phi_c(y) is in (1/2, 1] here; no cancellation.
  return std::log(std::erfc(x)) - kLog2 + y * y / 2;
}

long double LogNormalTail(long double y) {
  if (y <= 0) return std::log(std::erfc(y / kSqrt2) / 2);
  return LogScaledNormalTail(y) - y * y / 2;
}

long double NormalSmallTail(long double y) { return std::erfc(std::fabs(y) / kSqrt2) / 2; }

long double NormalMassFromTails(long double a, long double ta, long double b, long double tb) {
  if (!(a < b)) return 0;
  if (a >= 0) return ta - tb;  // Phi_c(a) - Phi_c(b)
  if (b <= 0) return tb - ta;  // Phi(b) - Phi(a) = Phi_c(-b) - Phi_c(-a)
  return 1.0L - ta - tb;
}

long double NormalMass(long double a, long double b) {
  return NormalMassFromTails(a, NormalSmallTail(a), b, NormalSmallTail(b));
}

}  // namespace tessera::privacy
