// Orderly shutdown on SIGINT and SIGTERM for the daemons, and reload on
// SIGHUP.
//
// Call BlockTerminationSignals() first thing in main, before any thread is
// started (threads inherit the mask), then WaitForStopSignal() (or
// WaitForTerminationSignal()) on the main thread once the work runs
// elsewhere.
//
// Thread-safety: call these from the main thread only.
#pragma once

#include <functional>

namespace tessera {

// Blocks SIGINT, SIGTERM and SIGHUP for this thread and every thread it
// starts afterwards, so they can be taken synchronously.
void BlockTerminationSignals();

// Waits until SIGINT, SIGTERM or SIGHUP arrives and returns its number.
int WaitForTerminationSignal();

// Waits until SIGINT or SIGTERM arrives and returns its number; calls
// `on_hangup` on this thread for every SIGHUP that arrives meanwhile (the
// daemons' reload).
int WaitForStopSignal(const std::function<void()>& on_hangup);

}  // namespace tessera
