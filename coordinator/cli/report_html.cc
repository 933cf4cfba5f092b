#include "coordinator/cli/report_html.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace tessera::cli {
namespace {

std::string Escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Exact(double value) { return absl::StrFormat("%.17g", value); }

// A number in an element the tests can find: exact in data-value, rounded
// in the text.
std::string Num(const std::string& pointer, double value) {
  return absl::StrCat("<span class=\"num\" data-field=\"", Escape(pointer), "\" data-value=\"",
                      Exact(value), "\">", absl::StrFormat("%.4g", value),
                      "</span>");
}

std::string Int(const std::string& pointer, int64_t value) {
  return absl::StrCat("<span class=\"num\" data-field=\"", Escape(pointer), "\" data-value=\"",
                      value, "\">", value, "</span>");
}

std::string Text(const std::string& pointer, const std::string& value,
                 const std::string& css_class = "") {
  return absl::StrCat("<span", css_class.empty() ? "" : absl::StrCat(" class=\"", css_class, "\""),
                      " data-field=\"", Escape(pointer), "\" data-value=\"", Escape(value), "\">",
                      Escape(value), "</span>");
}

std::string OptionalNum(const std::string& pointer, const std::optional<double>& value) {
  return value.has_value() ? Num(pointer, *value) : "&ndash;";
}

std::string Time(int64_t unix_ms) {
  if (unix_ms == 0) return "&ndash;";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

std::string ReceiptClass(const std::string& status) {
  if (status == "valid") return "ok";
  if (status == "not required") return "";
  return "bad";
}

// ε after each entry against the budget, as a line chart. The x axis is
// the entry's index in time order (rounds are what the board counts; the
// table gives the times), the y axis runs from 0 to the larger of the
// budget and the highest point, with 10% headroom.
std::string Chart(const TrustReport& trust, size_t index) {
  constexpr double kWidth = 640, kHeight = 240, kLeft = 56, kRight = 16, kTop = 16, kBottom = 36;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  double top = trust.budget_set ? trust.budget_epsilon : 0;
  for (const SpendPoint& point : trust.points) top = std::max(top, point.epsilon_after);
  top = top > 0 ? top * 1.1 : 1;
  const size_t n = trust.points.size();
  auto x_of = [&](size_t i) {
    return kLeft + (n <= 1 ? plot_w / 2 : plot_w * static_cast<double>(i) / static_cast<double>(n - 1));
  };
  auto y_of = [&](double eps) { return kTop + plot_h * (1 - eps / top); };
  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 %g %g\" width=\"%g\" height=\"%g\" "
      "xmlns=\"http://www.w3.org/2000/svg\" data-chart=\"%d\">"
      "<title>Epsilon spent by %s (%s) after each round, against its budget</title>"
      "<rect x=\"0\" y=\"0\" width=\"%g\" height=\"%g\" fill=\"#ffffff\"/>"
      "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#333\"/>"
      "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#333\"/>",
      kWidth, kHeight, kWidth, kHeight, index, Escape(trust.site_id), Escape(trust.dataset),
      kWidth, kHeight, kLeft, kTop, kLeft, kTop + plot_h, kLeft, kTop + plot_h, kLeft + plot_w,
      kTop + plot_h);
  for (int tick = 0; tick <= 4; ++tick) {
    const double eps = top * tick / 4;
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#ddd\"/>"
                          "<text x=\"%g\" y=\"%g\" font-size=\"11\" text-anchor=\"end\">%.3g</text>",
                          kLeft, y_of(eps), kLeft + plot_w, y_of(eps), kLeft - 6, y_of(eps) + 4,
                          eps);
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%g\" y=\"%g\" font-size=\"11\" text-anchor=\"middle\">rounds "
                        "in time order</text>"
                        "<text x=\"14\" y=\"%g\" font-size=\"11\" text-anchor=\"middle\" "
                        "transform=\"rotate(-90 14 %g)\">epsilon</text>",
                        kLeft + plot_w / 2, kHeight - 8, kTop + plot_h / 2, kTop + plot_h / 2);
  if (trust.budget_set) {
    absl::StrAppendFormat(&svg,
                          "<line class=\"budget\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" "
                          "stroke=\"#c0392b\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>"
                          "<text x=\"%g\" y=\"%g\" font-size=\"11\" fill=\"#c0392b\" "
                          "text-anchor=\"end\">budget %.3g</text>",
                          kLeft, y_of(trust.budget_epsilon), kLeft + plot_w,
                          y_of(trust.budget_epsilon), kLeft + plot_w, y_of(trust.budget_epsilon) - 4,
                          trust.budget_epsilon);
  }
  if (n > 0) {
    std::string points;
    for (size_t i = 0; i < n; ++i) {
      absl::StrAppendFormat(&points, "%s%.2f,%.2f", i == 0 ? "" : " ", x_of(i),
                            y_of(trust.points[i].epsilon_after));
    }
    absl::StrAppend(&svg, "<polyline class=\"spend\" fill=\"none\" stroke=\"#1f5fa8\" "
                          "stroke-width=\"2.5\" points=\"", points, "\"/>");
    for (size_t i = 0; i < n; ++i) {
      absl::StrAppendFormat(&svg,
                            "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\"><title>%s round "
                            "%d: epsilon %.4g</title></circle>",
                            x_of(i), y_of(trust.points[i].epsilon_after),
                            trust.points[i].estimated ? "#1f5fa8" : "#e67e22",
                            Escape(trust.points[i].job_id), trust.points[i].round,
                            trust.points[i].epsilon_after);
    }
  } else {
    absl::StrAppendFormat(&svg,
                          "<text x=\"%g\" y=\"%g\" font-size=\"13\" text-anchor=\"middle\">nothing "
                          "spent yet</text>",
                          kLeft + plot_w / 2, kTop + plot_h / 2);
  }
  svg += "</svg>";
  return svg;
}

constexpr char kStyle[] = R"(
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #222; margin: 2em auto; max-width: 1100px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #1f5fa8; padding-bottom: 0.2em; margin-top: 1.6em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; width: 100%; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #a61b1b; font-weight: bold; }
.ok { color: #1b6e2a; }
.warn { background: #fff3cd; border: 1px solid #e0c36c; padding: 0.6em 0.9em; }
.trust { page-break-inside: avoid; break-inside: avoid; margin-bottom: 1.2em; }
.chart { max-width: 100%; height: auto; border: 1px solid #ddd; }
.meta { color: #555; font-size: 0.9em; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { page-break-after: avoid; break-after: avoid; }
  tr { page-break-inside: avoid; break-inside: avoid; }
  thead { display: table-header-group; }
  .chart { border: none; }
}
)";

}  // namespace

std::string ReportToHtml(const Report& report) {
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>Tessera privacy report",
      report.job_filter.empty() ? "" : absl::StrCat(" — ", Escape(report.job_filter)),
      "</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n");
  absl::StrAppend(&html, "<h1>Privacy report for the governance board</h1>\n<p class=\"meta\">",
                  "Generated ", Time(report.generated_unix_ms), " (",
                  Int("/generated_unix_ms", report.generated_unix_ms), " ms). Scope: ",
                  report.job_filter.empty() ? std::string("every job")
                                            : absl::StrCat("job ", Text("/job_filter", report.job_filter)),
                  ".</p>\n");

  // Summary and anything that needs the board's attention first.
  absl::StrAppend(&html, "<h2>Summary</h2>\n<ul>\n<li>Receipts that verify: ",
                  Int("/summary/receipts_valid", report.receipts_valid), "</li>\n",
                  "<li>Receipts that do not verify (forged, misfiled, untrusted, malformed): ",
                  "<span class=\"", report.receipts_failed > 0 ? "bad" : "", "\">",
                  Int("/summary/receipts_failed", report.receipts_failed), "</span></li>\n",
                  "<li>Receipts missing: <span class=\"", report.receipts_missing > 0 ? "bad" : "",
                  "\">", Int("/summary/receipts_missing", report.receipts_missing),
                  "</span></li>\n<li>Audit chain: ",
                  Text("/audit/status", report.audit_status,
                       report.audit_status == "ok" ? "ok" : (report.audit_status == "failed" ? "bad" : "")),
                  "</li>\n</ul>\n");
  if (report.receipts_failed > 0 || report.receipts_missing > 0) {
    absl::StrAppend(&html, "<p class=\"warn\">Some rounds are not backed by a valid signed receipt "
                           "from the trust. See <a href=\"#receipts\">Receipts</a>: a failed or "
                           "missing receipt means the coordinator's record of that round cannot be "
                           "checked against the trust's own signed statement.</p>\n");
  }

  // Per trust: figures and chart.
  absl::StrAppend(&html, "<h2>Privacy spend per trust</h2>\n");
  if (report.trusts.empty()) absl::StrAppend(&html, "<p>No budgets are set and nothing has been spent.</p>\n");
  for (size_t i = 0; i < report.trusts.size(); ++i) {
    const TrustReport& trust = report.trusts[i];
    const std::string base = absl::StrCat("/trusts/", i);
    absl::StrAppend(&html, "<div class=\"trust\">\n<h3>", Text(base + "/site_id", trust.site_id),
                    " &mdash; dataset ", Text(base + "/dataset", trust.dataset), "</h3>\n<p>Spent: ",
                    Num(base + "/spent", trust.spent), trust.spend_complete ? "" : " (at least; some rounds could not be estimated)",
                    " of a budget of ",
                    trust.budget_set ? Num(base + "/budget_epsilon", trust.budget_epsilon)
                                     : std::string("<em>none set</em>"),
                    ", at &delta; = ", Num(base + "/delta", trust.delta), ".</p>\n",
                    Chart(trust, i), "\n</div>\n");
  }

  // Rounds.
  absl::StrAppend(&html,
                  "<h2>Rounds: participation, mechanism and spend</h2>\n<table>\n<thead><tr>"
                  "<th>Finished</th><th>Job</th><th>Round</th><th>Attempt</th><th>Outcome</th>"
                  "<th>Trust</th><th>Status</th><th>Mechanism</th><th>Noise multiplier</th>"
                  "<th>Clip</th><th>Sampling rate</th><th>Steps</th><th>&epsilon; after</th>"
                  "<th>Budget</th><th>Receipt</th></tr></thead>\n<tbody>\n");
  for (size_t i = 0; i < report.rows.size(); ++i) {
    const RoundRow& row = report.rows[i];
    const std::string base = absl::StrCat("/rows/", i);
    const bool has_mechanism = row.mechanism == "poisson-gaussian" || row.mechanism == "skellam";
    absl::StrAppend(
        &html, "<tr><td>", Time(row.time_unix_ms), "</td><td>", Text(base + "/job_id", row.job_id),
        "</td><td class=\"n\">", Int(base + "/round", row.round), "</td><td class=\"n\">",
        Int(base + "/attempt", row.attempt), "</td><td>", Text(base + "/outcome", row.outcome),
        "</td><td>", Text(base + "/site_id", row.site_id), "</td><td>",
        Text(base + "/status", row.status), row.detail.empty() ? "" : absl::StrCat("<br><small>", Escape(row.detail), "</small>"),
        "</td><td>", Text(base + "/mechanism", row.mechanism), "</td><td class=\"n\">",
        has_mechanism ? Num(base + "/noise_multiplier", row.noise_multiplier) : "&ndash;",
        "</td><td class=\"n\">", has_mechanism ? Num(base + "/clip_norm", row.clip_norm) : "&ndash;",
        "</td><td class=\"n\">",
        has_mechanism ? Num(base + "/sampling_rate", row.sampling_rate) : "&ndash;",
        "</td><td class=\"n\">", has_mechanism ? Int(base + "/steps", row.steps) : "&ndash;",
        "</td><td class=\"n\">", OptionalNum(base + "/epsilon_after", row.epsilon_after),
        "</td><td class=\"n\">", OptionalNum(base + "/budget", row.budget), "</td><td>",
        Text(base + "/receipt_status", row.receipt_status, ReceiptClass(row.receipt_status)),
        "</td></tr>\n");
  }
  absl::StrAppend(&html, "</tbody>\n</table>\n");

  // Receipts.
  absl::StrAppend(&html,
                  "<h2 id=\"receipts\">Receipts</h2>\n<p>Each receipt is the trust's own signed "
                  "statement of what it did in a round, checked here against the federation's "
                  "certificate authority, not taken from the coordinator.</p>\n<table>\n<thead><tr>"
                  "<th>Job (as filed)</th><th>Round</th><th>Attempt</th><th>Trust</th>"
                  "<th>Received</th><th>Verdict</th><th>Trust's own &epsilon; after</th>"
                  "<th>Detail</th></tr></thead>\n<tbody>\n");
  for (size_t i = 0; i < report.receipts.size(); ++i) {
    const ReceiptReport& receipt = report.receipts[i];
    const std::string base = absl::StrCat("/receipts/", i);
    absl::StrAppend(&html, "<tr><td>", Text(base + "/job_id", receipt.job_id),
                    "</td><td class=\"n\">", Int(base + "/round", receipt.round),
                    "</td><td class=\"n\">", Int(base + "/attempt", receipt.attempt), "</td><td>",
                    Text(base + "/site_id", receipt.site_id), "</td><td>",
                    Time(receipt.received_unix_ms), "</td><td>",
                    Text(base + "/status", receipt.status, ReceiptClass(receipt.status)),
                    "</td><td class=\"n\">",
                    OptionalNum(base + "/site_epsilon_after", receipt.site_epsilon_after),
                    "</td><td>", Escape(receipt.detail),
                    receipt.matched ? "" : " <em>(not a participant of any round reported)</em>",
                    "</td></tr>\n");
  }
  if (report.receipts.empty()) absl::StrAppend(&html, "<tr><td colspan=\"8\">No receipts are stored.</td></tr>\n");
  absl::StrAppend(&html, "</tbody>\n</table>\n");

  // Approvals.
  absl::StrAppend(&html,
                  "<h2>Approvals</h2>\n<table>\n<thead><tr><th>Job</th><th>Name</th>"
                  "<th>Privacy mode</th><th>State</th><th>Decision</th><th>By</th><th>When</th>"
                  "<th>Spec SHA-256</th></tr></thead>\n<tbody>\n");
  for (size_t i = 0; i < report.approvals.size(); ++i) {
    const ApprovalReport& approval = report.approvals[i];
    const std::string base = absl::StrCat("/approvals/", i);
    const std::string decision = approval.decided_by.empty()
                                     ? "not decided"
                                     : (approval.approved ? "approved" : "rejected");
    absl::StrAppend(&html, "<tr><td>", Text(base + "/job_id", approval.job_id), "</td><td>",
                    Escape(approval.name), "</td><td>",
                    Text(base + "/privacy_mode", approval.privacy_mode), "</td><td>",
                    Escape(approval.state), "</td><td>", decision,
                    approval.reason.empty() ? "" : absl::StrCat(": ", Escape(approval.reason)),
                    "</td><td>", Text(base + "/decided_by", approval.decided_by), "</td><td>",
                    Time(approval.decided_unix_ms), "</td><td><code>",
                    Text(base + "/spec_sha256", approval.spec_sha256), "</code></td></tr>\n");
  }
  absl::StrAppend(&html, "</tbody>\n</table>\n");

  // Audit chain.
  absl::StrAppend(&html, "<h2>Audit chain</h2>\n<p>Check: ",
                  Text("/audit/status", report.audit_status,
                       report.audit_status == "ok" ? "ok" : (report.audit_status == "failed" ? "bad" : "")),
                  report.audit_detail.empty() ? "" : absl::StrCat(". ", Escape(report.audit_detail)),
                  "</p>\n");

  // Plain English.
  absl::StrAppend(
      &html,
      "<h2>What these numbers mean for a patient</h2>\n"
      "<p>Each trust's records never leave the trust. What leaves is a model update, with "
      "random noise added so that no single patient's record can be worked out from it. "
      "<strong>Epsilon (&epsilon;)</strong> measures how much any one patient's record could "
      "change what leaves the trust, added up over every round of every job. Smaller is more "
      "private: at &epsilon; = 1, anyone looking at everything released can be at most about "
      "2.7 times (e<sup>1</sup>) more confident about whether a given patient is in the data "
      "than they were before; at &epsilon; = 3, about 20 times. <strong>Delta "
      "(&delta;)</strong> is the small chance, such as 1 in 100,000, that this guarantee does "
      "not hold.</p>\n"
      "<p>The <strong>budget</strong> is the limit the board set for each trust. The coordinator "
      "passes over a trust whose remaining budget cannot cover the next round, so the blue line "
      "in each chart should stay below the red dashed line. The figures here are the "
      "coordinator's estimates from each trust's approximate record count; each trust also "
      "keeps its own exact record and signs a <strong>receipt</strong> for every round it "
      "trained in. A receipt marked <em>forged</em>, <em>misfiled</em> or <em>missing</em> means "
      "that round's record cannot be confirmed by the trust and should be raised with it.</p>\n"
      "<p>These numbers limit what can be learned about an individual from the models; they do "
      "not describe who can see patient records, which stay at each trust.</p>\n");
  absl::StrAppend(&html, "</body>\n</html>\n");
  return html;
}

}  // namespace tessera::cli
