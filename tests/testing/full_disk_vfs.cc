#include "tests/testing/full_disk_vfs.h"

#include <atomic>
#include <cstring>
#include <mutex>

#include "sqlite3.h"

namespace tessera::testing {
namespace {

std::atomic<bool> full{false};
std::atomic<long> failed_writes{0};
sqlite3_vfs* real_vfs = nullptr;
sqlite3_vfs full_disk_vfs;

// Our file: the io methods below, followed in memory by the real VFS's file.
struct File {
  sqlite3_file base;
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

sqlite3_file* Real(sqlite3_file* file) { return reinterpret_cast<File*>(file)->real(); }

int Close(sqlite3_file* f) { return Real(f)->pMethods->xClose(Real(f)); }
int Read(sqlite3_file* f, void* buffer, int amount, sqlite3_int64 offset) {
  return Real(f)->pMethods->xRead(Real(f), buffer, amount, offset);
}
int Write(sqlite3_file* f, const void* buffer, int amount, sqlite3_int64 offset) {
  if (full.load()) {
    ++failed_writes;
    return SQLITE_FULL;
  }
  return Real(f)->pMethods->xWrite(Real(f), buffer, amount, offset);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int Sync(sqlite3_file* f, int flags) { return Real(f)->pMethods->xSync(Real(f), flags); }
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int Lock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShmMap(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), page, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}
int Fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return Real(f)->pMethods->xFetch(Real(f), offset, amount, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  return Real(f)->pMethods->xUnfetch(Real(f), offset, page);
}

const sqlite3_io_methods kMethods = {
    3,        Close,      Read,      Write,   Truncate, Sync,       FileSize,
    Lock,     Unlock,     CheckReservedLock,  FileControl,          SectorSize,
    DeviceCharacteristics, ShmMap,   ShmLock, ShmBarrier, ShmUnmap, Fetch,
    Unfetch};

int Open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  File* ours = reinterpret_cast<File*>(file);
  ours->base.pMethods = nullptr;
  int rc = real_vfs->xOpen(real_vfs, name, ours->real(), flags, out_flags);
  // The real file's methods are set whenever its xClose must be called.
  if (ours->real()->pMethods != nullptr) ours->base.pMethods = &kMethods;
  return rc;
}

}  // namespace

void FullDiskVfs::Install() {
  static std::once_flag once;
  std::call_once(once, [] {
    real_vfs = sqlite3_vfs_find(nullptr);
    std::memcpy(&full_disk_vfs, real_vfs, sizeof(full_disk_vfs));
    full_disk_vfs.zName = "tessera-full-disk";
    full_disk_vfs.szOsFile = static_cast<int>(sizeof(File)) + real_vfs->szOsFile;
    full_disk_vfs.xOpen = Open;
    full_disk_vfs.pNext = nullptr;
    sqlite3_vfs_register(&full_disk_vfs, /*makeDflt=*/1);
  });
}

void FullDiskVfs::SetFull(bool value) { full.store(value); }

long FullDiskVfs::FailedWrites() { return failed_writes.load(); }

}  // namespace tessera::testing
