#include "model/random.h"

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "crypto/random.h"

namespace tessera::model {
namespace {

constexpr double kTwoPi = 6.283185307179586476925286766559;

class SeededStream final : public RandomStream {
 public:
  explicit SeededStream(uint64_t seed) : engine_(seed) {}
  bool secure() const override { return false; }

 protected:
  absl::Status Fill(absl::Span<uint64_t> words) override {
    for (uint64_t& word : words) word = engine_();
    return absl::OkStatus();
  }

 private:
  std::mt19937_64 engine_;
};

class SecureStream final : public RandomStream {
 public:
  bool secure() const override { return true; }

 protected:
  absl::Status Fill(absl::Span<uint64_t> words) override {
    crypto::MutableByteSpan bytes(reinterpret_cast<uint8_t*>(words.data()),
                                  words.size() * sizeof(uint64_t));
    return crypto::RandomBytes(bytes);
  }
};

}  // namespace

std::unique_ptr<RandomStream> RandomStream::Seeded(uint64_t seed) {
  return std::make_unique<SeededStream>(seed);
}

absl::StatusOr<std::unique_ptr<RandomStream>> RandomStream::Secure() {
  auto stream = std::make_unique<SecureStream>();
  stream->Refill();
  if (!stream->status().ok()) return stream->status();
  return std::unique_ptr<RandomStream>(std::move(stream));
}

void RandomStream::Refill() {
  absl::Status filled = Fill(absl::MakeSpan(buffer_));
  if (!filled.ok() && status_.ok()) {
    status_ = absl::Status(filled.code(),
                           absl::StrCat("reading random words for training: ", filled.message()));
  }
  position_ = 0;
}

double RandomStream::NextUniform() {
  const uint64_t k = NextWord() >> 11;  // 53 bits
  return (static_cast<double>(k) + 0.5) * 0x1.0p-53;
}

uint64_t RandomStream::NextBelow(uint64_t n) {
  // Accept words below the largest multiple of n that fits in 2^64.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t word = NextWord();
  while (word >= limit) word = NextWord();
  return word % n;
}

double RandomStream::NextGaussian() {
  if (has_spare_gaussian_) {
    has_spare_gaussian_ = false;
    return spare_gaussian_;
  }
  const double radius = std::sqrt(-2.0 * std::log(NextUniform()));
  const double angle = kTwoPi * NextUniform();
  spare_gaussian_ = radius * std::sin(angle);
  has_spare_gaussian_ = true;
  return radius * std::cos(angle);
}

void RandomStream::AddGaussianNoise(double stddev, absl::Span<float> values) {
  for (float& value : values) {
    value = static_cast<float>(static_cast<double>(value) + stddev * NextGaussian());
  }
}

void PoissonSample(int64_t n, double q, RandomStream& random, std::vector<int64_t>* indices) {
  indices->clear();
  if (n <= 0 || q <= 0.0) return;
  if (q >= 1.0) {
    indices->resize(static_cast<size_t>(n));
    std::iota(indices->begin(), indices->end(), int64_t{0});
    return;
  }
  const double log_miss = std::log1p(-q);  // log(1 - q) < 0
  int64_t next = -1;
  while (true) {
    // gap = floor(log U / log(1-q)) is geometric: P(gap >= k) = (1-q)^k.
    const double gap = std::floor(std::log(random.NextUniform()) / log_miss);
    if (gap >= static_cast<double>(n - 1 - next)) return;
    next += 1 + static_cast<int64_t>(gap);
    indices->push_back(next);
  }
}

void RandomPermutation(int64_t n, RandomStream& random, std::vector<int64_t>* order) {
  order->resize(static_cast<size_t>(n));
  std::iota(order->begin(), order->end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(random.NextBelow(static_cast<uint64_t>(i) + 1));
    std::swap((*order)[static_cast<size_t>(i)], (*order)[static_cast<size_t>(j)]);
  }
}

}  // namespace tessera::model
