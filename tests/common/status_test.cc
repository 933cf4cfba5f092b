#include "common/status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera {
namespace {

using ::tessera::testing::IsOk;
using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<int> ParsePositive(int value) {
  if (value <= 0) return absl::InvalidArgumentError("value must be positive");
  return value;
}

absl::Status CheckPositive(int value) {
  TESSERA_RETURN_IF_ERROR(ParsePositive(value).status());
  return absl::OkStatus();
}

absl::StatusOr<int> DoubleIt(int value) {
  TESSERA_ASSIGN_OR_RETURN(int parsed, ParsePositive(value));
  return parsed * 2;
}

absl::StatusOr<int> AssignToExisting(int value) {
  int result = -1;
  TESSERA_ASSIGN_OR_RETURN(result, ParsePositive(value));
  return result + 1;
}

int g_calls = 0;
absl::Status CountingFailure() {
  ++g_calls;
  return absl::UnavailableError("try again");
}

TEST(StatusMacrosTest, ReturnIfErrorPassesOkThrough) { EXPECT_THAT(CheckPositive(3), IsOk()); }

TEST(StatusMacrosTest, ReturnIfErrorReturnsTheError) {
  EXPECT_THAT(CheckPositive(-1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("must be positive")));
}

TEST(StatusMacrosTest, ReturnIfErrorEvaluatesItsArgumentOnce) {
  g_calls = 0;
  auto f = []() -> absl::Status {
    TESSERA_RETURN_IF_ERROR(CountingFailure());
    return absl::OkStatus();
  };
  EXPECT_THAT(f(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(g_calls, 1);
}

TEST(StatusMacrosTest, AssignOrReturnDeclaresAndAssigns) {
  EXPECT_THAT(DoubleIt(21), IsOkAndHolds(42));
  EXPECT_THAT(DoubleIt(0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(StatusMacrosTest, AssignOrReturnAssignsToAnExistingVariable) {
  EXPECT_THAT(AssignToExisting(4), IsOkAndHolds(5));
  EXPECT_THAT(AssignToExisting(-4), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(StatusMacrosTest, TwoAssignOrReturnOnDifferentLinesCompile) {
  auto f = []() -> absl::StatusOr<int> {
    TESSERA_ASSIGN_OR_RETURN(int a, ParsePositive(1));
    TESSERA_ASSIGN_OR_RETURN(int b, ParsePositive(2));
    return a + b;
  };
  EXPECT_THAT(f(), IsOkAndHolds(3));
}

TEST(AnnotateTest, PrependsContextAndKeepsCode) {
  absl::Status annotated = Annotate(absl::NotFoundError("no such file"), "loading agent.toml");
  EXPECT_THAT(annotated,
              StatusIs(absl::StatusCode::kNotFound, "loading agent.toml: no such file"));
}

TEST(AnnotateTest, KeepsPayloads) {
  absl::Status status = absl::AbortedError("conflict");
  status.SetPayload("type.tessera/retry", absl::Cord("later"));
  absl::Status annotated = Annotate(status, "round 3");
  ASSERT_TRUE(annotated.GetPayload("type.tessera/retry").has_value());
  EXPECT_EQ(std::string(*annotated.GetPayload("type.tessera/retry")), "later");
}

TEST(AnnotateTest, LeavesOkAlone) { EXPECT_THAT(Annotate(absl::OkStatus(), "anything"), IsOk()); }

TEST(StatusCodeNameTest, IsLowerCaseWithSpaces) {
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kInvalidArgument), "invalid argument");
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kUnavailable), "unavailable");
}

TEST(StatusMatchersTest, MatchersRejectWhatTheyShould) {
  // The matchers themselves must be able to fail, or every test using them is void.
  EXPECT_THAT(absl::InternalError("x"), Not(IsOk()));
  EXPECT_THAT(absl::InternalError("x"), Not(StatusIs(absl::StatusCode::kNotFound)));
  EXPECT_THAT(absl::InternalError("abc"),
              Not(StatusIs(absl::StatusCode::kInternal, HasSubstr("zzz"))));
  EXPECT_THAT(absl::StatusOr<int>(3), Not(IsOkAndHolds(4)));
  EXPECT_THAT(absl::StatusOr<int>(absl::InternalError("x")), Not(IsOkAndHolds(4)));
}

}  // namespace
}  // namespace tessera
