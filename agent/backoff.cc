#include "agent/backoff.h"

#include <algorithm>

namespace tessera::agent {

absl::Duration Backoff::NextDelay() {
  absl::Duration ceiling = initial_;
  for (int i = 0; i < attempt_ && ceiling < max_; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, max_);
  if (attempt_ < 64) ++attempt_;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  return ceiling * unit(rng_);
}

}  // namespace tessera::agent
