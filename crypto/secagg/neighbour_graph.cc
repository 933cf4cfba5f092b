#include "crypto/secagg/neighbour_graph.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypto/aes_ctr_prg.h"
#include "crypto/hkdf.h"

namespace tessera::crypto::secagg {
namespace {

constexpr char kGraphLabel[] = "tessera/secagg/v1/graph-permutation";

// A uniform draw from 0..bound-1 by rejection, so the permutation is unbiased.
uint32_t UniformBelow(AesCtrPrg& prg, uint32_t bound) {
  const uint32_t reject_below = (0u - bound) % bound;  // 2^32 mod bound
  uint32_t word = 0;
  do {
    prg.Fill(absl::MakeSpan(&word, 1));
  } while (word < reject_below);
  return word % bound;
}

}  // namespace

absl::StatusOr<NeighbourGraph> NeighbourGraph::Create(uint32_t n, uint32_t k,
                                                      const std::array<uint8_t, 32>& seed) {
  if (n < 2)
    return absl::InvalidArgumentError(absl::StrCat("a graph needs 2 or more nodes, got ", n));
  if (k < 1) return absl::InvalidArgumentError("the neighbour count k must be at least 1");
  const uint32_t degree = std::min(k, n - 1);
  if (degree < n - 1 && degree % 2 == 1 && n % 2 == 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("no graph on ", n, " participants gives each exactly ", degree,
                     " neighbours (both odd); use ", degree + 1, " neighbours"));
  }
  TESSERA_ASSIGN_OR_RETURN(SecretBytes key,
                           HkdfSha256(seed, ByteSpan(), AsBytes(kGraphLabel), AesCtrPrg::kKeySize));
  TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<AesCtrPrg> prg, AesCtrPrg::Create(key.span()));
  // Fisher-Yates (Knuth, TAOCP vol. 2, Algorithm 3.4.2P).
  std::vector<uint32_t> participant_at(n);
  std::iota(participant_at.begin(), participant_at.end(), 1);
  for (uint32_t i = n - 1; i > 0; --i) {
    std::swap(participant_at[i], participant_at[UniformBelow(*prg, i + 1)]);
  }
  std::vector<uint32_t> position_of(n + 1, 0);
  for (uint32_t position = 0; position < n; ++position) {
    position_of[participant_at[position]] = position;
  }
  return NeighbourGraph(degree, std::move(position_of), std::move(participant_at));
}

bool NeighbourGraph::AreNeighbours(uint32_t a, uint32_t b) const {
  if (a == b) return false;
  if (complete()) return true;
  const uint32_t n = size();
  const uint32_t pa = position_of_[a], pb = position_of_[b];
  const uint32_t forward = pa > pb ? pa - pb : pb - pa;
  const uint32_t distance = std::min(forward, n - forward);
  return distance <= degree_ / 2 || (degree_ % 2 == 1 && distance == n / 2);
}

std::vector<uint32_t> NeighbourGraph::Neighbours(uint32_t a) const {
  const uint32_t n = size();
  std::vector<uint32_t> neighbours;
  neighbours.reserve(degree_);
  if (complete()) {
    for (uint32_t b = 1; b <= n; ++b) {
      if (b != a) neighbours.push_back(b);
    }
    return neighbours;
  }
  const uint32_t p = position_of_[a];
  for (uint32_t step = 1; step <= degree_ / 2; ++step) {
    neighbours.push_back(participant_at_[(p + step) % n]);
    neighbours.push_back(participant_at_[(p + n - step) % n]);
  }
  if (degree_ % 2 == 1) neighbours.push_back(participant_at_[(p + n / 2) % n]);
  std::sort(neighbours.begin(), neighbours.end());
  return neighbours;
}

}  // namespace tessera::crypto::secagg
