// The SQLite layer: migrations run once and in order, foreign or newer files
// are refused untouched, transactions roll back unless committed, and a
// backup is a faithful copy.
#include "common/sqlite.h"

#include <sys/stat.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera {
namespace {

using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::HasSubstr;

constexpr int32_t kAppId = 0x54455354;  // "TEST"

DatabaseOptions Options(int versions = 2) {
  DatabaseOptions options;
  options.application_id = kAppId;
  options.description = "test database";
  options.migrations = {{1, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"},
                        {2, "ALTER TABLE t ADD COLUMN note TEXT;"}};
  options.migrations.resize(static_cast<size_t>(versions));
  return options;
}

int64_t Count(Database& db) {
  Statement stmt = db.Prepare("SELECT count(*) FROM t").value();
  EXPECT_THAT(stmt.Step(), IsOkAndHolds(true));
  return stmt.ColumnInt(0);
}

TEST(SqliteTest, MigratesInOrderOnceAndKeepsData) {
  TempDir dir;
  const std::string path = dir.File("db.sqlite");
  {
    ASSERT_OK_AND_ASSIGN(auto db, Database::Open(path, Options(1)));
    EXPECT_THAT(db->SchemaVersion(), IsOkAndHolds(1));
    struct stat info;
    ASSERT_EQ(::stat(path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    ASSERT_OK_AND_ASSIGN(Statement insert, db->Prepare("INSERT INTO t (name) VALUES (?)"));
    ASSERT_OK(insert.Bind(1, "rfh").Run());
  }
  // Reopening with a newer schema runs only migration 2.
  ASSERT_OK_AND_ASSIGN(auto db, Database::Open(path, Options(2)));
  EXPECT_THAT(db->SchemaVersion(), IsOkAndHolds(2));
  ASSERT_OK_AND_ASSIGN(Statement select, db->Prepare("SELECT name, note FROM t"));
  ASSERT_THAT(select.Step(), IsOkAndHolds(true));
  EXPECT_EQ(select.ColumnText(0), "rfh");
  EXPECT_TRUE(select.ColumnIsNull(1));
  EXPECT_OK(db->CheckIntegrity());
}

TEST(SqliteTest, RefusesNewerSchemaForeignFilesAndNonDatabases) {
  TempDir dir;
  const std::string path = dir.File("db.sqlite");
  ASSERT_OK(Database::Open(path, Options(2)).status());
  EXPECT_THAT(Database::Open(path, Options(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("schema version 2, newer than this Tessera knows (1)")));

  DatabaseOptions other = Options(2);
  other.application_id = 1234;
  EXPECT_THAT(Database::Open(path, other),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("belongs to another application")));

  // A database made by someone else, with tables but no application id.
  const std::string foreign = dir.File("foreign.sqlite");
  {
    DatabaseOptions plain;
    plain.migrations = {{1, "CREATE TABLE x (a);"}};
    ASSERT_OK(Database::Open(foreign, plain).status());
  }
  EXPECT_THAT(Database::Open(foreign, Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("another application")));

  const std::string text = dir.File("notes.txt");
  std::ofstream(text) << std::string(4096, 'x');
  EXPECT_THAT(Database::Open(text, Options()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a SQLite database")));
  // The refused file is untouched.
  std::ifstream in(text);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(contents, std::string(4096, 'x'));
}

TEST(SqliteTest, TransactionRollsBackUnlessCommitted) {
  ASSERT_OK_AND_ASSIGN(auto db, Database::Open(":memory:", Options()));
  {
    ASSERT_OK_AND_ASSIGN(Transaction transaction, Transaction::Begin(*db));
    ASSERT_OK(db->Exec("INSERT INTO t (name) VALUES ('a')"));
  }
  EXPECT_EQ(Count(*db), 0);
  {
    ASSERT_OK_AND_ASSIGN(Transaction transaction, Transaction::Begin(*db));
    ASSERT_OK(db->Exec("INSERT INTO t (name) VALUES ('a')"));
    ASSERT_OK(transaction.Commit());
    EXPECT_THAT(transaction.Commit(), StatusIs(absl::StatusCode::kFailedPrecondition));
  }
  EXPECT_EQ(Count(*db), 1);
}

TEST(SqliteTest, ErrorsNameTheDatabaseAndKeepTheirMeaning) {
  ASSERT_OK_AND_ASSIGN(auto db, Database::Open(":memory:", Options()));
  EXPECT_THAT(db->Prepare("SELEKT 1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("test database `:memory:`")));
  ASSERT_OK(db->Exec("INSERT INTO t (name) VALUES ('a')"));
  EXPECT_THAT(db->Exec("INSERT INTO t (name) VALUES ('a')"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("UNIQUE")));
  ASSERT_OK_AND_ASSIGN(Statement stmt, db->Prepare("SELECT ?"));
  stmt.Bind(7, int64_t{1});  // out of range: reported at Step
  EXPECT_THAT(stmt.Step(), StatusIs(absl::StatusCode::kInternal, HasSubstr("binding")));
}

TEST(SqliteTest, BlobsAndTextRoundTripIncludingZeroBytes) {
  ASSERT_OK_AND_ASSIGN(auto db, Database::Open(":memory:", Options()));
  ASSERT_OK_AND_ASSIGN(Statement stmt, db->Prepare("SELECT ?, ?, ?"));
  const std::string blob("a\0b", 3);
  stmt.BindBlob(1, blob).BindBlob(2, "").Bind(3, 2.5);
  ASSERT_THAT(stmt.Step(), IsOkAndHolds(true));
  EXPECT_EQ(stmt.ColumnBlob(0), blob);
  EXPECT_FALSE(stmt.ColumnIsNull(1));
  EXPECT_EQ(stmt.ColumnDouble(2), 2.5);
}

TEST(SqliteTest, OnlineBackupIsAFaithfulCopy) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto db, Database::Open(dir.File("live.sqlite"), Options()));
  ASSERT_OK(db->Exec("INSERT INTO t (name) VALUES ('a'), ('b')"));
  ASSERT_OK(db->BackupTo(dir.File("copy.sqlite")));
  ASSERT_OK_AND_ASSIGN(auto copy, Database::Open(dir.File("copy.sqlite"), Options()));
  EXPECT_EQ(Count(*copy), 2);
  EXPECT_OK(copy->CheckIntegrity());
}

TEST(SqliteTest, CorruptionIsReportedAsDataLoss) {
  TempDir dir;
  const std::string path = dir.File("db.sqlite");
  {
    ASSERT_OK_AND_ASSIGN(auto db, Database::Open(path, Options()));
    ASSERT_OK(db->Exec("PRAGMA journal_mode=DELETE"));  // all pages in the main file
    for (int i = 0; i < 200; ++i) {
      ASSERT_OK(db->Exec("INSERT INTO t (name) VALUES (hex(randomblob(64)))"));
    }
  }
  {
    // Scribble over every page after the first two (the schema stays readable).
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(2 * 4096);
    const std::string garbage(8 * 4096, '\x5a');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto db = Database::Open(path, Options());
  absl::Status status = db.ok() ? (*db)->CheckIntegrity() : db.status();
  if (status.ok() && db.ok()) status = (*db)->Prepare("SELECT count(*), max(name) FROM t")->Run();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("db.sqlite")));
}

}  // namespace
}  // namespace tessera
