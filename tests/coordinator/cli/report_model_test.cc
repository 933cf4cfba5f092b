// The board's report from hand-made inputs: one job of two training rounds
// at three trusts. Expected ε values are agent::EpsilonOf over the same
// events composed by hand (the accountant is tested against published
// values in tests/privacy); receipt verdicts are those of
// governance::ReceiptVerifier for a receipt signed with the test PKI, one
// with a flipped signature byte, one filed under another job, and one never
// sent.
#include <map>
#include <sstream>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/ledger/privacy_ledger_store.h"
#include "agent/round/local_policy.h"
#include "coordinator/cli/report_html.h"
#include "coordinator/cli/report_model.h"
#include "crypto/signature.h"
#include "gmock/gmock.h"
#include "governance/receipt.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/crypto/test_pki.h"
#include "tests/testing/status_matchers.h"

namespace tessera::cli {
namespace {

using crypto::testing::TestIdentity;
using crypto::testing::TestKeyType;
using crypto::testing::TestNow;
using crypto::testing::TestPki;
using tessera::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kJob[] = "job-0123456789ab";
constexpr char kOtherJob[] = "job-ba9876543210";
constexpr double kZ = 1.1, kQ = 0.05;
constexpr int64_t kSteps = 40;

std::string LedgerJson() {
  return absl::StrCat(R"({"mode":"record","events":[{"type":"poisson_gaussian","noise_multiplier":)",
                      kZ, R"(,"sampling_rate":)", kQ, R"(,"count":)", kSteps,
                      R"(}],"estimated_from_record_count_bucket":100})");
}

tessera::v1::CentralLedgerEntry Ledger(const std::string& site, uint32_t round, int64_t at_ms) {
  tessera::v1::CentralLedgerEntry entry;
  entry.set_job_id(kJob);
  entry.set_round(round);
  entry.set_site_id(site);
  entry.set_dataset("cohort");
  entry.set_event_json(LedgerJson());
  entry.set_recorded_unix_ms(at_ms);
  return entry;
}

class ReportModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(pki_, TestPki::Create("Tessera test CA", TestKeyType::kEcdsaP256));
    ASSERT_OK_AND_ASSIGN(gosh_, pki_->Issue("gosh", "site", TestKeyType::kEcdsaP256));
    ASSERT_OK_AND_ASSIGN(rfh_, pki_->Issue("rfh", "site", TestKeyType::kEcdsaP256));
    const int64_t t0 = absl::ToUnixMillis(TestNow());

    inputs_.ca_certificate_pem = pki_->ca().certificate_pem;
    inputs_.generated_at = TestNow() + absl::Hours(1);

    tessera::v1::BudgetStatus gosh_budget;
    gosh_budget.set_budget_set(true);
    gosh_budget.mutable_budget()->set_site_id("gosh");
    gosh_budget.mutable_budget()->set_dataset("cohort");
    gosh_budget.mutable_budget()->set_epsilon(5);
    gosh_budget.mutable_budget()->set_delta(1e-6);
    inputs_.budgets.push_back(gosh_budget);

    tessera::v1::GetJobResponse job;
    job.mutable_summary()->set_job_id(kJob);
    job.mutable_summary()->set_name("readmissions");
    job.mutable_summary()->set_privacy_mode("record");
    job.mutable_summary()->set_state("completed");
    job.set_spec_json(R"({"dataset":"cohort","privacy":{"clip_norm":1.5,"mode":"record"}})");
    job.set_spec_sha256(std::string(64, 'c'));
    job.set_decided_by("board-chair");
    job.set_decided_unix_ms(t0 - 1000);
    job.set_approved(true);
    auto add_round = [&](uint32_t round, int64_t finished,
                         const std::vector<std::pair<std::string, std::string>>& participants) {
      tessera::v1::RoundSummary& r = *job.add_rounds();
      r.set_round(round);
      r.set_attempt(1);
      r.set_outcome("completed");
      r.set_finished_unix_ms(finished);
      for (const auto& [site, status] : participants) {
        tessera::v1::ParticipantStatus& p = *r.add_participants();
        p.set_site_id(site);
        p.set_status(status);
      }
    };
    add_round(0, t0, {{"gosh", "included"}, {"rfh", "included"}});
    add_round(1, t0 + 10'000, {{"gosh", "included"}, {"rfh", "included"}});
    add_round(2, t0 + 20'000, {{"gosh", "included"}, {"rfh", "included"}, {"uclh", "dropped"}});
    inputs_.jobs.push_back(job);

    // Out of time order on purpose: the report composes in time order.
    inputs_.ledger = {Ledger("gosh", 2, t0 + 20'000), Ledger("gosh", 1, t0 + 10'000),
                      Ledger("rfh", 1, t0 + 10'000), Ledger("rfh", 2, t0 + 20'000)};

    // gosh round 1: valid. gosh round 2: signature altered. rfh round 1:
    // a valid receipt for another job, filed under this one. rfh round 2:
    // none.
    inputs_.receipts.push_back(Stored(kJob, Signed(gosh_, "gosh", kJob, 1), t0 + 9'000));
    tessera::v1::StoredReceipt forged = Stored(kJob, Signed(gosh_, "gosh", kJob, 2), t0 + 19'000);
    std::string& signature = *forged.mutable_receipt()->mutable_signature();
    signature[signature.size() / 2] = static_cast<char>(signature[signature.size() / 2] ^ 0x01);
    inputs_.receipts.push_back(forged);
    inputs_.receipts.push_back(Stored(kJob, Signed(rfh_, "rfh", kOtherJob, 1), t0 + 9'500));
  }

  tessera::v1::SignedReceipt Signed(const TestIdentity& site, const std::string& site_id,
                                    const std::string& job, uint32_t round) {
    tessera::v1::RoundReceipt receipt;
    receipt.set_job_id(job);
    receipt.set_round(round);
    receipt.set_attempt(1);
    receipt.set_site_id(site_id);
    receipt.set_spec_sha256(std::string(64, 'c'));
    receipt.set_model_sha256(std::string(64, 'd'));
    receipt.set_dataset("cohort");
    receipt.set_privacy_mode("record");
    receipt.set_noise_multiplier(kZ);
    receipt.set_clip_norm(1.5);
    receipt.set_sampling_rate(kQ);
    receipt.set_steps(kSteps);
    receipt.set_events_json("[]");
    receipt.set_epsilon_after(0.25 * round);
    receipt.set_delta(1e-5);
    receipt.set_signed_unix_ms(absl::ToUnixMillis(TestNow()));
    auto signer = crypto::PrivateKeySigner::FromPem(site.private_key_pem);
    EXPECT_OK(signer.status());
    auto signed_receipt = governance::SignReceipt(receipt, **signer, site.certificate_pem);
    EXPECT_OK(signed_receipt.status());
    return *signed_receipt;
  }

  // Filed as the receipt names itself, except under `filed_job`.
  tessera::v1::StoredReceipt Stored(const std::string& filed_job,
                                    const tessera::v1::SignedReceipt& signed_receipt,
                                    int64_t received_ms) {
    tessera::v1::RoundReceipt receipt;
    EXPECT_TRUE(receipt.ParseFromString(signed_receipt.receipt()));
    tessera::v1::StoredReceipt stored;
    stored.set_job_id(filed_job);
    stored.set_round(receipt.round());
    stored.set_attempt(receipt.attempt());
    stored.set_site_id(receipt.site_id());
    *stored.mutable_receipt() = signed_receipt;
    stored.set_received_unix_ms(received_ms);
    return stored;
  }

  const RoundRow* Row(const Report& report, int64_t round, const std::string& site) {
    for (const RoundRow& row : report.rows) {
      if (row.round == round && row.site_id == site) return &row;
    }
    ADD_FAILURE() << "no row for round " << round << " site " << site;
    return nullptr;
  }

  std::unique_ptr<TestPki> pki_;
  TestIdentity gosh_, rfh_;
  ReportInputs inputs_;
};

// The accountant over `rounds` rounds of the test's event, composed.
double Expected(int rounds, double delta) {
  privacy::PrivacyLedger ledger;
  for (int i = 0; i < rounds; ++i) {
    EXPECT_OK(ledger.Add(privacy::PoissonGaussianEvent{kZ, kQ}, kSteps));
  }
  auto epsilon = agent::EpsilonOf(ledger, delta);
  EXPECT_OK(epsilon.status());
  return *epsilon;
}

TEST_F(ReportModelTest, CumulativeEpsilonIsTheAccountantOverComposedEventsAtTheTrustsDelta) {
  ASSERT_OK_AND_ASSIGN(Report report, BuildReport(inputs_));
  ASSERT_EQ(report.trusts.size(), 2u);
  const TrustReport& gosh = report.trusts[0];
  const TrustReport& rfh = report.trusts[1];
  EXPECT_EQ(gosh.site_id, "gosh");
  EXPECT_TRUE(gosh.budget_set);
  EXPECT_EQ(gosh.delta, 1e-6);  // the budget's δ
  EXPECT_EQ(rfh.delta, kReportDefaultDelta);
  ASSERT_EQ(gosh.points.size(), 2u);
  EXPECT_EQ(gosh.points[0].round, 1);  // time order, not input order
  EXPECT_DOUBLE_EQ(gosh.points[0].epsilon_after, Expected(1, 1e-6));
  EXPECT_DOUBLE_EQ(gosh.points[1].epsilon_after, Expected(2, 1e-6));
  EXPECT_DOUBLE_EQ(gosh.spent, Expected(2, 1e-6));
  EXPECT_DOUBLE_EQ(rfh.points[1].epsilon_after, Expected(2, 1e-5));
  // Composition is not addition: two rounds cost less than twice one.
  EXPECT_LT(gosh.points[1].epsilon_after, 2 * gosh.points[0].epsilon_after);

  const RoundRow* row = Row(report, 2, "gosh");
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->mechanism, "poisson-gaussian");
  EXPECT_EQ(row->noise_multiplier, kZ);
  EXPECT_EQ(row->sampling_rate, kQ);
  EXPECT_EQ(row->steps, kSteps);
  EXPECT_EQ(row->clip_norm, 1.5);  // the spec's
  ASSERT_TRUE(row->epsilon_after.has_value());
  EXPECT_DOUBLE_EQ(*row->epsilon_after, Expected(2, 1e-6));
  ASSERT_TRUE(row->budget.has_value());
  EXPECT_EQ(*row->budget, 5);
}

TEST_F(ReportModelTest, ForgedMisfiledAndMissingReceiptsAreFlaggedNotDropped) {
  ASSERT_OK_AND_ASSIGN(Report report, BuildReport(inputs_));
  EXPECT_EQ(Row(report, 1, "gosh")->receipt_status, "valid");
  EXPECT_EQ(Row(report, 2, "gosh")->receipt_status, "forged");
  EXPECT_EQ(Row(report, 1, "rfh")->receipt_status, "misfiled");
  EXPECT_THAT(Row(report, 1, "rfh")->receipt_detail, HasSubstr(kOtherJob));
  EXPECT_EQ(Row(report, 2, "rfh")->receipt_status, "missing");
  // A dropped participant and the statistics round need no receipt.
  EXPECT_EQ(Row(report, 2, "uclh")->receipt_status, "not required");
  for (const RoundRow& r : report.rows) EXPECT_NE(r.round, 0) << "statistics round listed";
  EXPECT_EQ(report.receipts_valid, 1);
  EXPECT_EQ(report.receipts_failed, 2);
  EXPECT_EQ(report.receipts_missing, 1);
  ASSERT_EQ(report.receipts.size(), 3u);
  // Only a valid receipt's numbers are read.
  EXPECT_TRUE(report.receipts[0].site_epsilon_after.has_value());
  EXPECT_FALSE(report.receipts[1].site_epsilon_after.has_value());
}

TEST_F(ReportModelTest, JsonAndCsvCarryTheSameFigures) {
  ASSERT_OK_AND_ASSIGN(Report report, BuildReport(inputs_));
  const nlohmann::json json = nlohmann::json::parse(ReportToJson(report));
  EXPECT_EQ(json["trusts"][0]["spent"].get<double>(), report.trusts[0].spent);
  EXPECT_EQ(json["trusts"][1]["budget_epsilon"], nullptr);
  EXPECT_EQ(json["summary"]["receipts_missing"], 1);
  EXPECT_EQ(json["rows"].size(), report.rows.size());
  EXPECT_EQ(json["audit"]["status"], "not checked");
  EXPECT_EQ(json["approvals"][0]["decided_by"], "board-chair");

  const std::string csv = ReportToCsv(report);
  std::vector<std::string> lines;
  std::stringstream stream(csv);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), report.rows.size() + 1);
  EXPECT_THAT(lines[0], HasSubstr("time,job,round,attempt,trust,status,mechanism"));
  // Each row's ε after, to 17 digits, parses back to the model's value.
  for (size_t i = 0; i < report.rows.size(); ++i) {
    if (report.rows[i].site_id != "gosh" || report.rows[i].round != 2) continue;
    EXPECT_THAT(lines[i + 1], HasSubstr(",forged"));
    EXPECT_THAT(lines[i + 1], HasSubstr(absl::StrFormat("%.17g", Expected(2, 1e-6))));
  }
}

// Every data-field on the page names a value of the JSON and carries it
// exactly; every number of the JSON's trusts and rows is on the page.
TEST_F(ReportModelTest, HtmlFieldsEqualTheJsonAndThePageIsSelfContained) {
  ASSERT_OK_AND_ASSIGN(Report report, BuildReport(inputs_));
  const nlohmann::json json = nlohmann::json::parse(ReportToJson(report));
  const std::string html = ReportToHtml(report);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_THAT(html, HasSubstr("@media print"));
  EXPECT_THAT(html, HasSubstr("What these numbers mean for a patient"));
  EXPECT_THAT(html, HasSubstr("<polyline class=\"spend\""));
  EXPECT_THAT(html, HasSubstr("<line class=\"budget\""));  // gosh has a budget

  const std::regex field(R"re(data-field="([^"]*)" data-value="([^"]*)")re");
  std::map<std::string, std::string> seen;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), field);
       it != std::sregex_iterator(); ++it) {
    const std::string pointer = (*it)[1], value = (*it)[2];
    seen[pointer] = value;
    const nlohmann::json& expected = json.at(nlohmann::json::json_pointer(pointer));
    if (expected.is_number()) {
      EXPECT_EQ(std::stod(value), expected.get<double>()) << pointer;
    } else {
      EXPECT_EQ(value, expected.get<std::string>()) << pointer;
    }
  }
  EXPECT_EQ(seen.at("/trusts/0/spent"), absl::StrFormat("%.17g", report.trusts[0].spent));
  for (size_t i = 0; i < report.rows.size(); ++i) {
    EXPECT_TRUE(seen.count(absl::StrCat("/rows/", i, "/receipt_status"))) << i;
    if (report.rows[i].epsilon_after.has_value()) {
      EXPECT_TRUE(seen.count(absl::StrCat("/rows/", i, "/epsilon_after"))) << i;
    }
  }
}

TEST_F(ReportModelTest, BadInputIsAClearError) {
  ReportInputs bad_ca = inputs_;
  bad_ca.ca_certificate_pem = "not a certificate";
  EXPECT_THAT(BuildReport(bad_ca).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--ca")));
  ReportInputs bad_ledger = inputs_;
  bad_ledger.ledger[0].set_event_json("{not json");
  EXPECT_THAT(BuildReport(bad_ledger).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("site `gosh` for job `job-0123456789ab` round 2")));
}

TEST_F(ReportModelTest, AnEntryWithoutAnEstimateMarksTheSpendIncomplete) {
  inputs_.ledger[1].set_event_json(R"({"mode":"record","events":null})");  // gosh round 1
  ASSERT_OK_AND_ASSIGN(Report report, BuildReport(inputs_));
  EXPECT_FALSE(report.trusts[0].spend_complete);
  EXPECT_FALSE(report.trusts[0].points[0].estimated);
  EXPECT_DOUBLE_EQ(report.trusts[0].spent, Expected(1, 1e-6));
  EXPECT_EQ(Row(report, 1, "gosh")->mechanism, "not estimated");
}

}  // namespace
}  // namespace tessera::cli
