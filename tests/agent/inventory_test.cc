// The dataset inventory an agent reports: coarse record-count buckets, and
// clear errors for datasets that cannot be read.
#include "agent/inventory.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::agent {
namespace {

using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::HasSubstr;

TEST(RecordCountBucketTest, RoundsDownToOneTwoFiveSteps) {
  const std::vector<std::pair<uint64_t, uint64_t>> cases = {
      {0, 0},     {9, 0},     {10, 10},   {19, 10},   {20, 20},     {49, 20},
      {50, 50},   {99, 50},   {100, 100}, {199, 100}, {569, 500},   {1000, 1000},
      {1999, 1000}, {2000, 2000}, {4999, 2000}, {5000, 5000}, {123456, 100000}};
  for (const auto& [count, bucket] : cases) EXPECT_EQ(RecordCountBucket(count), bucket) << count;
}

TEST(InventoryTest, CountsRecordsOfEachDataset) {
  TempDir dir;
  std::ofstream csv(dir.File("a.csv"));
  csv << "age,outcome\n";
  for (int i = 0; i < 257; ++i) csv << i << "," << (i % 2) << "\n";
  csv.close();
  std::vector<data::DatasetConfig> datasets = {{"cohort", data::DatasetKind::kCsv, dir.File("a.csv"), ""}};
  ASSERT_OK_AND_ASSIGN(auto inventory, TakeInventory(datasets));
  ASSERT_EQ(inventory.size(), 1u);
  EXPECT_EQ(inventory[0].name, "cohort");
  EXPECT_EQ(inventory[0].record_count_bucket, 200u);

  datasets.push_back({"missing", data::DatasetKind::kCsv, dir.File("nope.csv"), ""});
  EXPECT_THAT(TakeInventory(datasets), StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
}

}  // namespace
}  // namespace tessera::agent
