// A TCP proxy for end-to-end tests that puts network trouble between two
// real processes: it listens on 127.0.0.1 (port 0) and forwards each
// connection it accepts to a target address, and a test switches it at run
// time between
//   - pass:       bytes flow both ways as they arrive;
//   - delay:      each chunk read is held for a fixed time before it is
//                 forwarded, in each direction (order is kept);
//   - black hole: connections stay open and new ones are still accepted,
//                 but nothing moves either way, as when a firewall or a
//                 broken route silently drops packets; what was sent waits
//                 in the proxy and the kernel buffers, and flows on when the
//                 mode returns to pass (TCP would retransmit it too);
//   - drop:       every open connection is reset, and new ones are accepted
//                 and reset at once, as when a link goes down hard.
// It speaks plain TCP and knows nothing of TLS or gRPC, so a client's TLS
// session is with the real server behind it. When either end of a
// connection closes or fails, the proxy closes both ends.
//
// Thread-safety: the mode setters and counters may be called from any
// thread; one internal thread does all the forwarding; the destructor stops
// it and closes every socket.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tessera::testing {

class TcpFaultProxy {
 public:
  enum class Mode { kPass, kDelay, kBlackHole, kDrop };

  // Listens on 127.0.0.1:0 and forwards to `target_host`:`target_port` (an
  // IPv4 address). INTERNAL when a socket cannot be made.
  static absl::StatusOr<std::unique_ptr<TcpFaultProxy>> Start(const std::string& target_host,
                                                              int target_port);
  ~TcpFaultProxy();
  TcpFaultProxy(const TcpFaultProxy&) = delete;
  TcpFaultProxy& operator=(const TcpFaultProxy&) = delete;

  int port() const { return port_; }
  // "127.0.0.1:PORT", for a client's configuration.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Switch modes; each takes effect on the proxy's thread within a few
  // milliseconds. Data already held by the proxy is forwarded after its own
  // delay once the mode is pass or delay again.
  void Pass() { SetMode(Mode::kPass, absl::ZeroDuration()); }
  void Delay(absl::Duration each_way) { SetMode(Mode::kDelay, each_way); }
  void BlackHole() { SetMode(Mode::kBlackHole, absl::ZeroDuration()); }
  void Drop() { SetMode(Mode::kDrop, absl::ZeroDuration()); }

  // Connections accepted since the start, and those open now (both ends
  // connected). Tests use them to see that a client has (re)connected.
  int64_t connections_accepted() const { return accepted_.load(); }
  int64_t connections_open() const { return open_.load(); }

 private:
  struct Connection;

  TcpFaultProxy(int listen_fd, int wake_read, int wake_write, int port, uint32_t target_ip,
                int target_port);
  void SetMode(Mode mode, absl::Duration delay);
  void Loop();

  const int listen_fd_;
  const int wake_read_;
  const int wake_write_;
  const int port_;
  const uint32_t target_ip_;  // network byte order
  const int target_port_;

  mutable absl::Mutex mutex_;
  Mode mode_ ABSL_GUARDED_BY(mutex_) = Mode::kPass;
  absl::Duration delay_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;

  std::atomic<int64_t> accepted_{0};
  std::atomic<int64_t> open_{0};
  std::thread thread_;
};

}  // namespace tessera::testing
