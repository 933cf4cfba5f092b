#include "privacy/fft.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera::privacy {
namespace {

constexpr long double kTwoPi = 6.283185307179586476925286766559005768L;

// exp(-2 pi i k / n) for k = 0 .. n/2, n a power of two >= 8. Only the first
// octant is evaluated (angles <= pi/4, where k/n is exact and sin/cos are
// accurate to an ulp); the rest follows from symmetry, so every entry is
// within ~1 ulp of the true root of unity.
std::vector<std::complex<double>> UnitRoots(size_t n) {
  std::vector<std::complex<double>> roots(n / 2 + 1);
  const size_t eighth = n / 8;
  for (size_t k = 0; k <= eighth; ++k) {
    const long double angle = kTwoPi * static_cast<long double>(k) / static_cast<long double>(n);
    const double c = static_cast<double>(std::cos(angle));
    const double s = static_cast<double>(std::sin(angle));
    roots[k] = {c, -s};                 // angle
    roots[n / 4 - k] = {s, -c};         // pi/2 - angle
    roots[n / 4 + k] = {-s, -c};        // pi/2 + angle
    roots[n / 2 - k] = {-c, -s};        // pi - angle
  }
  return roots;
}

}  // namespace

absl::StatusOr<RealFft> RealFft::Create(size_t n) {
  if (n < 4 || (n & (n - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("FFT length must be a power of two >= 4, got ", n));
  }
  return RealFft(n);
}

RealFft::RealFft(size_t n) : n_(n), m_(n / 2) {
  // With fewer than 8 points the octant construction degenerates; pad the
  // table computation to 8 and take every (8/n)-th root.
  const size_t table_n = std::max<size_t>(n_, 8);
  const std::vector<std::complex<double>> roots = UnitRoots(table_n);
  const size_t stride = table_n / n_;
  split_twiddles_.reserve(m_ + 1);
  for (size_t k = 0; k <= m_; ++k) split_twiddles_.push_back(roots[k * stride]);
  // Stage with butterflies of span `len` uses exp(-2 pi i j / len) =
  // W_n^(j n / len), j < len/2; stored back to back so that each stage reads
  // them contiguously.
  stage_twiddles_.reserve(m_);
  for (size_t len = 2; len <= m_; len *= 2) {
    for (size_t j = 0; j < len / 2; ++j) stage_twiddles_.push_back(split_twiddles_[j * (n_ / len)]);
  }
  bit_reverse_.assign(m_, 0);
  size_t bits = 0;
  while ((size_t{1} << bits) < m_) ++bits;
  for (size_t i = 1; i < m_; ++i) {
    bit_reverse_[i] = (bit_reverse_[i >> 1] >> 1) | ((i & 1) << (bits - 1));
  }
}

void RealFft::ComplexForward(std::complex<double>* data) const {
  for (size_t i = 0; i < m_; ++i) {
    if (i < bit_reverse_[i]) std::swap(data[i], data[bit_reverse_[i]]);
  }
  const std::complex<double>* twiddles = stage_twiddles_.data();
  for (size_t len = 2; len <= m_; len *= 2) {
    const size_t half = len / 2;
    for (size_t start = 0; start < m_; start += len) {
      std::complex<double>* lo = data + start;
      std::complex<double>* hi = lo + half;
      for (size_t j = 0; j < half; ++j) {
        const std::complex<double> w = twiddles[j];
        // Written out: std::complex multiplication checks for inf/nan.
        const double vr = hi[j].real() * w.real() - hi[j].imag() * w.imag();
        const double vi = hi[j].real() * w.imag() + hi[j].imag() * w.real();
        const double ur = lo[j].real();
        const double ui = lo[j].imag();
        lo[j] = {ur + vr, ui + vi};
        hi[j] = {ur - vr, ui - vi};
      }
    }
    twiddles += half;
  }
}

void RealFft::Forward(absl::Span<const double> in, absl::Span<std::complex<double>> out) const {
  // Pack z_k = x_{2k} + i x_{2k+1} and transform.
  for (size_t k = 0; k < m_; ++k) out[k] = {in[2 * k], in[2 * k + 1]};
  ComplexForward(out.data());
  // Split Z into the transforms of the even (E) and odd (O) samples:
  // E_k = (Z_k + conj Z_{m-k}) / 2, O_k = (Z_k - conj Z_{m-k}) / (2i),
  // X_k = E_k + W^k O_k and X_{m-k} = conj(E_k - W^k O_k), W = exp(-2 pi i / n).
  const std::complex<double> z0 = out[0];
  out[0] = {z0.real() + z0.imag(), 0.0};
  out[m_] = {z0.real() - z0.imag(), 0.0};
  const std::complex<double> minus_half_i(0.0, -0.5);
  for (size_t k = 1; k <= m_ / 2; ++k) {
    const std::complex<double> zk = out[k];
    const std::complex<double> zmk = out[m_ - k];
    const std::complex<double> e = 0.5 * (zk + std::conj(zmk));
    const std::complex<double> o = minus_half_i * (zk - std::conj(zmk));
    const std::complex<double> wo = split_twiddles_[k] * o;
    out[k] = e + wo;
    out[m_ - k] = std::conj(e - wo);
  }
}

void RealFft::InverseInPlace(absl::Span<std::complex<double>> spectrum,
                             absl::Span<double> out) const {
  // Undo the split: E_k = (X_k + conj X_{m-k}) / 2, O_k = (X_k - conj X_{m-k}) W^-k / 2,
  // Z_k = E_k + i O_k, and Z_{m-k} = conj(E_k) + i conj(O_k).
  const std::complex<double> i_unit(0.0, 1.0);
  {
    const std::complex<double> x0 = spectrum[0];
    const std::complex<double> xm = spectrum[m_];
    const std::complex<double> e = 0.5 * (x0 + std::conj(xm));
    const std::complex<double> o = 0.5 * (x0 - std::conj(xm));
    spectrum[0] = e + i_unit * o;
  }
  for (size_t k = 1; k <= m_ / 2; ++k) {
    const std::complex<double> xk = spectrum[k];
    const std::complex<double> xmk = spectrum[m_ - k];
    const std::complex<double> e = 0.5 * (xk + std::conj(xmk));
    const std::complex<double> o = 0.5 * (xk - std::conj(xmk)) * std::conj(split_twiddles_[k]);
    spectrum[k] = e + i_unit * o;
    spectrum[m_ - k] = std::conj(e) + i_unit * std::conj(o);
  }
  // Inverse complex transform through the forward one: ifft(Z) = conj(fft(conj Z)) / m.
  for (size_t k = 0; k < m_; ++k) spectrum[k] = std::conj(spectrum[k]);
  ComplexForward(spectrum.data());
  const double scale = 1.0 / static_cast<double>(m_);
  for (size_t k = 0; k < m_; ++k) {
    out[2 * k] = spectrum[k].real() * scale;
    out[2 * k + 1] = -spectrum[k].imag() * scale;
  }
}

}  // namespace tessera::privacy
