// Orderly shutdown on SIGINT and SIGTERM for the daemons.
//
// Call BlockTerminationSignals() first thing in main, before any thread is
// started (threads inherit the mask), then WaitForTerminationSignal() on the
// main thread once the work runs elsewhere.
//
// Thread-safety: call both from the main thread only.
#pragma once

namespace tessera {

// Blocks SIGINT, SIGTERM and SIGHUP for this thread and every thread it
// starts afterwards, so they can be taken synchronously.
void BlockTerminationSignals();

// Waits until SIGINT, SIGTERM or SIGHUP arrives and returns its number.
int WaitForTerminationSignal();

}  // namespace tessera
