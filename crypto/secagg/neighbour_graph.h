// The SecAgg+ communication graph (Bell et al. 2020, ePrint 2020/704, §4 and
// Appendix: "Harary graph with randomly relabelled nodes"): each of the n
// participants shares keys and masks only with its k neighbours.
//
// Construction. Nodes sit on a circle at positions 0..n-1 (the Harary graph
// H(k, n)): position p is joined to p +- 1, ..., p +- floor(k/2) (mod n), and,
// when k is odd (then n must be even), to the opposite position p + n/2.
// Participants are then assigned to positions by a uniformly random
// permutation drawn from the round's public 32-byte seed (Fisher-Yates over
// an AES-256-CTR stream keyed by HKDF(seed)), so every party derives the same
// graph and nobody can choose who neighbours whom once the seed is fixed.
// When k >= n - 1 the graph is complete.
//
// Memory is O(n): neighbourhoods are computed from positions on demand.
//
// Thread-safety: immutable after creation; const methods may be called
// concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::crypto::secagg {

class NeighbourGraph {
 public:
  // The graph on participants 1..n with degree min(k, n - 1). INVALID_ARGUMENT
  // when n < 2, k < 1, or k < n - 1 with k and n both odd (no k-regular
  // graph exists then).
  static absl::StatusOr<NeighbourGraph> Create(uint32_t n, uint32_t k,
                                               const std::array<uint8_t, 32>& seed);

  uint32_t size() const { return static_cast<uint32_t>(position_of_.size() - 1); }
  // Every participant's number of neighbours.
  uint32_t degree() const { return degree_; }
  bool complete() const { return degree_ + 1 == size(); }

  // Whether participants a and b (1-based, distinct) are neighbours.
  bool AreNeighbours(uint32_t a, uint32_t b) const;
  // The neighbours of participant a (1-based), in increasing order.
  std::vector<uint32_t> Neighbours(uint32_t a) const;

 private:
  NeighbourGraph(uint32_t degree, std::vector<uint32_t> position_of,
                 std::vector<uint32_t> participant_at)
      : degree_(degree),
        position_of_(std::move(position_of)),
        participant_at_(std::move(participant_at)) {}

  uint32_t degree_;
  std::vector<uint32_t> position_of_;     // participant (1..n) -> position; [0] unused
  std::vector<uint32_t> participant_at_;  // position (0..n-1) -> participant
};

}  // namespace tessera::crypto::secagg
