// A real-input fast Fourier transform for the privacy-loss-distribution
// accountant, which composes discretised distributions by multiplying their
// spectra.
//
// Radix-2 decimation-in-time Cooley-Tukey (Cooley & Tukey 1965) on n/2
// complex points, with the usual split that turns a length-n real transform
// into a length-n/2 complex one (e.g. Press et al., Numerical Recipes, 3rd
// ed., Section 12.3). Twiddle factors are computed in long double and rounded
// once, which gives the forward error bound
//   ||fl(FFT x) - FFT x||_2 <= c log2(n) u ||FFT x||_2,  c ~ 7
// (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., Thm 24.2);
// the PLD accountant uses that bound to budget its numerical error.
//
// Thread-safety: a RealFft is immutable after construction; Forward and
// Inverse may run concurrently on different buffers.
#pragma once

#include <complex>
#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tessera::privacy {

class RealFft {
 public:
  // A transform of length n. INVALID_ARGUMENT unless n is a power of two >= 4.
  static absl::StatusOr<RealFft> Create(size_t n);

  size_t size() const { return n_; }

  // out[k] = sum_j in[j] exp(-2 pi i j k / n) for k = 0 .. n/2.
  // Preconditions: in.size() == n, out.size() == n/2 + 1.
  void Forward(absl::Span<const double> in, absl::Span<std::complex<double>> out) const;

  // The inverse of Forward, including the 1/n: out[j] = (1/n) sum_k X_k
  // exp(2 pi i j k / n), with X_{n-k} = conj(X_k). `spectrum` is used as
  // scratch space and holds garbage afterwards.
  // Preconditions: spectrum.size() == n/2 + 1, out.size() == n.
  void InverseInPlace(absl::Span<std::complex<double>> spectrum, absl::Span<double> out) const;

 private:
  explicit RealFft(size_t n);
  // In-place forward complex FFT of length m = n/2.
  void ComplexForward(std::complex<double>* data) const;

  size_t n_;
  size_t m_;
  std::vector<std::complex<double>> stage_twiddles_;  // exp(-2 pi i j / len), stage by stage
  std::vector<std::complex<double>> split_twiddles_;  // exp(-2 pi i k / n), k = 0 .. n/2
  std::vector<size_t> bit_reverse_;
};

}  // namespace tessera::privacy
