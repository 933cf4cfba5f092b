// `tessera audit ...`: check and export the coordinator's audit log.
//
//   tessera audit verify [--json]
//       downloads the whole log and its signed heads (Admin.ReadAudit) and
//       verifies them here, with the federation CA the tool is given: the
//       board does not take the coordinator's word (coordinator/
//       audit_chain.h VerifyAuditLog). Exit 0 when the log verifies, 1 when
//       it does not (naming the first altered, deleted or re-ordered entry).
//   tessera audit export [--since TIME] --format jsonl|csv [--out FILE]
//       the entries at or after TIME, one JSON object per line, or CSV
//       (RFC 4180) with a header row.
//
// The commands are registered by AddAuditCommands (commands.h); apart from
// FetchAndVerifyAuditLog the functions here are pure, so tests check them
// without a coordinator.
//
// Thread-safety: stateless functions.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "coordinator/audit_chain.h"
#include "nlohmann/json.hpp"
#include "tessera.pb.h"

namespace tessera::cli {

class AdminClient;

// A time for --since: RFC 3339 ("2026-03-01T09:30:00Z", any offset,
// fractions of a second allowed) or a date ("2026-03-01", midnight UTC).
// INVALID_ARGUMENT naming both forms otherwise.
absl::StatusOr<absl::Time> ParseAuditTime(absl::string_view text);

// The wire forms as the verifier's values (no checks: the verifier does
// them).
coordinator::AuditEntry AuditEntryFromProto(const tessera::v1::AuditEntryProto& entry);
coordinator::AuditHeadRecord AuditHeadFromProto(const tessera::v1::AuditHeadSignature& head);

enum class AuditExportFormat { kJsonl, kCsv };

// "jsonl" or "csv"; INVALID_ARGUMENT naming both otherwise.
absl::StatusOr<AuditExportFormat> ParseAuditExportFormat(absl::string_view name);

// The text that opens an export: the CSV header row (CRLF-terminated), or
// nothing for JSON lines.
std::string AuditExportHeader(AuditExportFormat format);

// One entry of an export, newline-terminated (CRLF for CSV, as RFC 4180
// asks). Fields: sequence, time (RFC 3339 UTC with milliseconds, the
// precision the hash covers), actor, actor_role, action, subject,
// details (the entry's JSON text exactly as hashed), previous_hash, hash.
std::string AuditExportLine(const tessera::v1::AuditEntryProto& entry, AuditExportFormat format);

// `value` as one RFC 4180 field: quoted, with quotes doubled, when it holds
// a comma, a quote, CR or LF; as it is otherwise.
std::string CsvField(absl::string_view value);

// `tessera audit verify`: "verified" with the entry count, head hash, the
// latest signed head (sequence, time, coordinator) and how many entries
// come after it; or "does NOT verify" with the first problem.
std::string FormatAuditReport(const coordinator::AuditLogReport& report);
// `tessera audit verify --json`: {"verified", "entries", "head_hash",
// "signed_heads", "latest_signed_head" (or null), "unsigned_entries",
// "problem" ({"sequence", "kind", "description"} or null)}.
nlohmann::json AuditReportJson(const coordinator::AuditLogReport& report);

// The board's report: one plain sentence saying what the check found (the
// entries verified and the latest signed head, or the first problem).
std::string AuditReportSentence(const coordinator::AuditLogReport& report);

// Downloads the coordinator's whole audit log and its signed heads
// (Admin.ReadAudit, page by page) and verifies them here with the federation
// CA `ca_pem` (coordinator::VerifyAuditLog). A log that does not verify is
// a report with a problem, not an error; errors are the call's (the
// coordinator unreachable, the caller's role refused, DATA_LOSS for a
// coordinator that promises more pages and sends none) or the CA's
// (INVALID_ARGUMENT when it cannot be parsed).
absl::StatusOr<coordinator::AuditLogReport> FetchAndVerifyAuditLog(AdminClient& client,
                                                                   const std::string& ca_pem);

// OK when the report has no problem; DATA_LOSS naming the first bad entry
// and its kind otherwise (the tool exits 1).
absl::Status AuditReportOutcome(const coordinator::AuditLogReport& report);

}  // namespace tessera::cli
