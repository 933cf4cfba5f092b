#include "crypto/secagg/round_parameters.h"

#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::crypto::secagg {
namespace {

using ::tessera::testing::IsOkAndHolds;
using ::tessera::testing::StatusIs;
using ::testing::HasSubstr;

RoundParameters Valid() {
  RoundParameters p;
  p.job_id = "job-1";
  p.round = 3;
  p.participants = {"rfh", "nuth", "guys", "kch", "ouh", "uclh"};
  p.threshold = 3;
  p.neighbours = 4;
  p.bit_width = 16;
  p.vector_length = 100;
  p.graph_seed[0] = 1;
  return p;
}

TEST(RoundParametersTest, AcceptsAValidRound) {
  ASSERT_OK_AND_ASSIGN(RoundContext context, RoundContext::Create(Valid()));
  EXPECT_EQ(context.size(), 6u);
  EXPECT_EQ(context.graph().degree(), 4u);
  EXPECT_THAT(context.IndexOf("guys"), IsOkAndHolds(3u));
  EXPECT_EQ(context.SiteId(5), "ouh");
  EXPECT_THAT(context.IndexOf("stranger"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a participant")));
  EXPECT_EQ(context.DescribeSites({1, 4}), "`rfh`, `kch`");
}

TEST(RoundParametersTest, RejectsEachKindOfMistake) {
  struct Case {
    std::function<void(RoundParameters&)> change;
    const char* message;
  };
  const Case cases[] = {
      {[](RoundParameters& p) { p.job_id.clear(); }, "job id"},
      {[](RoundParameters& p) { p.job_id.assign(257, 'j'); }, "job id"},
      {[](RoundParameters& p) { p.participants.resize(2); }, "3 to 65535 participants"},
      {[](RoundParameters& p) { p.participants[3] = "rfh"; }, "listed twice"},
      {[](RoundParameters& p) { p.participants[2] = ""; }, "site id"},
      {[](RoundParameters& p) { p.participants[2] = "a\nb"; }, "control characters"},
      {[](RoundParameters& p) { p.bit_width = 0; }, "bit width"},
      {[](RoundParameters& p) { p.bit_width = 33; }, "bit width"},
      {[](RoundParameters& p) { p.vector_length = 0; }, "vector length"},
      {[](RoundParameters& p) { p.vector_length = kMaxVectorLength + 1; }, "vector length"},
      {[](RoundParameters& p) { p.threshold = 2; }, "k/2 < t <= k"},  // 2t = k
      {[](RoundParameters& p) { p.threshold = 5; }, "k/2 < t <= k"},  // t > k
      {[](RoundParameters& p) {
         p.participants.push_back("x");
         p.neighbours = 3;
       },
       "both odd"},
  };
  for (const Case& c : cases) {
    RoundParameters p = Valid();
    c.change(p);
    EXPECT_THAT(RoundContext::Create(p),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.message;
  }
}

TEST(RoundParametersTest, ZeroNeighboursMeansTheCompleteGraph) {
  RoundParameters p = Valid();
  p.neighbours = 0;
  p.threshold = 3;  // k = 5: t in 3..5
  ASSERT_OK_AND_ASSIGN(RoundContext context, RoundContext::Create(p));
  EXPECT_TRUE(context.graph().complete());
}

// The digest binds every parameter: changing any one changes it.
TEST(RoundParametersTest, DigestBindsEveryParameter) {
  ASSERT_OK_AND_ASSIGN(RoundContext base, RoundContext::Create(Valid()));
  const std::function<void(RoundParameters&)> changes[] = {
      [](RoundParameters& p) { p.job_id = "job-2"; },
      [](RoundParameters& p) { p.round = 4; },
      [](RoundParameters& p) { std::swap(p.participants[0], p.participants[1]); },
      [](RoundParameters& p) { p.participants[5] = "uclh2"; },
      [](RoundParameters& p) { p.threshold = 4; },
      [](RoundParameters& p) { p.neighbours = 0; },
      [](RoundParameters& p) { p.bit_width = 17; },
      [](RoundParameters& p) { p.vector_length = 101; },
      [](RoundParameters& p) { p.graph_seed[31] = 9; },
  };
  for (const auto& change : changes) {
    RoundParameters p = Valid();
    change(p);
    ASSERT_OK_AND_ASSIGN(RoundContext other, RoundContext::Create(p));
    EXPECT_NE(other.digest(), base.digest());
  }
  ASSERT_OK_AND_ASSIGN(RoundContext same, RoundContext::Create(Valid()));
  EXPECT_EQ(same.digest(), base.digest());
}

}  // namespace
}  // namespace tessera::crypto::secagg
