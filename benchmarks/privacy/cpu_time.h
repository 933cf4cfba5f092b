// Thread CPU time for the privacy benchmarks: on a machine shared with other
// work, time spent preempted would otherwise land on whichever operation was
// running when it happened.
//
// Thread-safety: reads this thread's clock only.
#pragma once

#include <time.h>

namespace tessera::privacy {

// Seconds of CPU time this thread has used so far.
inline double ThreadSeconds() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

}  // namespace tessera::privacy
