// The audit trail against a real coordinator: jobs submitted, rejected,
// approved and stopped (and the people's logins) are in the log, the head
// is signed when the coordinator stops, `tessera audit verify` passes on
// the untouched database and names the right entry after the SQLite file
// was edited directly (an entry's details altered, an entry deleted, two
// entries swapped), and `tessera audit export` writes every entry as JSON
// lines and CSV.
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "coordinator/audit_chain.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_jobs.h"
#include "tests/e2e/local_federation.h"
#include "tests/testing/status_matchers.h"

namespace tessera::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The harness's default cohort (age, outcome): a small built-in MLP. The
// job never runs: it is rejected, or approved and stopped.
const std::string kJob = DefaultCohortJob("audit-e2e", kMlpModel, kNoPrivacy);

// The JSON a command printed on stdout, before any "tessera: error" line
// on stderr (RunResult holds both).
nlohmann::json StdoutJsonOf(const RunResult& result) {
  std::string text = result.output;
  if (size_t error = text.find("tessera: error"); error != std::string::npos) text.resize(error);
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << result.output;
  return parsed;
}

// Runs `sql` on the coordinator's database file with the plain SQLite C
// API, as someone with access to the file (not to the coordinator) would.
void EditDatabase(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

// The database as the coordinator left it, put back (without WAL files).
void Restore(const std::string& pristine, const std::string& db) {
  std::filesystem::copy_file(pristine, db, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(db + "-wal");
  std::filesystem::remove(db + "-shm");
}

std::vector<std::string> Lines(const std::string& text, absl::string_view separator) {
  std::vector<std::string> lines = absl::StrSplit(text, separator);
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

TEST(AuditE2eTest, VerifyCatchesEditsToTheDatabaseAndExportWritesEveryEntry) {
  ASSERT_OK_AND_ASSIGN(auto federation, LocalFederation::Start({"rfh"}));
  const std::string dir = federation->dir();
  const std::string db = dir + "/coordinator-state/coordinator.db";
  std::ofstream(dir + "/job.toml") << kJob;
  auto cli = [&](const std::vector<std::string>& args, const std::string& role) {
    return RunCli(*federation, args, role, absl::Seconds(60));
  };

  // Audited things: two submissions, a rejection, an approval, a stop.
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    RunResult submitted = cli({"job", "submit", dir + "/job.toml", "--json"}, "ml-lead");
    ASSERT_EQ(submitted.exit_code, 0) << submitted.output;
    ids.push_back(StdoutJsonOf(submitted)["job_id"]);
  }
  RunResult rejected =
      cli({"job", "reject", ids[0], "--reason", "needs privacy, mode \"record\""}, "governance");
  ASSERT_EQ(rejected.exit_code, 0) << rejected.output;
  RunResult approved =
      cli({"job", "approve", ids[1], "--allow-non-private", "--yes"}, "governance");
  ASSERT_EQ(approved.exit_code, 0) << approved.output;
  RunResult stopped = cli({"job", "stop", ids[1], "--reason", "audit test"}, "ml-lead");
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output;

  // ML leads may not read the log.
  RunResult refused = cli({"audit", "verify"}, "ml-lead");
  EXPECT_EQ(refused.exit_code, 4) << refused.output;

  // Stopping signs the final head; keep the file as it was left.
  ASSERT_OK_AND_ASSIGN(RunResult first_stop, federation->StopCoordinator());
  ASSERT_EQ(first_stop.exit_code, 0) << first_stop.output;
  const std::string pristine = dir + "/pristine.db";
  std::filesystem::copy_file(db, pristine);
  ASSERT_OK(federation->StartCoordinator());

  // Untouched: verifies, and the signed head covers everything before the
  // restart.
  RunResult verified = cli({"audit", "verify", "--json"}, "auditor");
  ASSERT_EQ(verified.exit_code, 0) << verified.output;
  const nlohmann::json report = StdoutJsonOf(verified);
  EXPECT_EQ(report["verified"], true);
  EXPECT_TRUE(report["problem"].is_null());
  ASSERT_FALSE(report["latest_signed_head"].is_null()) << verified.output;
  EXPECT_EQ(report["latest_signed_head"]["coordinator"], "coordinator");
  RunResult verified_text = cli({"audit", "verify"}, "governance");
  EXPECT_EQ(verified_text.exit_code, 0) << verified_text.output;
  EXPECT_THAT(verified_text.output, HasSubstr("audit log verified"));

  // Export as JSON lines: every entry, in order, each hashing as exported.
  const std::string jsonl = dir + "/audit.jsonl";
  RunResult exported = cli({"audit", "export", "--format", "jsonl", "--out", jsonl}, "auditor");
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  ASSERT_OK_AND_ASSIGN(std::string jsonl_text, ReadFileToString(jsonl, "export"));
  const std::vector<std::string> lines = Lines(jsonl_text, "\n");
  // What was verified, and since then the governance login.
  ASSERT_EQ(static_cast<int64_t>(lines.size()), report["entries"].get<int64_t>() + 1) << jsonl_text;
  std::map<std::string, std::vector<int64_t>> by_action;  // action -> sequences
  std::string previous = coordinator::kAuditGenesisHash;
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json line = nlohmann::json::parse(lines[i]);
    coordinator::AuditEntry entry;
    entry.sequence = line["sequence"];
    absl::Time time;
    std::string error;
    ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, line["time"].get<std::string>(), &time, &error))
        << error;
    entry.event = {time,           line["actor"],   line["actor_role"],
                   line["action"], line["subject"], line["details"]};
    entry.previous_hash = line["previous_hash"];
    entry.hash = line["hash"];
    EXPECT_EQ(entry.sequence, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(entry.previous_hash, previous);
    EXPECT_EQ(coordinator::AuditHash(entry.previous_hash, entry.sequence, entry.event), entry.hash)
        << lines[i];
    previous = entry.hash;
    by_action[entry.event.action].push_back(entry.sequence);
    if (entry.event.action == "job.rejected") {
      EXPECT_EQ(entry.event.actor, "demo-governance");
      EXPECT_EQ(entry.event.subject, ids[0]);
      EXPECT_THAT(entry.event.details, HasSubstr("needs privacy"));
    }
    if (entry.event.action == "login") {
      EXPECT_EQ(entry.event.subject, entry.event.actor);
      EXPECT_THAT(entry.event.details, HasSubstr("first_call"));
    }
  }
  ASSERT_EQ(by_action["job.submitted"].size(), 2u) << jsonl_text;
  ASSERT_EQ(by_action["job.rejected"].size(), 1u) << jsonl_text;
  ASSERT_EQ(by_action["job.approved"].size(), 1u) << jsonl_text;
  ASSERT_EQ(by_action["job.stopped"].size(), 1u) << jsonl_text;
  // A login per person and start: ml-lead and governance before the
  // restart; auditor (and governance) after it.
  EXPECT_GE(by_action["login"].size(), 4u) << jsonl_text;
  EXPECT_GE(report["latest_signed_head"]["sequence"].get<int64_t>(), by_action["job.stopped"][0]);

  // Export as CSV on standard output: a header and one row per entry, the
  // rejection's details quoted as RFC 4180 asks.
  RunResult csv = cli({"audit", "export", "--format", "csv"}, "operator");
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  const std::vector<std::string> rows = Lines(csv.output, "\r\n");
  ASSERT_GE(rows.size(), lines.size() + 1) << csv.output;  // + the operator's login
  EXPECT_EQ(rows[0], "sequence,time,actor,actor_role,action,subject,details,previous_hash,hash");
  const std::string rejection_row = rows[static_cast<size_t>(by_action["job.rejected"][0])];
  // The details {"allow_non_private":false,"reason":"needs privacy, mode \"record\"",...}
  // as one quoted field, every quote doubled.
  EXPECT_THAT(rejection_row, HasSubstr(",job.rejected," + ids[0] + ",\"{\"\""));
  EXPECT_THAT(rejection_row,
              HasSubstr("\"\"reason\"\":\"\"needs privacy, mode \\\"\"record\\\"\"\"\""));

  // --since: nothing from tomorrow on; bad values are usage errors.
  const std::string tomorrow =
      absl::FormatTime("%Y-%m-%d", absl::Now() + absl::Hours(24), absl::UTCTimeZone());
  RunResult none = cli({"audit", "export", "--format", "jsonl", "--since", tomorrow}, "auditor");
  EXPECT_EQ(none.exit_code, 0) << none.output;
  EXPECT_THAT(none.output, Not(HasSubstr("\"sequence\"")));
  RunResult bad_since =
      cli({"audit", "export", "--format", "csv", "--since", "last week"}, "auditor");
  EXPECT_EQ(bad_since.exit_code, 2) << bad_since.output;
  EXPECT_THAT(bad_since.output, HasSubstr("RFC 3339"));
  RunResult bad_format = cli({"audit", "export", "--format", "xml"}, "auditor");
  EXPECT_EQ(bad_format.exit_code, 2) << bad_format.output;
  ASSERT_OK(federation->StopCoordinator().status());

  // Each edit on a fresh copy of the file the coordinator left.
  struct Tamper {
    std::string what;
    std::string sql;
    int64_t sequence;
    std::string kind;
  };
  const int64_t rejection = by_action["job.rejected"][0];
  const int64_t approval = by_action["job.approved"][0];
  const int64_t second_submission = by_action["job.submitted"][1];
  const int64_t stop = by_action["job.stopped"][0];
  const std::vector<Tamper> tampers = {
      {"details altered",
       absl::StrCat("UPDATE audit_log SET details = '{\"reason\":\"approved after all\"}' "
                    "WHERE sequence = ",
                    rejection),
       rejection, "altered"},
      {"entry deleted", absl::StrCat("DELETE FROM audit_log WHERE sequence = ", approval), approval,
       "deleted"},
      {"entries swapped",
       absl::StrCat("UPDATE audit_log SET sequence = -1 WHERE sequence = ", second_submission,
                    "; UPDATE audit_log SET sequence = ", second_submission, " WHERE sequence = ",
                    stop, "; UPDATE audit_log SET sequence = ", stop, " WHERE sequence = -1"),
       second_submission, "re-ordered"},
  };
  for (const Tamper& tamper : tampers) {
    SCOPED_TRACE(tamper.what);
    Restore(pristine, db);
    EditDatabase(db, tamper.sql);
    ASSERT_OK(federation->StartCoordinator());
    RunResult caught = cli({"audit", "verify", "--json"}, "auditor");
    EXPECT_EQ(caught.exit_code, 1) << caught.output;
    const nlohmann::json problem = StdoutJsonOf(caught)["problem"];
    ASSERT_FALSE(problem.is_null()) << caught.output;
    EXPECT_EQ(problem["sequence"], tamper.sequence) << caught.output;
    EXPECT_EQ(problem["kind"], tamper.kind) << caught.output;
    EXPECT_THAT(caught.output,
                HasSubstr(absl::StrCat("does not verify at entry ", tamper.sequence)));
    RunResult caught_text = cli({"audit", "verify"}, "governance");
    EXPECT_EQ(caught_text.exit_code, 1) << caught_text.output;
    EXPECT_THAT(caught_text.output, HasSubstr(absl::StrCat("first bad entry  ", tamper.sequence)));
    // The board's report runs the same check and says so.
    const std::string report_file = federation->dir() + "/report.json";
    RunResult reported = cli({"budget", "report", "--format", "json", "--out", report_file},
                             "governance");
    EXPECT_EQ(reported.exit_code, 0) << reported.output;
    EXPECT_THAT(reported.output, HasSubstr("audit chain failed"));
    ASSERT_OK_AND_ASSIGN(std::string report_text, ReadFileToString(report_file, "report"));
    const nlohmann::json audit = nlohmann::json::parse(report_text, nullptr, false)["audit"];
    EXPECT_EQ(audit["status"], "failed") << audit.dump();
    EXPECT_THAT(audit["detail"].get<std::string>(),
                HasSubstr(absl::StrCat("first bad entry ", tamper.sequence, ", ", tamper.kind)));
    // The coordinator itself refused to sign the edited chain.
    ASSERT_OK_AND_ASSIGN(RunResult stopped_again, federation->StopCoordinator());
    EXPECT_THAT(stopped_again.output, HasSubstr("audit head not signed"));
  }
}

}  // namespace
}  // namespace tessera::testing
