#include "agent/data/schema.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::agent::data {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

// Parses `toml` as a job file and returns its schema and Finish() status.
std::pair<Schema, absl::Status> Parse(const std::string& toml) {
  absl::StatusOr<ConfigReader> reader = ConfigReader::FromString(toml, "job.toml");
  EXPECT_TRUE(reader.ok()) << reader.status();
  Schema schema = ParseSchema(*reader, "schema");
  absl::Status status = reader->Finish();
  return {std::move(schema), std::move(status)};
}

TEST(SchemaTest, ParsesTheDocumentedExample) {
  auto [schema, status] = Parse(R"(
[schema]
label = "readmitted"
features = ["age", "sex", "hba1c"]
missing = "impute"
missing_values = ["NA", "NULL"]
[schema.columns.age]
type = "numeric"
min = 0
max = 120
[schema.columns.sex]
type = "categorical"
categories = ["female", "male"]
default = "female"
[schema.columns.hba1c]
type = "numeric"
min = 2.5
[schema.columns.readmitted]
type = "binary"
)");
  ASSERT_THAT(status, IsOk());
  ASSERT_EQ(schema.features.size(), 3u);
  EXPECT_EQ(schema.features[0].name, "age");
  EXPECT_EQ(schema.features[0].type, ColumnType::kNumeric);
  EXPECT_EQ(schema.features[0].min, 0);
  EXPECT_EQ(schema.features[0].max, 120);
  EXPECT_EQ(schema.features[1].name, "sex");
  EXPECT_EQ(schema.features[1].type, ColumnType::kCategorical);
  EXPECT_THAT(schema.features[1].categories, ElementsAre("female", "male"));
  EXPECT_EQ(schema.features[1].default_value, "female");
  EXPECT_EQ(schema.features[2].name, "hba1c");
  EXPECT_EQ(schema.features[2].min, 2.5);
  EXPECT_TRUE(std::isinf(schema.features[2].max));
  EXPECT_EQ(schema.label.name, "readmitted");
  EXPECT_EQ(schema.label.type, ColumnType::kBinary);
  EXPECT_EQ(schema.missing_policy, MissingPolicy::kImpute);
  EXPECT_THAT(schema.missing_values, ElementsAre("NA", "NULL"));
  EXPECT_THAT(ValidateSchema(schema), IsOk());
}

TEST(SchemaTest, WithoutAFeatureListUsesEveryOtherColumnSortedByName) {
  auto [schema, status] = Parse(R"(
[schema]
label = "los"
[schema.columns.zeta]
type = "binary"
[schema.columns.los]
type = "numeric"
[schema.columns.alpha]
type = "numeric"
)");
  ASSERT_THAT(status, IsOk());
  ASSERT_EQ(schema.features.size(), 2u);
  EXPECT_EQ(schema.features[0].name, "alpha");
  EXPECT_EQ(schema.features[1].name, "zeta");
  EXPECT_EQ(schema.label.type, ColumnType::kNumeric);  // regression
  EXPECT_EQ(schema.missing_policy, MissingPolicy::kSkipRow);
}

TEST(SchemaTest, NamesEveryProblemWithItsKey) {
  auto [schema, status] = Parse(R"(
[schema]
label = "outcome"
missing = "impute"
[schema.columns.age]
type = "numeric"
min = 50
max = 10
default = "40"
[schema.columns.sex]
type = "categorical"
categories = ["f", "m", "f"]
[schema.columns.ward]
type = "categorical"
categories = ["a", "b"]
default = "c"
[schema.columns.smoker]
type = "binary"
default = "maybe"
min = 0
[schema.columns.outcome]
type = "categorical"
categories = ["died", "lived"]
)");
  EXPECT_THAT(status,
              StatusIs(kInvalid,
                       "job.toml:7:7: `schema.columns.age.min`: column `age` has min greater "
                       "than max\n"
                       "job.toml:9:11: `schema.columns.age.default`: numeric column `age` is "
                       "imputed with the federation-wide mean; remove `default`\n"
                       "job.toml:10:1: `schema.columns.sex`: missing = \"impute\" needs a "
                       "`default` for categorical column `sex`\n"
                       "job.toml:12:14: `schema.columns.sex.categories`: column `sex` lists "
                       "category \"f\" twice\n"
                       "job.toml:16:11: `schema.columns.ward.default`: the default of column "
                       "`ward` must be one of its categories\n"
                       "job.toml:19:11: `schema.columns.smoker.default`: the default of binary "
                       "column `smoker` must be 0/1, true/false or yes/no\n"
                       "job.toml:20:7: `schema.columns.smoker.min`: `min` and `max` apply only to "
                       "numeric columns, and `smoker` is binary\n"
                       "job.toml:22:8: `schema.columns.outcome.type`: the label `outcome` must be "
                       "binary (classification) or numeric (regression)"));
}

TEST(SchemaTest, RefusesUnknownTypesAndUndeclaredColumns) {
  auto [schema, status] = Parse(R"(
[schema]
label = "y"
features = ["a", "b"]
[schema.columns.a]
type = "text"
[schema.columns.c]
type = "numeric"
)");
  EXPECT_THAT(status,
              StatusIs(kInvalid,
                       "job.toml:3:9: `schema.label`: the label `y` has no [schema.columns.y] "
                       "table\n"
                       "job.toml:4:12: `schema.features`: feature `b` has no [schema.columns.b] "
                       "table\n"
                       "job.toml:6:8: `schema.columns.a.type`: column `a` has unknown type "
                       "\"text\"; use \"numeric\", \"binary\" or \"categorical\"\n"
                       "job.toml:7:1: `schema.columns.c`: column `c` is neither a feature nor the "
                       "label; list it in `schema.features` or remove its table"));
}

TEST(SchemaTest, RefusesALabelThatIsAlsoAFeature) {
  auto [schema, status] = Parse(R"(
[schema]
label = "y"
features = ["x", "y"]
[schema.columns.x]
type = "numeric"
[schema.columns.y]
type = "binary"
)");
  EXPECT_THAT(status, StatusIs(kInvalid, HasSubstr("the label `y` cannot also be a feature")));
}

TEST(SchemaTest, ValidateSchemaChecksSchemasBuiltInCode) {
  Schema schema;
  schema.label = BinaryColumn("y");
  EXPECT_THAT(ValidateSchema(schema),
              StatusIs(kInvalid, "invalid schema: the schema declares no feature columns"));
  ColumnSpec ward = CategoricalColumn("ward", {});
  schema.features.push_back(ward);
  schema.label.default_value = "1";
  EXPECT_THAT(ValidateSchema(schema),
              StatusIs(kInvalid, "invalid schema: categorical column `ward` needs a non-empty "
                                 "list of `categories`; the label `y` is never imputed; remove "
                                 "`default`"));
  schema.features[0].categories = {"a", "b"};
  schema.label.default_value.reset();
  EXPECT_THAT(ValidateSchema(schema), IsOk());
}

TEST(SchemaTest, ParseBinaryAcceptsTheDocumentedSpellingsOnly) {
  for (const char* yes : {"1", "true", "TRUE", "True", "yes", "YES", " yes\t"}) {
    EXPECT_EQ(ParseBinary(yes), true) << yes;
  }
  for (const char* no : {"0", "false", "FALSE", "no", "No", " 0 "}) {
    EXPECT_EQ(ParseBinary(no), false) << no;
  }
  for (const char* other : {"", "2", "y", "n", "t", "f", "1.0", "-1", "yes please", "on"}) {
    EXPECT_EQ(ParseBinary(other), std::nullopt) << other;
  }
}

}  // namespace
}  // namespace tessera::agent::data
