// `tessera sites ...`: which trusts are connected and what they report.
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "coordinator/cli/admin_client.h"
#include "coordinator/cli/commands.h"
#include "nlohmann/json.hpp"

namespace tessera::cli {
namespace {

std::string Ago(int64_t unix_ms) {
  absl::Duration ago = absl::Now() - absl::FromUnixMillis(unix_ms);
  if (ago < absl::Seconds(1)) return "just now";
  return absl::FormatDuration(absl::Trunc(ago, absl::Seconds(1))) + " ago";
}

// "connected", "gone" (heard from, not lately) or "enrolled" (never heard from).
std::string State(const tessera::v1::SiteStatus& site) {
  if (site.connected()) return "connected";
  return site.last_seen_unix_ms() == 0 ? "enrolled" : "gone";
}

absl::Status RunList(const ConnectionOptions& connection, bool json) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  tessera::v1::ListSitesResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().ListSites(context.get(), {}, &response);
  if (!status.ok()) return client.CallError(status);

  if (json) {
    nlohmann::json sites = nlohmann::json::array();
    for (const auto& site : response.sites()) {
      nlohmann::json datasets = nlohmann::json::array();
      for (const auto& d : site.datasets()) {
        datasets.push_back({{"name", d.name()}, {"record_count_bucket", d.record_count_bucket()}});
      }
      sites.push_back({{"site_id", site.site_id()},
                       {"connected", site.connected()},
                       {"agent_version", site.agent_version()},
                       {"last_seen_unix_ms", site.last_seen_unix_ms()},
                       {"clock_skew_ms", site.clock_skew_ms()},
                       {"certificate_serial", site.certificate_serial()},
                       {"enrolled", site.enrolled_unix_ms() != 0},
                       {"enrolled_by", site.enrolled_by()},
                       {"certificate_expires",
                        absl::FormatTime(absl::RFC3339_sec,
                                         absl::FromUnixMillis(site.certificate_expires_unix_ms()),
                                         absl::UTCTimeZone())},
                       {"datasets", datasets},
                       {"capabilities", std::vector<std::string>(site.capabilities().begin(),
                                                                 site.capabilities().end())}});
    }
    std::cout << nlohmann::json{{"sites", sites}}.dump(2) << "\n";
    return absl::OkStatus();
  }
  if (response.sites().empty()) {
    std::cout << "no sites have connected yet\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("%-20s %-12s %-10s %-14s %-10s %-13s %s\n", "SITE", "STATE",
                               "VERSION", "LAST SEEN", "SKEW", "CERT EXPIRES", "DATASETS");
  for (const auto& site : response.sites()) {
    std::vector<std::string> datasets;
    for (const auto& d : site.datasets()) {
      datasets.push_back(absl::StrFormat("%s(~%d)", d.name(), d.record_count_bucket()));
    }
    std::cout << absl::StrFormat("%-20s %-12s %-10s %-14s %-10s %-13s %s\n", site.site_id(),
                                 State(site), site.agent_version().empty() ? "-" : site.agent_version(),
                                 site.last_seen_unix_ms() == 0 ? "never" : Ago(site.last_seen_unix_ms()),
                                 absl::StrFormat("%+dms", site.clock_skew_ms()),
                                 absl::FormatTime("%Y-%m-%d",
                                                  absl::FromUnixMillis(
                                                      site.certificate_expires_unix_ms()),
                                                  absl::UTCTimeZone()),
                                 datasets.empty() ? "-" : absl::StrJoin(datasets, " "));
  }
  return absl::OkStatus();
}

}  // namespace

void AddSitesCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection) {
  static bool json = false;
  CLI::App* sites = AddCommandGroup(app, "sites", "Trusts (sites) in the federation.");
  CLI::App* list = sites->add_subcommand("list", "List the sites and whether they are connected.");
  AddConnectionOptions(list, connection);
  list->add_flag("--json", json, "Print JSON");
  list->callback(result.Bind([&connection] { return RunList(connection, json); }));
}

}  // namespace tessera::cli
