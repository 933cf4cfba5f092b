// The encoding of a sequence of coordinator calls, shared by the services
// fuzz target (which decodes and runs them) and the seed generator (which
// writes real sessions in it).
//
// An input is a series of calls, each five header bytes and a payload:
//   method (Method, modulo kMethodCount), role (transport::Role, modulo 6),
//   caller (index into kCallers, modulo its size), payload size (16-bit
//   little-endian, cut to the bytes left), payload.
// The payload is the serialised request message; for the streaming uploads
// it is a series of UploadRequest messages, each preceded by its 16-bit
// size; for kTick it is the seconds the clock advances (first byte).
// In any string field of a request, "@job" stands for the id of the last
// job submitted and "@spec" for its spec_sha256: job ids are random, so a
// sequence could not name its own job otherwise.
//
// Thread-safety: constants and pure functions only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::fuzz {

enum class Method : uint8_t {
  kHeartbeat,
  kDownload,
  kSubmitStage,
  kUpload,
  kTakeWork,  // what GetWork would answer, without its long poll
  kListSites,
  kStatus,
  kPublishRevocationList,
  kRegisterSite,
  kUploadObject,
  kDownloadObject,
  kSubmitJob,
  kListJobs,
  kGetJob,
  kDecideJob,
  kStopJob,
  kGetModel,
  kSetBudget,
  kListBudgets,
  kReadAudit,
  kReadPrivacyRecords,
  kTick,  // the round strand's turn (JobRunner::Tick) after the clock moved
};
inline constexpr uint8_t kMethodCount = static_cast<uint8_t>(Method::kTick) + 1;

inline const char* const kCallers[] = {"site-001",      "site-002",        "site-003",
                                       "demo-ml-lead",  "demo-governance", "demo-operator",
                                       "demo-auditor",  "coordinator"};
inline constexpr uint8_t kCallerCount = sizeof(kCallers) / sizeof(kCallers[0]);

// Appends one call to `out`.
inline void AppendCall(std::vector<uint8_t>& out, Method method, uint8_t role, uint8_t caller,
                       const std::string& payload) {
  out.push_back(static_cast<uint8_t>(method));
  out.push_back(role);
  out.push_back(caller);
  const auto size = static_cast<uint16_t>(payload.size());
  out.push_back(static_cast<uint8_t>(size & 0xFF));
  out.push_back(static_cast<uint8_t>(size >> 8));
  out.insert(out.end(), payload.begin(), payload.begin() + size);
}

}  // namespace tessera::fuzz
