#include "common/signals.h"

#include <pthread.h>
#include <signal.h>

namespace tessera {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set = TerminationSignals();
  int signal_number = 0;
  while (sigwait(&set, &signal_number) != 0) {
  }
  return signal_number;
}

int WaitForStopSignal(const std::function<void()>& on_hangup) {
  while (true) {
    const int signal_number = WaitForTerminationSignal();
    if (signal_number != SIGHUP) return signal_number;
    on_hangup();
  }
}

}  // namespace tessera
