// The coordinator's content-addressed object store: nothing becomes visible
// unless its bytes match the hash and size it was announced with.
#include "coordinator/object_store.h"

#include <sys/stat.h>

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::coordinator {
namespace {

using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::HasSubstr;

// FIPS 180-4 example: SHA-256("abc").
constexpr char kAbcSha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(ObjectStoreTest, PutReadAndSize) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open(dir.File("state"), 1 << 20));
  ASSERT_OK_AND_ASSIGN(std::string name, store->Put("abc"));
  EXPECT_EQ(name, kAbcSha256);
  EXPECT_THAT(store->Size(name), ::tessera::testing::IsOkAndHolds(3u));
  EXPECT_THAT(store->Read(name, 1, 10), ::tessera::testing::IsOkAndHolds(std::string("bc")));
  EXPECT_THAT(store->Read(name, 3, 10), ::tessera::testing::IsOkAndHolds(std::string()));
  EXPECT_THAT(store->Read(name, 4, 10), StatusIs(absl::StatusCode::kOutOfRange));
  struct stat info;
  ASSERT_EQ(::stat(dir.File("state/objects/" + name).c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST(ObjectStoreTest, WrongHashOrSizeStoresNothing) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open(dir.File("state"), 1 << 20));
  const std::string wrong(64, 'a');
  {
    ASSERT_OK_AND_ASSIGN(auto writer, store->BeginWrite(wrong, 3));
    ASSERT_OK(writer->Append("abc"));
    EXPECT_THAT(writer->Commit(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(kAbcSha256)));
  }
  EXPECT_THAT(store->Size(wrong), StatusIs(absl::StatusCode::kNotFound));
  {
    ASSERT_OK_AND_ASSIGN(auto writer, store->BeginWrite(kAbcSha256, 3));
    EXPECT_THAT(writer->Append("abcd"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                 HasSubstr("longer than the 3 bytes")));
  }
  {
    ASSERT_OK_AND_ASSIGN(auto writer, store->BeginWrite(kAbcSha256, 3));
    ASSERT_OK(writer->Append("ab"));
    EXPECT_THAT(writer->Commit(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("after 2 of the 3")));
  }
  EXPECT_THAT(store->Size(kAbcSha256), StatusIs(absl::StatusCode::kNotFound));
  // No temporary files are left behind.
  ASSERT_OK_AND_ASSIGN(auto result, ::tessera::testing::RunCommand(
                                        {"/bin/ls", "-A", dir.File("state/objects")},
                                        absl::Seconds(10)));
  EXPECT_EQ(result.output, "");
}

TEST(ObjectStoreTest, RefusesMalformedNamesAndOversizedObjects) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open(dir.File("state"), 10));
  EXPECT_THAT(store->BeginWrite("../../etc/passwd", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64 lower-case hex")));
  EXPECT_THAT(store->BeginWrite(std::string(64, 'A'), 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->BeginWrite(kAbcSha256, 11),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("limit of 10 bytes")));
  EXPECT_THAT(store->Read("zz", 0, 1), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ObjectStoreTest, ConcurrentWritersOfTheSameObjectAllSucceed) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open(dir.File("state"), 1 << 20));
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(8);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      auto writer = store->BeginWrite(kAbcSha256, 3);
      results[i] = writer.ok() ? (*writer)->Append("abc") : writer.status();
      if (results[i].ok()) results[i] = (*writer)->Commit();
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& status : results) EXPECT_OK(status);
  EXPECT_THAT(store->Read(kAbcSha256, 0, 3), ::tessera::testing::IsOkAndHolds(std::string("abc")));
}

}  // namespace
}  // namespace tessera::coordinator
