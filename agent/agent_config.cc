#include "agent/agent_config.h"

#include "absl/strings/match.h"
#include "common/config.h"
#include "common/status.h"

namespace tessera::agent {

absl::StatusOr<AgentConfig> LoadAgentConfig(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::FromFile(path));
  AgentConfig config;
  config.coordinator_address = reader.RequireString("coordinator.address");
  if (!config.coordinator_address.empty() &&
      !absl::StrContains(config.coordinator_address, ':')) {
    reader.AddError("coordinator.address", "must be host:port, e.g. \"tessera.example:7443\"");
  }
  config.heartbeat_interval =
      absl::Seconds(reader.GetInt("coordinator.heartbeat_seconds", 10, 1, 3600));
  config.retry_max = absl::Seconds(reader.GetInt("coordinator.retry_max_seconds", 120, 1, 3600));
  config.tls.ca_file = reader.RequireString("tls.ca_file");
  config.tls.cert_file = reader.RequireString("tls.cert_file");
  config.tls.key_file = reader.RequireString("tls.key_file");
  config.log = ReadLoggingOptions(reader);
  config.state_dir = reader.GetString("state.dir", config.state_dir);
  config.policy = ParseLocalPolicy(reader, "policy");
  config.datasets = data::ReadDatasetConfigs(reader);
  TESSERA_RETURN_IF_ERROR(reader.Finish());
  return config;
}

}  // namespace tessera::agent
