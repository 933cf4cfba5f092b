#include "agent/ledger/privacy_ledger_store.h"

#include <variant>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace tessera::agent {
namespace {

// "TSLG": marks the file as a Tessera agent ledger.
constexpr int32_t kApplicationId = 0x54534C47;

std::vector<Migration> Migrations() {
  return {{1, R"sql(
    CREATE TABLE participations (
      job_id TEXT NOT NULL,
      round INTEGER NOT NULL,
      attempt INTEGER NOT NULL,
      dataset TEXT NOT NULL,
      recorded_at_ms INTEGER NOT NULL,
      events TEXT NOT NULL,
      epsilon_after REAL NOT NULL,
      delta REAL NOT NULL,
      PRIMARY KEY (job_id, round, attempt)
    );
    CREATE INDEX participations_by_dataset ON participations (dataset, recorded_at_ms);
  )sql"}};
}

Participation ReadRow(const Statement& stmt) {
  Participation p;
  p.job_id = stmt.ColumnText(0);
  p.round = stmt.ColumnInt(1);
  p.attempt = stmt.ColumnInt(2);
  p.dataset = stmt.ColumnText(3);
  p.recorded_at = absl::FromUnixMillis(stmt.ColumnInt(4));
  p.epsilon_after = stmt.ColumnDouble(6);
  p.delta = stmt.ColumnDouble(7);
  return p;
}

constexpr char kColumns[] =
    "job_id, round, attempt, dataset, recorded_at_ms, events, epsilon_after, delta";

}  // namespace

std::string EventsToJson(const privacy::PrivacyLedger& events) {
  nlohmann::json list = nlohmann::json::array();
  for (const privacy::LedgerEntry& entry : events.entries()) {
    if (const auto* gaussian = std::get_if<privacy::PoissonGaussianEvent>(&entry.event)) {
      list.push_back({{"type", "poisson_gaussian"},
                      {"noise_multiplier", gaussian->noise_multiplier},
                      {"sampling_rate", gaussian->sampling_rate},
                      {"count", entry.count}});
    } else {
      const auto& skellam = std::get<privacy::SkellamEvent>(entry.event);
      list.push_back({{"type", "skellam"},
                      {"l2_sensitivity", skellam.l2_sensitivity},
                      {"l1_sensitivity", skellam.l1_sensitivity},
                      {"variance", skellam.variance},
                      {"count", entry.count}});
    }
  }
  return list.dump();
}

absl::StatusOr<privacy::PrivacyLedger> EventsFromJson(const std::string& json) {
  const nlohmann::json list = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  const absl::Status corrupt =
      absl::DataLossError("a ledger entry's privacy events are unreadable; restore the ledger "
                          "from backup (never delete it: it is the trust's record of spend)");
  if (list.is_discarded() || !list.is_array()) return corrupt;
  privacy::PrivacyLedger ledger;
  for (const nlohmann::json& item : list) {
    if (!item.is_object() || !item.contains("type") || !item.contains("count") ||
        !item["count"].is_number_integer()) {
      return corrupt;
    }
    auto number = [&item](const char* key) {
      return item.contains(key) && item[key].is_number() ? item[key].get<double>() : -1.0;
    };
    privacy::DpEvent event;
    if (item["type"] == "poisson_gaussian") {
      event = privacy::PoissonGaussianEvent{number("noise_multiplier"), number("sampling_rate")};
    } else if (item["type"] == "skellam") {
      event = privacy::SkellamEvent{number("l2_sensitivity"), number("l1_sensitivity"),
                                    number("variance")};
    } else {
      return corrupt;
    }
    if (!ledger.Add(event, item["count"].get<int64_t>()).ok()) return corrupt;
  }
  return ledger;
}

absl::StatusOr<std::unique_ptr<PrivacyLedgerStore>> PrivacyLedgerStore::Open(
    const std::string& path) {
  DatabaseOptions options;
  options.application_id = kApplicationId;
  options.description = "privacy ledger";
  options.migrations = Migrations();
  TESSERA_ASSIGN_OR_RETURN(auto db, Database::Open(path, options));
  return std::unique_ptr<PrivacyLedgerStore>(new PrivacyLedgerStore(std::move(db)));
}

absl::StatusOr<bool> PrivacyLedgerStore::Record(const Participation& participation) {
  const std::string events = EventsToJson(participation.events);
  TESSERA_ASSIGN_OR_RETURN(Transaction transaction, Transaction::Begin(*db_));
  TESSERA_ASSIGN_OR_RETURN(
      Statement existing,
      db_->Prepare("SELECT events FROM participations WHERE job_id = ? AND round = ? AND attempt = ?"));
  existing.Bind(1, participation.job_id).Bind(2, participation.round).Bind(3, participation.attempt);
  TESSERA_ASSIGN_OR_RETURN(bool found, existing.Step());
  if (found) {
    if (existing.ColumnText(0) == events) return false;
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", participation.job_id, " round ", participation.round, " attempt ",
        participation.attempt, " is already in the ledger with other privacy settings; "
        "a round's record is never overwritten"));
  }
  existing.Reset();
  TESSERA_ASSIGN_OR_RETURN(
      Statement insert,
      db_->Prepare(absl::StrCat("INSERT INTO participations (", kColumns,
                                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)")));
  insert.Bind(1, participation.job_id)
      .Bind(2, participation.round)
      .Bind(3, participation.attempt)
      .Bind(4, participation.dataset)
      .Bind(5, absl::ToUnixMillis(participation.recorded_at))
      .Bind(6, events)
      .Bind(7, participation.epsilon_after)
      .Bind(8, participation.delta);
  TESSERA_RETURN_IF_ERROR(insert.Run());
  TESSERA_RETURN_IF_ERROR(transaction.Commit());
  return true;
}

absl::StatusOr<privacy::PrivacyLedger> PrivacyLedgerStore::Spent(const std::string& dataset) {
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT events FROM participations WHERE dataset = ? ORDER BY recorded_at_ms, "
                   "rowid"));
  stmt.Bind(1, dataset);
  privacy::PrivacyLedger spent;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    TESSERA_ASSIGN_OR_RETURN(privacy::PrivacyLedger events, EventsFromJson(stmt.ColumnText(0)));
    for (const privacy::LedgerEntry& entry : events.entries()) {
      TESSERA_RETURN_IF_ERROR(spent.Add(entry.event, entry.count));
    }
  }
  return spent;
}

absl::StatusOr<std::vector<Participation>> PrivacyLedgerStore::List() {
  TESSERA_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare(absl::StrCat("SELECT ", kColumns,
                                " FROM participations ORDER BY recorded_at_ms, rowid")));
  std::vector<Participation> all;
  while (true) {
    TESSERA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    Participation p = ReadRow(stmt);
    TESSERA_ASSIGN_OR_RETURN(p.events, EventsFromJson(stmt.ColumnText(5)));
    all.push_back(std::move(p));
  }
  return all;
}

}  // namespace tessera::agent
