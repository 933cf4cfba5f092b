// The governance board's report as one self-contained HTML page: inline
// CSS (with @media print so it prints cleanly to PDF), one inline SVG line
// chart per trust (ε after each round, the budget as a horizontal line),
// tables of rounds, receipts and approvals, the audit-chain check and a
// plain-English section on what the numbers mean for a patient. No
// JavaScript and no external resources.
//
// Every figure on the page is in an element carrying data-field, a JSON
// pointer into ReportToJson's output (e.g. "/trusts/0/spent"), and
// data-value, the exact value as JSON would print it (numbers with 17
// significant digits, strings as they are); the visible text may be
// rounded. Tests compare the DOM against the JSON this way.
//
// Thread-safety: a pure function.
#pragma once

#include <string>

#include "coordinator/cli/report_model.h"

namespace tessera::cli {

// The page, UTF-8. Never fails: every string is escaped.
std::string ReportToHtml(const Report& report);

}  // namespace tessera::cli
