#include "model/random.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#include "common/status.h"
#include "crypto/random.h"

namespace tessera::model {
namespace {

// The ziggurat for the standard normal density f(x) = exp(-x^2/2)
// (unnormalised) with 256 layers of equal area kV; kR is where the base
// layer's rectangle meets the tail. Both constants are Marsaglia & Tsang's
// for 256 layers.
constexpr double kR = 3.6541528853610088;
constexpr double kV = 4.92867323399e-3;

struct Ziggurat {
  // x[1] = r > x[2] > ... > x[255] > x[256] = 0 are the layers' right edges;
  // x[0] = v / f(r) is the base layer's width as if the tail were a rectangle.
  // f[i] = f(x[i]).
  double x[257];
  double f[257];
};

const Ziggurat& Tables() {
  static const Ziggurat tables = [] {
    Ziggurat t{};
    const auto density = [](double x) { return std::exp(-0.5 * x * x); };
    t.x[0] = kV / density(kR);
    t.x[1] = kR;
    // Layer i spans heights f(x[i]) to f(x[i+1]) with area x[i] (f(x[i+1]) - f(x[i])) = v.
    for (size_t i = 1; i < 255; ++i) {
      t.x[i + 1] = std::sqrt(-2.0 * std::log(density(t.x[i]) + kV / t.x[i]));
    }
    t.x[256] = 0.0;
    for (size_t i = 0; i < 257; ++i) t.f[i] = density(t.x[i]);
    return t;
  }();
  return tables;
}

// A uniform double in (0, 1], so its logarithm is finite.
double UniformOpenAtZero(privacy::RandomSource& random) {
  return 1.0 - privacy::Uniform01(random);
}

double Gaussian(const Ziggurat& t, privacy::RandomSource& random) {
  while (true) {
    const uint64_t word = random.NextUint64();
    const auto layer = static_cast<size_t>(word & 0xff);
    const bool negative = (word & 0x100) != 0;
    const double x = static_cast<double>(word >> 11) * 0x1.0p-53 * t.x[layer];
    if (x < t.x[layer + 1]) return negative ? -x : x;  // under the curve: accept
    if (layer == 0) {
      // The tail beyond r: r + a with a = -log(U1) / r, accepted when
      // -2 log(U2) > a^2.
      double a = 0, b = 0;
      do {
        a = -std::log(UniformOpenAtZero(random)) / kR;
        b = -std::log(UniformOpenAtZero(random));
      } while (b + b < a * a);
      return negative ? -(kR + a) : kR + a;
    }
    // The wedge: accept with the density's height above the layer's floor.
    const double y = t.f[layer] + privacy::Uniform01(random) * (t.f[layer + 1] - t.f[layer]);
    if (y < std::exp(-0.5 * x * x)) return negative ? -x : x;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<CsprngSource>> CsprngSource::Create() {
  std::unique_ptr<CsprngSource> source(new CsprngSource());
  TESSERA_RETURN_IF_ERROR(source->TryRefill());
  return source;
}

absl::Status CsprngSource::TryRefill() {
  position_ = 0;
  return crypto::RandomBytes(
      crypto::MutableByteSpan(reinterpret_cast<uint8_t*>(buffer_), sizeof(buffer_)));
}

void CsprngSource::Refill() {
  const absl::Status status = TryRefill();
  if (!status.ok()) {
    std::fprintf(stderr,
                 "tessera: fatal: the OS random generator failed during DP-SGD (%s); refusing to "
                 "continue with predictable noise\n",
                 std::string(status.message()).c_str());
    std::abort();
  }
}

double SampleGaussian(privacy::RandomSource& random) { return Gaussian(Tables(), random); }

void AddGaussianNoise(double stddev, privacy::RandomSource& random, absl::Span<float> values) {
  const Ziggurat& tables = Tables();
  for (float& value : values) {
    value = static_cast<float>(static_cast<double>(value) + stddev * Gaussian(tables, random));
  }
}

void RandomPermutation(int64_t n, privacy::RandomSource& random, std::vector<int64_t>* order) {
  order->resize(static_cast<size_t>(n));
  std::iota(order->begin(), order->end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(privacy::UniformBelow(random, static_cast<uint64_t>(i) + 1));
    std::swap((*order)[static_cast<size_t>(i)], (*order)[static_cast<size_t>(j)]);
  }
}

}  // namespace tessera::model
