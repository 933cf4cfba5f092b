#include "agent/data/encoder.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/data/csv_reader.h"
#include "agent/data/statistics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/agent/data_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace tessera::agent::data {
namespace {

using ::tessera::agent::data::testing::WriteAndOpenCsv;
using ::tessera::testing::StatusIs;
using ::tessera::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// age, bmi: numeric; sex: female/male/other; smoker: binary; label: binary.
Schema StudySchema() {
  Schema schema;
  ColumnSpec sex = CategoricalColumn("sex", {"female", "male", "other"});
  schema.features = {NumericColumn("age", 0, 120),
                     sex,
                     NumericColumn("bmi"),
                     BinaryColumn("smoker")};
  schema.label = BinaryColumn("outcome");
  return schema;
}

class EncoderTest : public ::testing::Test {
 protected:
  std::unique_ptr<CsvReader> Open(const std::string& name, const std::string& content) {
    return WriteAndOpenCsv(dir_, name, content);
  }

  TempDir dir_;
};

TEST_F(EncoderTest, StandardisesTheTextbookExampleToMeanFiveAndDeviationTwo) {
  // The eight values 2, 4, 4, 4, 5, 5, 7, 9 have mean 5 and population
  // standard deviation 2 (the worked example of the Wikipedia article
  // "Standard deviation").
  Schema schema;
  schema.features = {NumericColumn("x")};
  schema.label = NumericColumn("y");
  auto reader = Open("x", "x,y\n2,0\n4,0\n4,0\n4,0\n5,0\n5,0\n7,0\n9,0\n");
  ASSERT_OK_AND_ASSIGN(LocalStatistics local,
                       ComputeLocalStatistics(*reader, schema, SplitConfig{0.0, 0}));
  EXPECT_THAT(std::vector<double>(local.sums.data(), local.sums.data() + local.sums.size()),
              ElementsAre(8.0, 40.0, 232.0));
  ASSERT_OK_AND_ASSIGN(Standardization standardization,
                       StandardizationFromSums(schema, local.sums));
  EXPECT_THAT(standardization.columns, ElementsAre("x"));
  EXPECT_DOUBLE_EQ(standardization.mean[0], 5.0);
  EXPECT_DOUBLE_EQ(standardization.stddev[0], 2.0);
}

TEST_F(EncoderTest, AggregatedStatisticsEqualThoseOfThePooledData) {
  // Three sites with different sizes and distributions. Summing their local
  // statistics (what secure aggregation delivers) must give the mean and
  // standard deviation computed directly, in two passes, over the pooled
  // training records, and so the same encoding.
  Schema schema = StudySchema();
  const SplitConfig split{0.25, 11};
  std::mt19937_64 random(20261125);  // fixed seed: the data, not the check, is random
  std::vector<std::string> contents;
  std::vector<double> pooled_age, pooled_bmi;
  for (int site = 0; site < 3; ++site) {
    std::string content = "age,sex,bmi,smoker,outcome\n";
    std::normal_distribution<double> age(45 + 10 * site, 5 + 3 * site);
    std::normal_distribution<double> bmi(24 + site, 3);
    const int64_t count = 200 + 150 * site;
    for (int64_t i = 0; i < count; ++i) {
      const double a = std::round(std::clamp(age(random), 0.0, 120.0) * 10) / 10;
      const double b = std::round(bmi(random) * 100) / 100;
      const bool bad = i % 17 == 3;  // some rows are skipped at every site
      absl::StrAppend(&content, bad ? "n/a" : absl::StrCat(a), ",", i % 3 == 0 ? "male" : "female",
                      ",", b, ",", i % 2, ",", i % 5 == 0 ? 1 : 0, "\n");
      if (!bad && !IsHoldout(split, i)) {
        pooled_age.push_back(a);
        pooled_bmi.push_back(b);
      }
    }
    contents.push_back(content);
  }
  Eigen::VectorXd aggregated = Eigen::VectorXd::Zero(6);
  for (int site = 0; site < 3; ++site) {
    auto reader = Open(absl::StrCat("site", site), contents[static_cast<size_t>(site)]);
    ASSERT_OK_AND_ASSIGN(LocalStatistics local, ComputeLocalStatistics(*reader, schema, split));
    ASSERT_EQ(local.sums.size(), 6);
    aggregated += local.sums;
  }
  ASSERT_OK_AND_ASSIGN(Standardization standardization,
                       StandardizationFromSums(schema, aggregated));
  auto direct = [](const std::vector<double>& values, double* mean, double* stddev) {
    double sum = 0;
    for (double v : values) sum += v;
    *mean = sum / static_cast<double>(values.size());
    double squares = 0;
    for (double v : values) squares += (v - *mean) * (v - *mean);
    *stddev = std::sqrt(squares / static_cast<double>(values.size()));
  };
  double age_mean, age_sd, bmi_mean, bmi_sd;
  direct(pooled_age, &age_mean, &age_sd);
  direct(pooled_bmi, &bmi_mean, &bmi_sd);
  EXPECT_EQ(aggregated[0], static_cast<double>(pooled_age.size()));
  EXPECT_EQ(aggregated[3], static_cast<double>(pooled_bmi.size()));
  EXPECT_NEAR(standardization.mean[0], age_mean, 1e-9 * std::abs(age_mean));
  EXPECT_NEAR(standardization.stddev[0], age_sd, 1e-9 * age_sd);
  EXPECT_NEAR(standardization.mean[1], bmi_mean, 1e-9 * std::abs(bmi_mean));
  EXPECT_NEAR(standardization.stddev[1], bmi_sd, 1e-9 * bmi_sd);

  // Encoded with the federation's statistics, the pooled training ages have
  // mean 0 and standard deviation 1.
  double sum = 0, squares = 0, n = 0;
  for (int site = 0; site < 3; ++site) {
    auto reader = Open(absl::StrCat("site", site), contents[static_cast<size_t>(site)]);
    ASSERT_OK_AND_ASSIGN(EncodedDataset encoded,
                         EncodeDataset(*reader, schema, split, standardization));
    const Eigen::VectorXd age = encoded.training.features.col(0).cast<double>();
    sum += age.sum();
    squares += age.squaredNorm();
    n += static_cast<double>(age.size());
  }
  EXPECT_NEAR(sum / n, 0.0, 1e-5);
  EXPECT_NEAR(std::sqrt(squares / n - (sum / n) * (sum / n)), 1.0, 1e-5);
}

TEST_F(EncoderTest, EncodesEachTypeInSchemaOrder) {
  Schema schema = StudySchema();
  EXPECT_THAT(FeatureNames(schema),
              ElementsAre("age", "sex=female", "sex=male", "sex=other", "bmi", "smoker"));
  Standardization standardization{{"age", "bmi"}, {50.0, 25.0}, {10.0, 5.0}};
  auto reader = Open("study",
                     "age,sex,bmi,smoker,outcome\n"
                     "60,other,20,yes,1\n"
                     "45,female,27.5,no,0\n"
                     "30,male,25,1,no\n");
  ASSERT_OK_AND_ASSIGN(EncodedDataset encoded,
                       EncodeDataset(*reader, schema, SplitConfig{0.0, 3}, standardization));
  EXPECT_EQ(encoded.feature_names, FeatureNames(schema));
  ASSERT_EQ(encoded.training.features.rows(), 3);
  ASSERT_EQ(encoded.training.features.cols(), 6);
  EXPECT_EQ(encoded.holdout.features.rows(), 0);
  EXPECT_EQ(encoded.holdout.features.cols(), 6);
  Eigen::MatrixXf expected(3, 6);
  expected << 1.0f, 0, 0, 1, -1.0f, 1,   //
      -0.5f, 1, 0, 0, 0.5f, 0,           //
      -2.0f, 0, 1, 0, 0.0f, 1;
  EXPECT_TRUE(encoded.training.features.isApprox(expected)) << encoded.training.features;
  EXPECT_THAT(std::vector<float>(encoded.training.labels.data(),
                                 encoded.training.labels.data() + 3),
              ElementsAre(1.0f, 0.0f, 0.0f));
  EXPECT_EQ(encoded.report.records_used(), 3);
}

TEST_F(EncoderTest, ImputesTheMeanAsZeroAndTheDeclaredCategory) {
  Schema schema = StudySchema();
  schema.missing_policy = MissingPolicy::kImpute;
  schema.features[1].default_value = "other";
  schema.features[3].default_value = "0";
  Standardization standardization{{"age", "bmi"}, {50.0, 25.0}, {10.0, 5.0}};
  auto reader = Open("study", "age,sex,bmi,smoker,outcome\n,,abc,,1\n");
  ASSERT_OK_AND_ASSIGN(EncodedDataset encoded,
                       EncodeDataset(*reader, schema, SplitConfig{0.0, 3}, standardization));
  ASSERT_EQ(encoded.training.features.rows(), 1);
  Eigen::RowVectorXf expected(6);
  expected << 0, 0, 0, 1, 0, 0;
  EXPECT_EQ(Eigen::RowVectorXf(encoded.training.features.row(0)), expected);
  EXPECT_EQ(encoded.report.values_imputed(), 4);
}

TEST_F(EncoderTest, ImputedValuesStayOutOfTheStatistics) {
  Schema schema;
  schema.features = {NumericColumn("x")};
  schema.label = BinaryColumn("y");
  schema.missing_policy = MissingPolicy::kImpute;
  auto reader = Open("x", "x,y\n1,0\n,1\nbad,0\n3,1\n");
  ASSERT_OK_AND_ASSIGN(LocalStatistics local,
                       ComputeLocalStatistics(*reader, schema, SplitConfig{0.0, 0}));
  EXPECT_THAT(std::vector<double>(local.sums.data(), local.sums.data() + 3),
              ElementsAre(2.0, 4.0, 10.0));
  EXPECT_EQ(local.report.records_used(), 4);
}

TEST_F(EncoderTest, SplitsRecordsAsIsHoldoutSays) {
  Schema schema;
  schema.features = {NumericColumn("i")};
  schema.label = NumericColumn("y");
  std::string content = "i,y\n";
  for (int i = 0; i < 200; ++i) absl::StrAppend(&content, i, ",", i, "\n");
  const SplitConfig split{0.3, 5};
  auto reader = Open("ids", content);
  ASSERT_OK_AND_ASSIGN(EncodedDataset encoded,
                       EncodeDataset(*reader, schema, split, {{"i"}, {0.0}, {1.0}}));
  std::vector<float> training, holdout;
  for (int i = 0; i < 200; ++i) (IsHoldout(split, i) ? holdout : training).push_back(static_cast<float>(i));
  EXPECT_EQ(std::vector<float>(encoded.training.labels.data(),
                               encoded.training.labels.data() + encoded.training.labels.size()),
            training);
  EXPECT_EQ(std::vector<float>(encoded.holdout.labels.data(),
                               encoded.holdout.labels.data() + encoded.holdout.labels.size()),
            holdout);
  EXPECT_EQ(encoded.report.training_records(), static_cast<int64_t>(training.size()));
  EXPECT_EQ(encoded.report.holdout_records(), static_cast<int64_t>(holdout.size()));
}

TEST_F(EncoderTest, TreatsAConstantColumnAsCentredOnly) {
  Schema schema;
  schema.features = {NumericColumn("x")};
  schema.label = BinaryColumn("y");
  Eigen::VectorXd sums(3);
  sums << 1000, 1000 * 0.1, 1000 * 0.1 * 0.1 * (1 + 1e-14);  // rounding, not spread
  ASSERT_OK_AND_ASSIGN(Standardization standardization, StandardizationFromSums(schema, sums));
  EXPECT_DOUBLE_EQ(standardization.mean[0], 0.1);
  EXPECT_EQ(standardization.stddev[0], 1.0);
}

TEST_F(EncoderTest, RefusesStatisticsThatDoNotFitTheSchema) {
  Schema schema = StudySchema();
  EXPECT_THAT(StandardizationFromSums(schema, Eigen::VectorXd::Ones(5)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "aggregated statistics have 5 entries; the schema's 2 numeric features "
                       "need 6 (count, sum, sum of squares each)"));
  Eigen::VectorXd sums(6);
  sums << 10, 500, 30000, 0, 0, 0;
  EXPECT_THAT(StandardizationFromSums(schema, sums),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "no site has any value of numeric column `bmi` in its training records, "
                       "so the federation cannot standardise it"));
  sums << 10, 500, -1, 5, 100, 2100;
  EXPECT_THAT(StandardizationFromSums(schema, sums),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("column `age`")));
  auto reader = Open("study", "age,sex,bmi,smoker,outcome\n");
  EXPECT_THAT(EncodeDataset(*reader, schema, SplitConfig{}, {{"age"}, {0.0}, {1.0}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the standardisation is for columns [age] but the schema's numeric "
                       "features are [age, bmi]"));
  EXPECT_THAT(EncodeDataset(*reader, schema, SplitConfig{}, {{"age", "bmi"}, {0, 0}, {1, 0}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("column `bmi` needs a finite mean and a positive")));
}

}  // namespace
}  // namespace tessera::agent::data
