// The fault proxy in front of a plain TCP echo server: each mode does to a
// connection what the end-to-end tests rely on it to do.
#include "tests/testing/tcp_fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tessera::testing {
namespace {

// Echoes every byte back on each connection, one thread per connection.
class EchoServer {
 public:
  EchoServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t length = sizeof(address);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] {
      while (true) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) return;  // the listener was shut down
        absl::MutexLock lock(&mutex_);
        connections_.push_back(fd);
        echoers_.emplace_back([fd] {
          char buffer[4096];
          ssize_t n;
          while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) {
            if (::send(fd, buffer, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return;
          }
        });
      }
    });
  }
  ~EchoServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    absl::MutexLock lock(&mutex_);
    for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    for (std::thread& echoer : echoers_) echoer.join();
    for (int fd : connections_) ::close(fd);
  }
  int port() const { return port_; }

 private:
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  absl::Mutex mutex_;
  std::vector<int> connections_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::thread> echoers_ ABSL_GUARDED_BY(mutex_);
};

// A client socket connected to 127.0.0.1:`port`, closed on destruction.
class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool Send(const std::string& text) {
    return ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
  }
  // Reads `size` bytes within `timeout`: DEADLINE_EXCEEDED if they do not
  // all come, UNAVAILABLE if the connection ends or is reset first.
  absl::StatusOr<std::string> Read(size_t size, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    std::string got;
    while (got.size() < size) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError(absl::StrCat("got ", got.size(), " of ", size, " bytes"));
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fd_, buffer, std::min(sizeof(buffer), size - got.size()));
      if (n == 0) return absl::UnavailableError("the connection was closed");
      if (n < 0) return absl::UnavailableError(absl::StrCat("read failed, errno ", errno));
      got.append(buffer, static_cast<size_t>(n));
    }
    return got;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class TcpFaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(proxy_, TcpFaultProxy::Start("127.0.0.1", echo_.port())); }
  EchoServer echo_;
  std::unique_ptr<TcpFaultProxy> proxy_;
};

TEST_F(TcpFaultProxyTest, PassForwardsBothWays) {
  Client client(proxy_->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send("hello, trust"));
  EXPECT_EQ(*client.Read(12, absl::Seconds(10)), "hello, trust");
  EXPECT_EQ(proxy_->connections_accepted(), 1);
}

TEST_F(TcpFaultProxyTest, DelayHoldsEachChunkInEachDirection) {
  proxy_->Delay(absl::Milliseconds(300));
  Client client(proxy_->port());
  ASSERT_TRUE(client.connected());
  const absl::Time sent = absl::Now();
  ASSERT_TRUE(client.Send("slow"));
  EXPECT_EQ(*client.Read(4, absl::Seconds(10)), "slow");
  // A lower bound only: the echo went through the proxy twice, 300 ms
  // each, so it cannot be back sooner whatever the machine's load.
  EXPECT_GE(absl::Now() - sent, absl::Milliseconds(600));
}

TEST_F(TcpFaultProxyTest, BlackHoleForwardsNothingButKeepsConnectionsUntilRestored) {
  Client before(proxy_->port());
  ASSERT_TRUE(before.connected());
  ASSERT_TRUE(before.Send("a"));
  ASSERT_EQ(*before.Read(1, absl::Seconds(10)), "a");

  proxy_->BlackHole();
  absl::SleepFor(absl::Milliseconds(100));  // the mode reaches the proxy's thread
  ASSERT_TRUE(before.Send("lost?"));
  Client during(proxy_->port());  // still accepted
  ASSERT_TRUE(during.connected());
  ASSERT_TRUE(during.Send("later"));
  EXPECT_EQ(before.Read(5, absl::Milliseconds(700)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(during.Read(5, absl::Milliseconds(300)).status().code(),
            absl::StatusCode::kDeadlineExceeded);

  // Restored: what waited goes through, on both connections, as TCP
  // would retransmit it after a routing fault.
  proxy_->Pass();
  EXPECT_EQ(*before.Read(5, absl::Seconds(10)), "lost?");
  EXPECT_EQ(*during.Read(5, absl::Seconds(10)), "later");
}

TEST_F(TcpFaultProxyTest, DropResetsOpenConnectionsAndNewOnesUntilRestored) {
  Client before(proxy_->port());
  ASSERT_TRUE(before.connected());
  ASSERT_TRUE(before.Send("a"));
  ASSERT_EQ(*before.Read(1, absl::Seconds(10)), "a");

  proxy_->Drop();
  // The open connection ends (reset) without an echo.
  EXPECT_EQ(before.Read(1, absl::Seconds(10)).status().code(), absl::StatusCode::kUnavailable);
  Client during(proxy_->port());
  during.Send("x");  // may fail already: the reset can come first
  EXPECT_EQ(during.Read(1, absl::Seconds(10)).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(proxy_->connections_open(), 0);

  proxy_->Pass();
  absl::SleepFor(absl::Milliseconds(100));
  Client after(proxy_->port());
  ASSERT_TRUE(after.connected());
  ASSERT_TRUE(after.Send("back"));
  EXPECT_EQ(*after.Read(4, absl::Seconds(10)), "back");
}

}  // namespace
}  // namespace tessera::testing
