// What a process on this machine has used so far, read from /proc (Linux):
// the load generator samples the coordinator's CPU time and memory with
// these, and its own CPU time with SelfCpuSeconds.
//
// Thread-safety: stateless functions; safe from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera::loadgen {

// User plus system CPU time of `pid` in seconds: fields 14 (utime) and 15
// (stime) of /proc/PID/stat, in clock ticks of sysconf(_SC_CLK_TCK), so the
// resolution is one tick (10 ms on Debian's kernels). Includes every thread
// of the process, not its children. NOT_FOUND when the process is gone;
// INTERNAL when the file does not parse.
absl::StatusOr<double> ProcessCpuSeconds(pid_t pid);

// One "Vm..." line of /proc/PID/status in bytes, e.g. "VmHWM" (peak
// resident set) or "VmRSS" (resident set now). NOT_FOUND when the process
// is gone or has no such line; INTERNAL when the value does not parse.
absl::StatusOr<uint64_t> ProcessMemoryBytes(pid_t pid, absl::string_view field);

// User plus system CPU time of this process so far, every thread
// (getrusage(RUSAGE_SELF)).
double SelfCpuSeconds();

}  // namespace tessera::loadgen
