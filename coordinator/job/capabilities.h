// What an agent can do, as it tells the coordinator in every heartbeat, and
// what a job needs of the sites that run it.
//
// Capabilities are short fixed strings ("round-protocol/1", "model/mlp",
// "privacy/record", ...). The round protocol's version names the wire form
// of tasks, stage payloads and the aggregate vector's layout; the others
// name features a site's trainer must implement. The coordinator selects
// for a round only sites that have every capability the job needs, so an
// agent of an older release is passed over with a reason ("upgrade the
// agent") instead of failing the round.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "coordinator/job/job_spec.h"

namespace tessera::coordinator {

// The version of the round protocol this release speaks.
inline constexpr char kRoundProtocolCapability[] = "round-protocol/1";

// What the agent of this release can do, sorted.
std::vector<std::string> AgentCapabilities();

// What a site needs to take part in rounds of `spec`, sorted.
std::vector<std::string> RequiredCapabilities(const JobSpec& spec);

// The elements of `required` that `offered` lacks, in `required`'s order.
std::vector<std::string> MissingCapabilities(const std::vector<std::string>& required,
                                             const std::vector<std::string>& offered);

}  // namespace tessera::coordinator
