#include "coordinator/object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"
#include "crypto/bytes.h"

namespace tessera::coordinator {
namespace {

absl::Status Errno(absl::string_view action, const std::string& path) {
  const int err = errno;
  std::string message = absl::StrCat("cannot ", action, " `", path, "`: ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) {
    return absl::ResourceExhaustedError(absl::StrCat(message, "; free disk space on the coordinator"));
  }
  return absl::InternalError(message);
}

}  // namespace

absl::Status CheckSha256Hex(absl::string_view hex) {
  if (!crypto::IsSha256Hex(hex)) {
    return absl::InvalidArgumentError(
        "an object name must be the SHA-256 of its bytes as 64 lower-case hex digits");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ObjectStore>> ObjectStore::Open(const std::string& dir,
                                                               uint64_t max_object_bytes) {
  TESSERA_RETURN_IF_ERROR(CreatePrivateDirectory(dir));
  TESSERA_RETURN_IF_ERROR(CreatePrivateDirectory(dir + "/objects"));
  return std::unique_ptr<ObjectStore>(new ObjectStore(dir + "/objects", max_object_bytes));
}

ObjectStore::Writer::Writer(std::string temp_path, std::string final_path, std::string sha256_hex,
                            uint64_t size, int fd)
    : temp_path_(std::move(temp_path)),
      final_path_(std::move(final_path)),
      sha256_hex_(std::move(sha256_hex)),
      size_(size),
      fd_(fd) {}

ObjectStore::Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

absl::Status ObjectStore::Writer::Append(absl::string_view data) {
  if (committed_) return absl::FailedPreconditionError("the object is already complete");
  if (data.size() > size_ - received_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the object is longer than the ", size_, " bytes announced"));
  }
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd_, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", temp_path_);
    }
    written += static_cast<size_t>(n);
  }
  hasher_.Update(crypto::AsBytes(data));
  received_ += data.size();
  return absl::OkStatus();
}

absl::Status ObjectStore::Writer::Commit() {
  if (committed_) return absl::OkStatus();
  if (received_ != size_) {
    return absl::InvalidArgumentError(absl::StrCat("the object ended after ", received_,
                                                   " of the ", size_, " bytes announced"));
  }
  const std::string actual = crypto::DigestHex(hasher_.Finish());
  if (actual != sha256_hex_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the object's SHA-256 is ", actual, ", not the ", sha256_hex_,
        " announced; it was corrupted in transit or the announcement is wrong"));
  }
  if (::fsync(fd_) != 0) return Errno("flush", temp_path_);
  ::close(fd_);
  fd_ = -1;
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) return Errno("store", final_path_);
  committed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ObjectStore::Writer>> ObjectStore::BeginWrite(
    const std::string& sha256_hex, uint64_t size) {
  TESSERA_RETURN_IF_ERROR(CheckSha256Hex(sha256_hex));
  if (size > max_object_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("an object of ", size,
                                                     " bytes is larger than the limit of ",
                                                     max_object_bytes_, " bytes"));
  }
  static std::atomic<uint64_t> counter{0};
  const std::string temp =
      absl::StrCat(dir_, "/.incoming-", ::getpid(), "-", counter.fetch_add(1), "-", sha256_hex);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create", temp);
  return std::unique_ptr<Writer>(new Writer(temp, PathOf(sha256_hex), sha256_hex, size, fd));
}

absl::StatusOr<std::string> ObjectStore::Put(absl::string_view bytes) {
  const std::string hex = crypto::Sha256Hex(bytes);
  if (Size(hex).ok()) return hex;
  TESSERA_ASSIGN_OR_RETURN(auto writer, BeginWrite(hex, bytes.size()));
  TESSERA_RETURN_IF_ERROR(writer->Append(bytes));
  TESSERA_RETURN_IF_ERROR(writer->Commit());
  return hex;
}

absl::StatusOr<uint64_t> ObjectStore::Size(const std::string& sha256_hex) const {
  TESSERA_RETURN_IF_ERROR(CheckSha256Hex(sha256_hex));
  struct stat info;
  if (::stat(PathOf(sha256_hex).c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("no object ", sha256_hex));
  }
  return static_cast<uint64_t>(info.st_size);
}

absl::StatusOr<std::string> ObjectStore::Read(const std::string& sha256_hex, uint64_t offset,
                                              uint64_t max_bytes) const {
  TESSERA_ASSIGN_OR_RETURN(uint64_t size, Size(sha256_hex));
  if (offset > size) {
    return absl::OutOfRangeError(
        absl::StrCat("offset ", offset, " is past the end of the ", size, "-byte object"));
  }
  const uint64_t length = std::min(max_bytes, size - offset);
  std::string out(length, '\0');
  int fd = ::open(PathOf(sha256_hex).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", PathOf(sha256_hex));
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status status = Errno("read", PathOf(sha256_hex));
      ::close(fd);
      return status;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

}  // namespace tessera::coordinator
