#include "privacy/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tessera::privacy {
namespace {

uint64_t RotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Fills `size` bytes from getrandom(2), retrying on EINTR and short reads.
// Returns 0 or the errno of the failure.
int FillFromKernel(void* data, size_t size) {
  auto* bytes = static_cast<unsigned char*>(data);
  while (size > 0) {
    const ssize_t got = ::getrandom(bytes, size, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes += got;
    size -= static_cast<size_t>(got);
  }
  return 0;
}

}  // namespace

uint64_t UniformBelow(RandomSource& rng, uint64_t bound) {
  unsigned __int128 m = static_cast<unsigned __int128>(rng.NextUint64()) * bound;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < bound) {
    const uint64_t threshold = (0 - bound) % bound;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(rng.NextUint64()) * bound;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

uint64_t SplitMix64(uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Xoshiro256StarStar::Xoshiro256StarStar(uint64_t seed) {
  for (uint64_t& word : s_) word = SplitMix64(seed);
}

Xoshiro256StarStar Xoshiro256StarStar::FromState(uint64_t s0, uint64_t s1, uint64_t s2,
                                                 uint64_t s3) {
  Xoshiro256StarStar rng;
  rng.s_[0] = s0;
  rng.s_[1] = s1;
  rng.s_[2] = s2;
  rng.s_[3] = s3;
  return rng;
}

uint64_t Xoshiro256StarStar::NextUint64() {
  const uint64_t result = RotateLeft(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = RotateLeft(s_[3], 45);
  return result;
}

absl::StatusOr<std::unique_ptr<OsRandomSource>> OsRandomSource::Create() {
  uint64_t probe;
  if (int error = FillFromKernel(&probe, sizeof(probe)); error != 0) {
    return absl::UnavailableError(
        absl::StrCat("the kernel's random number generator (getrandom) is not available: ",
                     std::strerror(error)));
  }
  return std::unique_ptr<OsRandomSource>(new OsRandomSource());
}

void OsRandomSource::Refill() {
  // getrandom(2) only fails for invalid arguments or when the call is not
  // implemented, and Create() has already shown that it works; if it ever
  // fails here, stop rather than emit predictable noise.
  if (FillFromKernel(buffer_, sizeof(buffer_)) != 0) std::abort();
  position_ = 0;
}

uint64_t OsRandomSource::NextUint64() {
  if (position_ == kBufferWords) Refill();
  const uint64_t word = buffer_[position_];
  buffer_[position_++] = 0;  // used randomness is not left lying in memory
  return word;
}

}  // namespace tessera::privacy
