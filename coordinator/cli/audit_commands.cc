// `tessera audit verify` and `tessera audit export`.
#include "coordinator/cli/audit_commands.h"

#include <functional>
#include <iostream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"
#include "coordinator/cli/admin_client.h"
#include "coordinator/cli/commands.h"
#include "crypto/certificate.h"

namespace tessera::cli {
namespace {

using coordinator::AuditEntry;
using coordinator::AuditHeadRecord;
using coordinator::AuditLogReport;
using nlohmann::json;

std::string Rfc3339Millis(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

std::string TimeForPeople(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", time, absl::UTCTimeZone());
}

std::string Entries(int64_t n) { return absl::StrCat(n, n == 1 ? " entry" : " entries"); }

}  // namespace

absl::StatusOr<absl::Time> ParseAuditTime(absl::string_view text) {
  const std::string trimmed(absl::StripAsciiWhitespace(text));
  absl::Time time;
  std::string error;
  if (trimmed.size() == 10 &&
      absl::ParseTime("%Y-%m-%d", trimmed, absl::UTCTimeZone(), &time, &error)) {
    return time;
  }
  if (absl::ParseTime(absl::RFC3339_full, trimmed, &time, &error)) return time;
  return absl::InvalidArgumentError(
      absl::StrCat("`", text,
                   "` is not a time; give a date (2026-03-01, midnight UTC) or an RFC 3339 time "
                   "with its offset (2026-03-01T09:30:00Z, 2026-03-01T09:30:00+01:00)"));
}

coordinator::AuditEntry AuditEntryFromProto(const tessera::v1::AuditEntryProto& entry) {
  AuditEntry out;
  out.sequence = entry.sequence();
  out.event.time = absl::FromUnixMillis(entry.time_unix_ms());
  out.event.actor = entry.actor();
  out.event.actor_role = entry.actor_role();
  out.event.action = entry.action();
  out.event.subject = entry.subject();
  out.event.details = entry.details_json();
  out.previous_hash = entry.previous_hash();
  out.hash = entry.hash();
  return out;
}

coordinator::AuditHeadRecord AuditHeadFromProto(const tessera::v1::AuditHeadSignature& head) {
  return AuditHeadRecord{head.sequence(), head.hash(), absl::FromUnixMillis(head.signed_unix_ms()),
                         head.signature(), head.certificate_pem()};
}

absl::StatusOr<AuditExportFormat> ParseAuditExportFormat(absl::string_view name) {
  if (name == "jsonl") return AuditExportFormat::kJsonl;
  if (name == "csv") return AuditExportFormat::kCsv;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown export format `", name, "`; use jsonl or csv"));
}

std::string CsvField(absl::string_view value) {
  if (value.find_first_of(",\"\r\n") == absl::string_view::npos) return std::string(value);
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::string AuditExportHeader(AuditExportFormat format) {
  if (format == AuditExportFormat::kJsonl) return "";
  return "sequence,time,actor,actor_role,action,subject,details,previous_hash,hash\r\n";
}

std::string AuditExportLine(const tessera::v1::AuditEntryProto& entry, AuditExportFormat format) {
  const std::string time = Rfc3339Millis(absl::FromUnixMillis(entry.time_unix_ms()));
  if (format == AuditExportFormat::kJsonl) {
    // Keys in this order, details as the exact text that was hashed.
    json line = json::object();
    line["sequence"] = entry.sequence();
    line["time"] = time;
    line["actor"] = entry.actor();
    line["actor_role"] = entry.actor_role();
    line["action"] = entry.action();
    line["subject"] = entry.subject();
    line["details"] = entry.details_json();
    line["previous_hash"] = entry.previous_hash();
    line["hash"] = entry.hash();
    // Invalid UTF-8 (which the coordinator never writes) is replaced, not
    // thrown about.
    return line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  std::string row = absl::StrCat(entry.sequence(), ",", time);
  for (const std::string* field :
       {&entry.actor(), &entry.actor_role(), &entry.action(), &entry.subject(),
        &entry.details_json(), &entry.previous_hash(), &entry.hash()}) {
    absl::StrAppend(&row, ",", CsvField(*field));
  }
  return row + "\r\n";
}

std::string FormatAuditReport(const AuditLogReport& report) {
  std::string out;
  if (report.problem.has_value()) {
    absl::StrAppend(&out, "audit log does NOT verify: ", report.problem->description, "\n");
    absl::StrAppend(&out, "  first bad entry  ", report.problem->sequence, " (",
                    coordinator::AuditProblemKindName(report.problem->kind), ")\n");
    if (report.latest_head.has_value()) {
      absl::StrAppend(&out, "  last good head   entry ", report.latest_head->sequence, ", signed ",
                      TimeForPeople(report.latest_head->signed_at), "\n");
    }
    return out;
  }
  absl::StrAppend(&out, "audit log verified: ", Entries(report.entries),
                  ", none altered, deleted or re-ordered\n");
  absl::StrAppend(&out, "  head             entry ", report.entries, ", sha256 ", report.head_hash,
                  "\n");
  if (report.latest_head.has_value()) {
    absl::StrAppend(&out, "  latest signed    entry ", report.latest_head->sequence, ", signed ",
                    TimeForPeople(report.latest_head->signed_at), " by coordinator `",
                    report.latest_head_signer, "` (", report.signed_heads,
                    report.signed_heads == 1 ? " signed head" : " signed heads", " verified)\n");
  } else {
    absl::StrAppend(&out, "  latest signed    none: no head has been signed yet\n");
  }
  if (report.unsigned_entries > 0) {
    absl::StrAppend(&out, "  not yet signed   ", Entries(report.unsigned_entries),
                    report.latest_head.has_value() ? " after the latest signed head" : "",
                    " (the coordinator signs the head within a minute of a change; until "
                    "then they could be removed from the end unnoticed)\n");
  }
  return out;
}

nlohmann::json AuditReportJson(const AuditLogReport& report) {
  json out = json::object();
  out["verified"] = !report.problem.has_value();
  out["entries"] = report.entries;
  out["head_hash"] = report.head_hash;
  out["signed_heads"] = report.signed_heads;
  out["latest_signed_head"] = nullptr;
  if (report.latest_head.has_value()) {
    out["latest_signed_head"] = {{"sequence", report.latest_head->sequence},
                                 {"hash", report.latest_head->hash},
                                 {"signed_at", Rfc3339Millis(report.latest_head->signed_at)},
                                 {"coordinator", report.latest_head_signer}};
  }
  out["unsigned_entries"] = report.unsigned_entries;
  out["problem"] = nullptr;
  if (report.problem.has_value()) {
    out["problem"] = {{"sequence", report.problem->sequence},
                      {"kind", coordinator::AuditProblemKindName(report.problem->kind)},
                      {"description", report.problem->description}};
  }
  return out;
}

absl::Status AuditReportOutcome(const AuditLogReport& report) {
  if (!report.problem.has_value()) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("the audit log does not verify at entry ", report.problem->sequence, " (",
                   coordinator::AuditProblemKindName(report.problem->kind), ")"));
}

namespace {

struct AuditOptions {
  bool json = false;
  std::string since;
  std::string format;
  std::string out;
};

// Reads the log page by page from `after_sequence` 0, handing each page to
// `page`.
absl::Status ReadAuditPages(AdminClient& client, int64_t since_unix_ms,
                            const std::function<void(tessera::v1::ReadAuditResponse&)>& page) {
  int64_t after = 0;
  while (true) {
    tessera::v1::ReadAuditRequest request;
    request.set_after_sequence(after);
    request.set_since_unix_ms(since_unix_ms);
    tessera::v1::ReadAuditResponse response;
    auto context = client.NewContext();
    grpc::Status status = client.stub().ReadAudit(context.get(), request, &response);
    if (!status.ok()) return client.CallError(status);
    const bool more = response.more();
    const int64_t last =
        response.entries().empty() ? after : response.entries().rbegin()->sequence();
    page(response);
    if (!more) return absl::OkStatus();
    if (last <= after) {
      // Never loop forever on a coordinator that promises more and sends none.
      return absl::DataLossError(
          absl::StrCat("the coordinator said the audit log goes on after entry ", after,
                       " but sent nothing after it; retry, and report it if it persists"));
    }
    after = last;
  }
}

}  // namespace

std::string AuditReportSentence(const AuditLogReport& report) {
  if (report.problem.has_value()) {
    return absl::StrCat("the audit log does NOT verify: ", report.problem->description,
                        " (first bad entry ", report.problem->sequence, ", ",
                        coordinator::AuditProblemKindName(report.problem->kind), ")");
  }
  std::string sentence = absl::StrCat(Entries(report.entries),
                                      " checked here, none altered, deleted or re-ordered");
  if (report.latest_head.has_value()) {
    absl::StrAppend(&sentence, "; the latest head the coordinator signed (entry ",
                    report.latest_head->sequence, ", ",
                    TimeForPeople(report.latest_head->signed_at), ", coordinator `",
                    report.latest_head_signer, "`) verifies against the federation CA");
  } else {
    absl::StrAppend(&sentence, "; no head has been signed yet");
  }
  if (report.unsigned_entries > 0) {
    absl::StrAppend(&sentence, "; ", Entries(report.unsigned_entries),
                    " not yet signed (signed within a minute of a change)");
  }
  return sentence;
}

absl::StatusOr<AuditLogReport> FetchAndVerifyAuditLog(AdminClient& client,
                                                      const std::string& ca_pem) {
  std::vector<AuditEntry> entries;
  std::vector<AuditHeadRecord> heads;
  TESSERA_RETURN_IF_ERROR(ReadAuditPages(client, 0, [&](tessera::v1::ReadAuditResponse& page) {
    for (const auto& entry : page.entries()) entries.push_back(AuditEntryFromProto(entry));
    for (const auto& head : page.head_signatures()) heads.push_back(AuditHeadFromProto(head));
  }));
  return coordinator::VerifyAuditLog(entries, heads, ca_pem);
}

namespace {

absl::Status RunVerify(const ConnectionOptions& connection, const AuditOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  TESSERA_ASSIGN_OR_RETURN(std::string ca_pem,
                           ReadFileToString(connection.ca_file, "CA certificate"));
  auto report = FetchAndVerifyAuditLog(client, ca_pem);
  if (!report.ok() && report.status().code() == absl::StatusCode::kInvalidArgument) {
    return Annotate(report.status(), absl::StrCat("--ca ", connection.ca_file));
  }
  if (!report.ok()) return report.status();
  if (options.json) {
    std::cout << AuditReportJson(*report).dump(2) << "\n";
  } else {
    std::cout << FormatAuditReport(*report);
  }
  return AuditReportOutcome(*report);
}

absl::Status RunExport(const ConnectionOptions& connection, const AuditOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(AuditExportFormat format, ParseAuditExportFormat(options.format));
  int64_t since_ms = 0;
  if (!options.since.empty()) {
    TESSERA_ASSIGN_OR_RETURN(absl::Time since, ParseAuditTime(options.since));
    since_ms = std::max<int64_t>(0, absl::ToUnixMillis(since));
  }
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  std::string text = AuditExportHeader(format);
  int64_t count = 0;
  TESSERA_RETURN_IF_ERROR(
      ReadAuditPages(client, since_ms, [&](tessera::v1::ReadAuditResponse& page) {
        for (const auto& entry : page.entries()) text += AuditExportLine(entry, format);
        count += page.entries_size();
      }));
  if (options.out.empty()) {
    std::cout << text << std::flush;
    return absl::OkStatus();
  }
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(options.out, text, 0600));
  std::cerr << "wrote " << Entries(count) << " to " << options.out << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddAuditCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection) {
  static AuditOptions options;
  CLI::App* audit = AddCommandGroup(
      app, "audit", "The coordinator's tamper-evident audit log: verify and export it.");

  CLI::App* verify = audit->add_subcommand(
      "verify",
      "Download the whole audit log and check it here: every entry's hash, no gaps, and every "
      "head the coordinator signed (against the federation CA). Governance, auditor, operator.");
  AddConnectionOptions(verify, connection);
  verify->add_flag("--json", options.json, "Print JSON");
  verify->footer(
      "\nExits 0 when the log verifies; 1 when it does not (the first altered, deleted or "
      "re-ordered entry is named) or the command failed; 2 usage error; 3 coordinator "
      "unreachable; 4 not allowed (certificate or role).");
  verify->callback(result.Bind([&connection] { return RunVerify(connection, options); }));

  CLI::App* exporter = audit->add_subcommand(
      "export",
      "Write the audit log's entries as JSON lines or CSV (RFC 4180, with a header row). "
      "Governance, auditor, operator. Run `tessera audit verify` to check them.");
  AddConnectionOptions(exporter, connection);
  exporter
      ->add_option("--since", options.since,
                   "Only entries at or after this time: a date (2026-03-01, midnight UTC) or "
                   "RFC 3339 (2026-03-01T09:30:00Z)")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            auto parsed = ParseAuditTime(value);
            return parsed.ok() ? std::string() : std::string(parsed.status().message());
          },
          "TIME"));
  exporter->add_option("--format", options.format, "jsonl or csv")
      ->required()
      ->check(CLI::IsMember({"jsonl", "csv"}));
  exporter->add_option("--out", options.out,
                       "Write to this file (mode 0600) instead of standard output");
  exporter->callback(result.Bind([&connection] { return RunExport(connection, options); }));
}

}  // namespace tessera::cli
