// Per-caller rate limits: a token bucket on a fake clock.
#include "coordinator/call_guard.h"

#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

TEST(RateLimiterTest, AllowsBurstThenRefillsAtRatePerCaller) {
  FakeClock clock;
  RateLimiter limiter(clock, /*rate=*/2, /*burst=*/3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("rfh")) << i;
  EXPECT_FALSE(limiter.Allow("rfh"));
  // Another caller has its own bucket.
  EXPECT_TRUE(limiter.Allow("guys"));

  clock.Advance(absl::Milliseconds(499));
  EXPECT_FALSE(limiter.Allow("rfh"));  // 0.998 tokens
  clock.Advance(absl::Milliseconds(2));
  EXPECT_TRUE(limiter.Allow("rfh"));
  EXPECT_FALSE(limiter.Allow("rfh"));

  // Refill never exceeds the burst.
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("rfh")) << i;
  EXPECT_FALSE(limiter.Allow("rfh"));
}

}  // namespace
}  // namespace tessera::coordinator
