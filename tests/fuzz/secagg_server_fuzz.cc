// Fuzz target: the coordinator's secure-aggregation state machine
// (crypto::secagg::Server) taking a site's message. An honest round among
// four sites reaches the stage the input picks; the input then stands in for
// the first site's message at that stage (advertised keys, encrypted
// shares, masked input, consistency signature or unmask shares), as raw
// bytes or as edits to the honest message, optionally sent under the second
// site's name too, and the round goes on to its end.
//
// Input: byte 0 picks the stage (mod 5); byte 1 bit 0 picks edits (1) or
// raw bytes (0), bit 1 also sends it as the second site; the rest is the
// message or the edits (fuzz_support.h).
//
// Checks beyond memory safety: an untouched round sums the inputs exactly;
// a round that finishes has a vector of the right length from at least the
// threshold of sites, each of them either included or excluded.
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
  const int stage = bytes[0] % 5;
  const bool edits = (bytes[1] & 1) != 0;
  const bool impersonate = (bytes[1] & 2) != 0;
  const uint8_t* rest = bytes + 2;
  const size_t rest_size = size - 2;

  SecAggRound round;
  for (int s = 0; s < stage; ++s) {
    if (!round.ServerStage(s).ok()) __builtin_trap();  // honest so far
    round.SitesAnswer(s);
  }
  std::vector<uint8_t>& message = round.from_sites()[round.site_id(0)];
  message = edits ? tessera::fuzz::Patch(message, rest, rest_size)
                  : std::vector<uint8_t>(rest, rest + rest_size);
  if (impersonate) round.from_sites()[round.site_id(1)] = message;

  absl::Status status = round.ServerStage(stage);
  for (int s = stage; s < 4 && status.ok(); ++s) {
    round.SitesAnswer(s);
    status = round.ServerStage(s + 1);
  }
  const bool untouched = edits && rest_size == 0 && !impersonate;
  if (untouched && !status.ok()) {
    std::fprintf(stderr, "honest round failed: %s\n", status.ToString().c_str());
    __builtin_trap();
  }
  if (status.ok() || untouched) round.CheckResult(untouched);
  return 0;
}
