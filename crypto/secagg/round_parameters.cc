#include "crypto/secagg/round_parameters.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::crypto::secagg {
namespace {

constexpr char kDigestLabel[] = "tessera/secagg/v1/round-parameters";

absl::Status ValidateSiteId(const std::string& site_id, size_t position) {
  if (site_id.empty() || site_id.size() > kMaxSiteIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("participant ", position + 1,
                                                   ": a site id must have 1 to ", kMaxSiteIdLength,
                                                   " bytes, got ", site_id.size()));
  }
  for (char c : site_id) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "participant ", position + 1, ": site ids may not contain control characters"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RoundContext> RoundContext::Create(RoundParameters parameters) {
  if (parameters.job_id.empty() || parameters.job_id.size() > kMaxJobIdLength) {
    return absl::InvalidArgumentError(absl::StrCat("the job id must have 1 to ", kMaxJobIdLength,
                                                   " bytes, got ", parameters.job_id.size()));
  }
  const size_t n = parameters.participants.size();
  if (n < kMinParticipants || n > kMaxParticipants) {
    return absl::InvalidArgumentError(absl::StrCat("secure aggregation needs ", kMinParticipants,
                                                   " to ", kMaxParticipants, " participants, got ",
                                                   n));
  }
  if (parameters.bit_width < 1 || parameters.bit_width > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("the bit width must be 1 to 32, got ", parameters.bit_width));
  }
  if (parameters.vector_length < 1 || parameters.vector_length > kMaxVectorLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the vector length must be 1 to ", kMaxVectorLength, ", got ", parameters.vector_length));
  }
  const auto n32 = static_cast<uint32_t>(n);
  const uint32_t requested = parameters.neighbours == 0 ? n32 - 1 : parameters.neighbours;
  TESSERA_ASSIGN_OR_RETURN(NeighbourGraph graph,
                           NeighbourGraph::Create(n32, requested, parameters.graph_seed));
  const uint32_t k = graph.degree();
  const uint32_t t = parameters.threshold;
  if (t > k || 2 * t <= k) {
    return absl::InvalidArgumentError(
        absl::StrCat("the threshold must satisfy k/2 < t <= k for k = ", k,
                     " neighbours (so no two disjoint groups of t neighbours exist), got t = ", t,
                     "; choose t between ", k / 2 + 1, " and ", k));
  }

  RoundContext context(std::move(parameters), std::move(graph));
  Sha256Hasher hasher;
  hasher.Update(AsBytes(kDigestLabel))
      .UpdateLengthPrefixed(AsBytes(context.parameters_.job_id))
      .UpdateU64(context.parameters_.round)
      .UpdateU64(n)
      .UpdateU32(context.parameters_.threshold)
      .UpdateU32(k)
      .UpdateU32(context.parameters_.bit_width)
      .UpdateU64(context.parameters_.vector_length)
      .Update(context.parameters_.graph_seed);
  for (size_t i = 0; i < n; ++i) {
    const std::string& site_id = context.parameters_.participants[i];
    TESSERA_RETURN_IF_ERROR(ValidateSiteId(site_id, i));
    if (!context.index_of_.emplace(site_id, static_cast<uint32_t>(i + 1)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("site `", site_id, "` is listed twice among the participants"));
    }
    hasher.UpdateLengthPrefixed(AsBytes(site_id));
  }
  context.digest_ = hasher.Finish();
  return context;
}

absl::StatusOr<uint32_t> RoundContext::IndexOf(absl::string_view site_id) const {
  auto it = index_of_.find(site_id);
  if (it == index_of_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("site `", site_id, "` is not a participant of round ", parameters_.round,
                     " of job `", parameters_.job_id, "`"));
  }
  return it->second;
}

std::string RoundContext::DescribeSites(const std::vector<uint32_t>& indices) const {
  std::string text;
  for (uint32_t index : indices) {
    absl::StrAppend(&text, text.empty() ? "" : ", ", "`", SiteId(index), "`");
  }
  return text.empty() ? "none" : text;
}

}  // namespace tessera::crypto::secagg
