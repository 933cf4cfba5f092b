// The public parameters of one secure-aggregation round, and the validated
// context both sides build from them.
//
// Every participant and the coordinator must hold the same RoundParameters
// (the coordinator sends them with the training task). RoundContext checks
// them once, fixes each site's number (its position in `participants` plus
// one, which is also its Shamir evaluation point), builds the neighbour graph
// and computes a digest of all parameters that every message, signature,
// key derivation and associated-data block is bound to, so messages made for
// one round, job or parameter set are useless in any other.
//
// Thread-safety: RoundContext is immutable after creation; const methods
// may be called concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/secagg/neighbour_graph.h"
#include "crypto/sha256.h"

namespace tessera::crypto::secagg {

inline constexpr uint32_t kMinParticipants = 3;
inline constexpr uint32_t kMaxParticipants = 65535;  // Shamir points are 16-bit
inline constexpr size_t kMaxJobIdLength = 256;
inline constexpr size_t kMaxSiteIdLength = 128;
inline constexpr uint64_t kMaxVectorLength = uint64_t{1} << 28;

struct RoundParameters {
  std::string job_id;  // 1..256 bytes
  uint64_t round = 0;
  // Site ids (certificate commonNames) of the sites selected for the round,
  // distinct; site i has number i + 1.
  std::vector<std::string> participants;
  // t: how many of a site's neighbours must survive to the end for its masks
  // to be removed; 2t must exceed the neighbour count (see DESIGN in
  // docs/secure-aggregation.md).
  uint32_t threshold = 0;
  // k: neighbours per site. 0, or anything >= n - 1, means the complete graph.
  uint32_t neighbours = 0;
  // b: inputs and the sum live in Z_{2^b}, 1 <= b <= 32.
  uint32_t bit_width = 32;
  // d: the length of every input vector.
  uint64_t vector_length = 0;
  // Public randomness that fixes the neighbour graph.
  std::array<uint8_t, 32> graph_seed{};
};

class RoundContext {
 public:
  // Validates `parameters`. INVALID_ARGUMENT, naming the field and the fix,
  // when: the job id is empty or longer than 256 bytes; there are fewer than
  // 3 or more than 65535 participants; a site id is empty, longer than 128
  // bytes, has control characters or is repeated; the bit width is outside
  // 1..32; the vector length is 0 or above 2^28; the neighbour count has no
  // regular graph; or the threshold t is not in (k/2, k] for the effective
  // neighbour count k.
  static absl::StatusOr<RoundContext> Create(RoundParameters parameters);

  const RoundParameters& parameters() const { return parameters_; }
  const std::string& job_id() const { return parameters_.job_id; }
  uint64_t round() const { return parameters_.round; }
  uint32_t size() const { return static_cast<uint32_t>(parameters_.participants.size()); }
  uint32_t threshold() const { return parameters_.threshold; }
  uint32_t bit_width() const { return parameters_.bit_width; }
  uint64_t vector_length() const { return parameters_.vector_length; }
  const NeighbourGraph& graph() const { return graph_; }
  // SHA-256 over every parameter, in a fixed unambiguous encoding.
  const Sha256Digest& digest() const { return digest_; }

  // The number of `site_id`; INVALID_ARGUMENT when it is not a participant.
  absl::StatusOr<uint32_t> IndexOf(absl::string_view site_id) const;
  // The site id of participant `index`. Precondition: 1 <= index <= size().
  const std::string& SiteId(uint32_t index) const { return parameters_.participants[index - 1]; }
  // "`a`, `b`, `c`" for a list of participant numbers, for messages.
  std::string DescribeSites(const std::vector<uint32_t>& indices) const;

 private:
  RoundContext(RoundParameters parameters, NeighbourGraph graph)
      : parameters_(std::move(parameters)), graph_(std::move(graph)) {}

  RoundParameters parameters_;
  NeighbourGraph graph_;
  Sha256Digest digest_{};
  absl::flat_hash_map<std::string, uint32_t> index_of_;
};

}  // namespace tessera::crypto::secagg
