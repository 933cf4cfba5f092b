#include "tests/testing/tcp_fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tessera::testing {
namespace {

// How much one direction may hold before the proxy stops reading from its
// source, so a fast sender meets back-pressure instead of filling memory.
constexpr size_t kMaxHeldBytes = 4u << 20;
constexpr size_t kReadChunk = 64u << 10;
// The longest the thread sleeps in poll() with nothing to wake it, so a
// mode change is seen promptly even if its wake-up byte were lost.
constexpr int kMaxPollMs = 50;

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Closes with a TCP reset rather than a FIN, as a link that goes down does
// to the peer's next read or write.
void Reset(int fd) {
  if (fd < 0) return;
  linger hard{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
  ::close(fd);
}

}  // namespace

struct TcpFaultProxy::Connection {
  struct Chunk {
    absl::Time release;
    std::string bytes;
    size_t written = 0;
  };
  // One direction: bytes read from `from`, waiting to be written to `to`.
  struct Direction {
    std::deque<Chunk> held;
    size_t held_bytes = 0;
  };
  int client = -1;
  int upstream = -1;
  Direction to_upstream;
  Direction to_client;
  // One end has closed: what is held is still delivered, then both close.
  bool draining = false;
  bool closed = false;

  void Close(bool reset) {
    if (closed) return;
    closed = true;
    if (reset) {
      Reset(client);
      Reset(upstream);
    } else {
      ::close(client);
      ::close(upstream);
    }
    client = upstream = -1;
  }
};

absl::StatusOr<std::unique_ptr<TcpFaultProxy>> TcpFaultProxy::Start(const std::string& target_host,
                                                                    int target_port) {
  in_addr target{};
  if (::inet_pton(AF_INET, target_host.c_str(), &target) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", target_host));
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(fd, 64) != 0) {
    auto status = Errno("bind/listen on 127.0.0.1");
    ::close(fd);
    return status;
  }
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  SetNonBlocking(fd);
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    auto status = Errno("pipe");
    ::close(fd);
    return status;
  }
  std::unique_ptr<TcpFaultProxy> proxy(new TcpFaultProxy(
      fd, wake[0], wake[1], ntohs(address.sin_port), target.s_addr, target_port));
  proxy->thread_ = std::thread([p = proxy.get()] { p->Loop(); });
  return proxy;
}

TcpFaultProxy::TcpFaultProxy(int listen_fd, int wake_read, int wake_write, int port,
                             uint32_t target_ip, int target_port)
    : listen_fd_(listen_fd),
      wake_read_(wake_read),
      wake_write_(wake_write),
      port_(port),
      target_ip_(target_ip),
      target_port_(target_port) {}

TcpFaultProxy::~TcpFaultProxy() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  const char byte = 0;
  (void)!::write(wake_write_, &byte, 1);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(wake_read_);
  ::close(wake_write_);
}

void TcpFaultProxy::SetMode(Mode mode, absl::Duration delay) {
  {
    absl::MutexLock lock(&mutex_);
    mode_ = mode;
    delay_ = delay;
  }
  const char byte = 0;
  (void)!::write(wake_write_, &byte, 1);
}

void TcpFaultProxy::Loop() {
  std::vector<std::unique_ptr<Connection>> connections;
  while (true) {
    Mode mode;
    absl::Duration delay;
    {
      absl::MutexLock lock(&mutex_);
      if (stopping_) break;
      mode = mode_;
      delay = delay_;
    }
    const absl::Time now = absl::Now();
    const bool moving = mode == Mode::kPass || mode == Mode::kDelay;
    if (mode == Mode::kDrop) {
      for (auto& connection : connections) connection->Close(/*reset=*/true);
    }
    connections.erase(std::remove_if(connections.begin(), connections.end(),
                                     [](const auto& c) { return c->closed; }),
                      connections.end());
    open_.store(static_cast<int64_t>(connections.size()));

    // poll() set: the wake pipe, the listener, then two entries per
    // connection (client, upstream).
    std::vector<pollfd> fds = {{wake_read_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    absl::Time next_release = now + absl::Milliseconds(kMaxPollMs);
    for (const auto& connection : connections) {
      short client_events = 0;
      short upstream_events = 0;
      if (moving) {
        if (!connection->draining && connection->to_upstream.held_bytes < kMaxHeldBytes) {
          client_events |= POLLIN;
        }
        if (!connection->draining && connection->to_client.held_bytes < kMaxHeldBytes) {
          upstream_events |= POLLIN;
        }
        // A chunk is written once its release time has come.
        for (auto* direction : {&connection->to_upstream, &connection->to_client}) {
          if (direction->held.empty()) continue;
          const absl::Time release = direction->held.front().release;
          if (release <= now) {
            (direction == &connection->to_upstream ? upstream_events : client_events) |= POLLOUT;
          } else {
            next_release = std::min(next_release, release);
          }
        }
      }
      // A negative descriptor is skipped by poll(): a socket the proxy is
      // not serving (black hole, back-pressure, a closed end being
      // drained) must not wake it with POLLHUP over and over.
      fds.push_back({client_events != 0 ? connection->client : -1, client_events, 0});
      fds.push_back({upstream_events != 0 ? connection->upstream : -1, upstream_events, 0});
    }
    const int timeout_ms = static_cast<int>(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(next_release - now + absl::Milliseconds(1))));
    if (::poll(fds.data(), fds.size(), std::min(timeout_ms, kMaxPollMs)) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & POLLIN) {
      char drain[64];
      while (::read(wake_read_, drain, sizeof(drain)) > 0) {
      }
    }
    const size_t polled = connections.size();
    if (fds[1].revents & POLLIN) {
      while (true) {
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) break;
        accepted_.fetch_add(1);
        if (mode == Mode::kDrop) {
          Reset(client);
          continue;
        }
        // The upstream is on this host: a blocking connect returns at once.
        const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in target{};
        target.sin_family = AF_INET;
        target.sin_addr.s_addr = target_ip_;
        target.sin_port = htons(static_cast<uint16_t>(target_port_));
        if (upstream < 0 ||
            ::connect(upstream, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
          if (upstream >= 0) ::close(upstream);
          Reset(client);
          continue;
        }
        const int one = 1;
        ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ::setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        SetNonBlocking(client);
        SetNonBlocking(upstream);
        auto connection = std::make_unique<Connection>();
        connection->client = client;
        connection->upstream = upstream;
        connections.push_back(std::move(connection));
      }
    }
    const absl::Time after = absl::Now();
    for (size_t k = 0; k < polled; ++k) {
      Connection& connection = *connections[k];
      const pollfd& client = fds[2 + 2 * k];
      const pollfd& upstream = fds[3 + 2 * k];
      // Read what arrived, stamped with the time it may leave.
      struct Leg {
        const pollfd* from;
        Connection::Direction* direction;
      };
      for (const Leg& leg : {Leg{&client, &connection.to_upstream},
                             Leg{&upstream, &connection.to_client}}) {
        if (connection.closed || connection.draining) break;
        if (leg.from->revents & (POLLIN | POLLHUP | POLLERR)) {
          std::string buffer(kReadChunk, '\0');
          const ssize_t n = ::read(leg.from == &client ? connection.client : connection.upstream, buffer.data(), buffer.size());
          if (n > 0) {
            buffer.resize(static_cast<size_t>(n));
            leg.direction->held_bytes += buffer.size();
            leg.direction->held.push_back(
                {after + (mode == Mode::kDelay ? delay : absl::ZeroDuration()), std::move(buffer)});
          } else if (n == 0) {
            // One end closed: the other is closed too once what is held
            // has gone out (gRPC never half-closes a connection).
            connection.draining = true;
          } else if (errno != EAGAIN && errno != EINTR) {
            connection.Close(/*reset=*/true);
          }
        }
      }
      // Write what is due.
      struct Out {
        const pollfd* to;
        Connection::Direction* direction;
      };
      for (const Out& out : {Out{&upstream, &connection.to_upstream},
                             Out{&client, &connection.to_client}}) {
        if (connection.closed) break;
        if (!(out.to->revents & POLLOUT)) continue;
        while (!out.direction->held.empty() && out.direction->held.front().release <= after) {
          Connection::Chunk& chunk = out.direction->held.front();
          const ssize_t n = ::send(out.to == &client ? connection.client : connection.upstream, chunk.bytes.data() + chunk.written,
                                   chunk.bytes.size() - chunk.written, MSG_NOSIGNAL);
          if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) connection.Close(/*reset=*/true);
            break;
          }
          chunk.written += static_cast<size_t>(n);
          if (chunk.written < chunk.bytes.size()) break;
          out.direction->held_bytes -= chunk.bytes.size();
          out.direction->held.pop_front();
        }
      }
      if (connection.draining && connection.to_upstream.held.empty() &&
          connection.to_client.held.empty()) {
        connection.Close(/*reset=*/false);
      }
    }
  }
  for (auto& connection : connections) connection->Close(/*reset=*/false);
  open_.store(0);
}

}  // namespace tessera::testing
