// Settings of published reference implementations that several privacy
// tests reproduce.
//
// Thread-safety: pure functions.
#pragma once

#include <vector>

namespace tessera::privacy::testing {

// Opacus' RDPAccountant.DEFAULT_ALPHAS: 1.1, 1.2, ..., 10.9 and 12, ..., 63.
inline std::vector<double> OpacusOrders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  return orders;
}

}  // namespace tessera::privacy::testing
