// A disk that fills up on command, for tests of what the coordinator does
// when its storage cannot be written: an SQLite VFS that forwards to the
// default ("unix") VFS and, while full, fails every write that would store
// new bytes with SQLITE_FULL, as SQLite reports ENOSPC. Reads, locks and
// syncs go through untouched, so the database behaves as on a real full
// disk: a transaction fails at its first page write and rolls back.
//
// Install() registers it as the default VFS of the process (every database
// opened afterwards goes through it) and is idempotent; SetFull() switches
// the fault on and off.
//
// Thread-safety: SetFull and the VFS itself may be used from any thread.
#pragma once

namespace tessera::testing {

class FullDiskVfs {
 public:
  // Registers the VFS as SQLite's default. Call before opening databases.
  static void Install();
  static void SetFull(bool full);
  // How many writes failed since the process started.
  static long FailedWrites();
};

}  // namespace tessera::testing
