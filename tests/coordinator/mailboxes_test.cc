// The long poll's mailboxes: work is handed out in order, to its own site
// only, and a waiting call ends on work, deadline, stop condition or close.
#include "coordinator/mailboxes.h"

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tessera::coordinator {
namespace {

tessera::v1::GetWorkResponse Aborted(const std::string& reason) {
  tessera::v1::GetWorkResponse work;
  work.mutable_aborted()->set_reason(reason);
  return work;
}

const auto kNever = [] { return false; };

TEST(MailboxesTest, HandsOutWorkInOrderToItsSiteOnly) {
  Mailboxes mailboxes;
  mailboxes.Post("rfh", Aborted("first"));
  mailboxes.Post("rfh", Aborted("second"));
  EXPECT_EQ(mailboxes.Pending("rfh"), 2u);
  tessera::v1::GetWorkResponse work;
  // Another site finds nothing and waits out its (already past) deadline.
  EXPECT_EQ(mailboxes.Take("guys", absl::Now(), kNever, &work), Mailboxes::WaitEnd::kDeadline);
  ASSERT_EQ(mailboxes.Take("rfh", absl::Now(), kNever, &work), Mailboxes::WaitEnd::kWork);
  EXPECT_EQ(work.aborted().reason(), "first");
  ASSERT_EQ(mailboxes.Take("rfh", absl::Now(), kNever, &work), Mailboxes::WaitEnd::kWork);
  EXPECT_EQ(work.aborted().reason(), "second");
  EXPECT_EQ(mailboxes.Pending("rfh"), 0u);
}

TEST(MailboxesTest, WaitingCallWakesForWorkPostedLater) {
  Mailboxes mailboxes;
  std::thread poster([&] {
    absl::SleepFor(absl::Milliseconds(50));
    mailboxes.Post("rfh", Aborted("late"));
  });
  tessera::v1::GetWorkResponse work;
  const auto end = mailboxes.Take("rfh", absl::Now() + absl::Seconds(30), kNever, &work);
  poster.join();
  ASSERT_EQ(end, Mailboxes::WaitEnd::kWork);
  EXPECT_EQ(work.aborted().reason(), "late");
}

TEST(MailboxesTest, StopConditionAndCloseEndTheWait) {
  Mailboxes mailboxes;
  std::atomic<bool> revoked{false};
  std::thread revoker([&] {
    absl::SleepFor(absl::Milliseconds(50));
    revoked = true;
    mailboxes.Interrupt();
  });
  tessera::v1::GetWorkResponse work;
  EXPECT_EQ(mailboxes.Take("rfh", absl::Now() + absl::Seconds(30), [&] { return revoked.load(); },
                           &work),
            Mailboxes::WaitEnd::kStopped);
  revoker.join();

  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(50));
    mailboxes.Close();
  });
  EXPECT_EQ(mailboxes.Take("rfh", absl::Now() + absl::Seconds(30), kNever, &work),
            Mailboxes::WaitEnd::kStopped);
  closer.join();
  // Closed stays closed, even with work queued.
  mailboxes.Post("rfh", Aborted("after"));
  EXPECT_EQ(mailboxes.Take("rfh", absl::Now() + absl::Seconds(30), kNever, &work),
            Mailboxes::WaitEnd::kStopped);
}

}  // namespace
}  // namespace tessera::coordinator
