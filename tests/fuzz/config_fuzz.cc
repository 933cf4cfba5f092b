// Fuzz target: the TOML files people write and the job the agent receives.
// Every input goes to the agent's config loader (agent/agent_config.h), the
// coordinator's (coordinator/coordinator_config.h) and the job-file parser
// (coordinator/job/job_spec.h), and as JSON to JobSpecFromJson, which the
// agent runs on the job that travels with every task
// (coordinator/job/job_json.h).
//
// Beyond "no crash, no leak, no undefined behaviour" it checks the promise
// job_json.h makes: a job the parser accepts comes back unchanged from its
// canonical JSON.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/string_view.h"
#include "agent/agent_config.h"
#include "common/config.h"
#include "coordinator/coordinator_config.h"
#include "coordinator/job/job_json.h"
#include "coordinator/job/job_spec.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void CheckJsonRoundTrip(const tessera::coordinator::JobSpec& spec) {
  const std::string json = tessera::coordinator::CanonicalJson(spec);
  auto back = tessera::coordinator::JobSpecFromJson(json);
  if (!back.ok()) {
    std::fprintf(stderr, "an accepted job does not come back from its JSON: %s\n%s\n",
                 std::string(back.status().message()).c_str(), json.c_str());
    __builtin_trap();
  }
  if (tessera::coordinator::CanonicalJson(*back) != json) {
    std::fprintf(stderr, "an accepted job changes on its way through JSON:\n%s\n%s\n",
                 json.c_str(), tessera::coordinator::CanonicalJson(*back).c_str());
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  tessera::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(bytes), size);
  static const std::string path = tessera::fuzz::ScratchDir() + "/config.toml";
  tessera::fuzz::WriteFileOrDie(path, text);

  (void)tessera::agent::LoadAgentConfig(path);
  (void)tessera::coordinator::LoadCoordinatorConfig(path);

  auto reader = tessera::ConfigReader::FromString(text, "job.toml");
  if (reader.ok()) {
    auto spec = tessera::coordinator::ParseJobSpec(*reader);
    if (spec.ok()) CheckJsonRoundTrip(*spec);
  }
  auto from_json = tessera::coordinator::JobSpecFromJson(text);
  if (from_json.ok()) CheckJsonRoundTrip(*from_json);
  return 0;
}
