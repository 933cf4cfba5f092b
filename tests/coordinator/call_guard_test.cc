// Per-caller rate limits: a token bucket on a fake clock. People's
// sessions: a login at the first call and after an hour without calls.
#include "coordinator/call_guard.h"

#include <string>
#include <vector>

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

transport::PeerIdentity Person(const std::string& id, transport::Role role) {
  return {id, role, "1F", absl::FromUnixSeconds(1'900'000'000)};
}

TEST(SessionsTest, LoginAtFirstCallAndAfterAnHourIdle) {
  FakeClock clock;
  std::vector<std::string> logins;
  Sessions sessions(clock, [&](const transport::PeerIdentity& person, absl::string_view method) {
    logins.push_back(person.id + " " + std::string(method));
  });
  const auto alice = Person("alice", transport::Role::kGovernance);
  EXPECT_TRUE(sessions.Touch(alice, "Admin.ListJobs"));
  // Calls every 50 minutes keep the session open for hours: idleness is
  // measured from the last call, not from the login.
  for (int i = 0; i < 4; ++i) {
    clock.Advance(absl::Minutes(50));
    EXPECT_FALSE(sessions.Touch(alice, "Admin.GetJob")) << i;
  }
  clock.Advance(Sessions::kIdle - absl::Seconds(1));
  EXPECT_FALSE(sessions.Touch(alice, "Admin.GetJob"));
  clock.Advance(Sessions::kIdle);
  EXPECT_TRUE(sessions.Touch(alice, "Admin.DecideJob"));
  EXPECT_EQ(logins, (std::vector<std::string>{"alice Admin.ListJobs", "alice Admin.DecideJob"}));
}

TEST(SessionsTest, EachPersonAndRoleHasItsOwnSessionAndMachinesHaveNone) {
  FakeClock clock;
  int logins = 0;
  Sessions sessions(clock, [&](const transport::PeerIdentity&, absl::string_view) { ++logins; });
  EXPECT_TRUE(sessions.Touch(Person("alice", transport::Role::kOperator), "Admin.Status"));
  EXPECT_TRUE(sessions.Touch(Person("alice", transport::Role::kAuditor), "Admin.Status"));
  EXPECT_TRUE(sessions.Touch(Person("bob", transport::Role::kMlLead), "Admin.Status"));
  EXPECT_FALSE(sessions.Touch(Person("alice", transport::Role::kOperator), "Admin.Status"));
  EXPECT_FALSE(sessions.Touch(Person("rfh", transport::Role::kSite), "Federation.Heartbeat"));
  EXPECT_FALSE(sessions.Touch(Person("coordinator", transport::Role::kCoordinator), "x"));
  EXPECT_EQ(logins, 3);
}

// The identity source is the seam the fuzz targets use to call the handlers
// without TLS: whatever it names is admitted or refused by role and rate
// exactly as a caller named by its certificate.
TEST(CallGuardTest, AdmitsOrRefusesTheCallerItsIdentitySourceNames) {
  FakeClock clock;
  Revocations revocations("", "");  // no list in force: nobody is revoked
  RateLimiter limiter(clock, /*rate=*/1, /*burst=*/1);
  transport::PeerIdentity caller = Person("demo-governance", transport::Role::kGovernance);
  CallGuard guard(revocations, limiter, nullptr,
                  [&caller](const grpc::ServerContext&) -> absl::StatusOr<transport::PeerIdentity> {
                    return caller;
                  });
  grpc::ServerContext context;

  absl::StatusOr<transport::PeerIdentity> admitted =
      guard.Admit(context, {transport::Role::kGovernance}, "Admin.DecideJob");
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->id, "demo-governance");

  caller = Person("rfh", transport::Role::kSite);
  EXPECT_EQ(guard.Admit(context, {transport::Role::kGovernance}, "Admin.DecideJob").status().code(),
            absl::StatusCode::kPermissionDenied);

  // The governance caller's one token (burst 1) is spent.
  caller = Person("demo-governance", transport::Role::kGovernance);
  EXPECT_EQ(guard.Admit(context, {transport::Role::kGovernance}, "Admin.DecideJob").status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace tessera::coordinator
