// Content-addressed storage of the objects the coordinator hands out:
// TorchScript models uploaded by ML leads and the global parameters of each
// round. An object's name is the SHA-256 of its bytes; it is written to a
// temporary file, checked against the hash it was announced with, and only
// then renamed into place, so a broken or forged upload never becomes
// visible.
//
// Layout: <dir>/objects/<sha256 hex> (files mode 0600, folder 0700).
//
// Thread-safety: all methods are thread-safe; concurrent writers of the
// same object are fine (the first commit wins, the others are duplicates).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/sha256.h"

namespace tessera::coordinator {

// OK when `hex` is 64 lower-case hex digits; INVALID_ARGUMENT otherwise.
absl::Status CheckSha256Hex(absl::string_view hex);

class ObjectStore {
 public:
  // Opens (creating if needed) the store under `dir`. Objects larger than
  // `max_object_bytes` are refused.
  static absl::StatusOr<std::unique_ptr<ObjectStore>> Open(const std::string& dir,
                                                           uint64_t max_object_bytes);

  // Receives one object in pieces.
  class Writer {
   public:
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    ~Writer();  // removes the temporary file unless committed

    // INVALID_ARGUMENT when the bytes go past the announced size.
    absl::Status Append(absl::string_view data);
    // Checks size and hash and makes the object visible. INVALID_ARGUMENT
    // (and nothing stored) when either differs from what was announced.
    absl::Status Commit();

   private:
    friend class ObjectStore;
    Writer(std::string temp_path, std::string final_path, std::string sha256_hex,
           uint64_t size, int fd);
    std::string temp_path_;
    std::string final_path_;
    std::string sha256_hex_;
    uint64_t size_;
    uint64_t received_ = 0;
    int fd_;
    bool committed_ = false;
    crypto::Sha256Hasher hasher_;
  };

  // Starts receiving an object announced as `sha256_hex` of `size` bytes.
  // INVALID_ARGUMENT for a malformed hash; RESOURCE_EXHAUSTED when `size`
  // exceeds the limit.
  absl::StatusOr<std::unique_ptr<Writer>> BeginWrite(const std::string& sha256_hex, uint64_t size);

  // Stores `bytes` in one go and returns its hash.
  absl::StatusOr<std::string> Put(absl::string_view bytes);

  // The size of a stored object; NOT_FOUND when there is none.
  absl::StatusOr<uint64_t> Size(const std::string& sha256_hex) const;

  // Up to `max_bytes` of the object from `offset`. NOT_FOUND when absent;
  // OUT_OF_RANGE when offset is past the end.
  absl::StatusOr<std::string> Read(const std::string& sha256_hex, uint64_t offset,
                                   uint64_t max_bytes) const;

  uint64_t max_object_bytes() const { return max_object_bytes_; }

 private:
  ObjectStore(std::string dir, uint64_t max_object_bytes)
      : dir_(std::move(dir)), max_object_bytes_(max_object_bytes) {}
  std::string PathOf(const std::string& sha256_hex) const { return dir_ + "/" + sha256_hex; }

  const std::string dir_;  // <dir>/objects
  const uint64_t max_object_bytes_;
};

}  // namespace tessera::coordinator
