#include "privacy/fft.h"

#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::privacy {
namespace {

using ::tessera::testing::StatusIs;

// The defining sum X_k = sum_j x_j exp(-2 pi i j k / n), in long double.
std::vector<std::complex<long double>> NaiveDft(const std::vector<double>& x) {
  const size_t n = x.size();
  const long double two_pi = 6.283185307179586476925286766559005768L;
  std::vector<std::complex<long double>> out(n / 2 + 1);
  for (size_t k = 0; k <= n / 2; ++k) {
    std::complex<long double> sum = 0;
    for (size_t j = 0; j < n; ++j) {
      const long double angle = -two_pi * static_cast<long double>((j * k) % n) / n;
      sum += static_cast<long double>(x[j]) * std::complex<long double>(std::cos(angle), std::sin(angle));
    }
    out[k] = sum;
  }
  return out;
}

std::vector<double> RandomSignal(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> x(n);
  for (double& v : x) v = uniform(rng);
  return x;
}

TEST(RealFftTest, RejectsLengthsThatAreNotPowersOfTwo) {
  EXPECT_THAT(RealFft::Create(0), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RealFft::Create(2), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RealFft::Create(24), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RealFftTest, ForwardMatchesTheDefiningSum) {
  for (size_t n : {4u, 8u, 16u, 64u, 512u}) {
    ASSERT_OK_AND_ASSIGN(RealFft fft, RealFft::Create(n));
    const std::vector<double> x = RandomSignal(n, static_cast<uint32_t>(n));
    std::vector<std::complex<double>> got(n / 2 + 1);
    fft.Forward(x, absl::MakeSpan(got));
    const auto want = NaiveDft(x);
    for (size_t k = 0; k <= n / 2; ++k) {
      const double tolerance = 1e-13 * static_cast<double>(n);
      EXPECT_NEAR(got[k].real(), static_cast<double>(want[k].real()), tolerance) << n << " " << k;
      EXPECT_NEAR(got[k].imag(), static_cast<double>(want[k].imag()), tolerance) << n << " " << k;
    }
  }
}

TEST(RealFftTest, InverseUndoesForward) {
  const size_t n = 1 << 14;
  ASSERT_OK_AND_ASSIGN(RealFft fft, RealFft::Create(n));
  const std::vector<double> x = RandomSignal(n, 7);
  std::vector<std::complex<double>> spectrum(n / 2 + 1);
  fft.Forward(x, absl::MakeSpan(spectrum));
  std::vector<double> back(n);
  fft.InverseInPlace(absl::MakeSpan(spectrum), absl::MakeSpan(back));
  for (size_t j = 0; j < n; ++j) ASSERT_NEAR(back[j], x[j], 1e-14) << j;
}

TEST(RealFftTest, ProductOfSpectraIsCircularConvolution) {
  // The accountant composes distributions this way.
  const size_t n = 256;
  ASSERT_OK_AND_ASSIGN(RealFft fft, RealFft::Create(n));
  const std::vector<double> a = RandomSignal(n, 1);
  const std::vector<double> b = RandomSignal(n, 2);
  std::vector<std::complex<double>> fa(n / 2 + 1), fb(n / 2 + 1);
  fft.Forward(a, absl::MakeSpan(fa));
  fft.Forward(b, absl::MakeSpan(fb));
  for (size_t k = 0; k < fa.size(); ++k) fa[k] *= fb[k];
  std::vector<double> conv(n);
  fft.InverseInPlace(absl::MakeSpan(fa), absl::MakeSpan(conv));
  for (size_t i = 0; i < n; ++i) {
    long double direct = 0;
    for (size_t j = 0; j < n; ++j) direct += static_cast<long double>(a[j]) * b[(i + n - j) % n];
    ASSERT_NEAR(conv[i], static_cast<double>(direct), 1e-12) << i;
  }
}

}  // namespace
}  // namespace tessera::privacy
