#include "coordinator/coordinator_config.h"

#include "absl/strings/match.h"
#include "common/config.h"
#include "common/status.h"

namespace tessera::coordinator {

absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfig(const std::string& path) {
  TESSERA_ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::FromFile(path));
  CoordinatorConfig config;
  config.listen_address = reader.RequireString("server.listen");
  if (!config.listen_address.empty() && !absl::StrContains(config.listen_address, ':')) {
    reader.AddError("server.listen", "must be host:port, e.g. \"0.0.0.0:7443\"");
  }
  config.tls.ca_file = reader.RequireString("tls.ca_file");
  config.tls.cert_file = reader.RequireString("tls.cert_file");
  config.tls.key_file = reader.RequireString("tls.key_file");
  config.crl_file = reader.GetString("tls.crl_file", "");
  config.state_dir = reader.RequireString("storage.dir");
  config.max_object_bytes =
      static_cast<uint64_t>(reader.GetInt("storage.max_object_mib", 1024, 1, 65536)) << 20;
  config.keep_checkpoints = reader.GetInt("storage.keep_checkpoints", 0, 0, 1000000);
  config.requests_per_second =
      static_cast<double>(reader.GetInt("limits.requests_per_second", 50, 1, 100000));
  config.burst = static_cast<double>(reader.GetInt("limits.burst", 200, 1, 1000000));
  config.liveness_window = absl::Seconds(reader.GetInt("sites.liveness_seconds", 60, 5, 86400));
  config.log = ReadLoggingOptions(reader);
  TESSERA_RETURN_IF_ERROR(reader.Finish());
  return config;
}

}  // namespace tessera::coordinator
