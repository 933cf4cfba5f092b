// Fuzz target: the agent's handling of the coordinator's secure-aggregation
// messages (agent::SecAggSession, hence crypto::secagg::Client). An honest
// round among four sites reaches the stage the input picks; the input then
// stands in for the coordinator's message to the first site at that stage
// (key list, share relay, survivor set or unmask request), either as raw
// bytes or as edits to the honest message, and the round goes on to its end.
//
// Input: byte 0 picks the stage (mod 4); byte 1 bit 0 picks edits (1) or
// raw bytes (0); the rest is the message or the edits (fuzz_support.h).
// With no edits the round must finish with the exact sum of the inputs.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/secagg_round.h"

using tessera::fuzz::SecAggRound;

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  tessera::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size < 2) return 0;
  const int stage = bytes[0] % 4;
  const bool edits = (bytes[1] & 1) != 0;
  const uint8_t* rest = bytes + 2;
  const size_t rest_size = size - 2;

  SecAggRound round;
  for (int s = 0; s < stage; ++s) {
    if (!round.ServerStage(s).ok()) __builtin_trap();  // honest so far
    round.SitesAnswer(s);
  }
  if (!round.ServerStage(stage).ok()) __builtin_trap();
  std::vector<uint8_t>& message = round.to_sites()[round.site_id(0)];
  message = edits ? tessera::fuzz::Patch(message, rest, rest_size)
                  : std::vector<uint8_t>(rest, rest + rest_size);
  // The first site takes the fuzzed message, the others honest ones; the
  // round then runs to its end.
  round.SitesAnswer(stage);
  absl::Status status;
  for (int s = stage + 1; s <= 4 && status.ok(); ++s) {
    status = round.ServerStage(s);
    if (s < 4 && status.ok()) round.SitesAnswer(s);
  }
  // Untouched, the honest round must succeed with the exact sum (the
  // target's own check that it drives a real round).
  const bool untouched = edits && rest_size == 0;
  if (untouched && !status.ok()) {
    std::fprintf(stderr, "honest round failed: %s\n", status.ToString().c_str());
    __builtin_trap();
  }
  if (status.ok() || untouched) round.CheckResult(untouched);
  return 0;
}
