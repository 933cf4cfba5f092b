// Small file helpers with Status errors that name the file and the fix.
//
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

// Reads the whole file at `path`. NOT_FOUND when it does not exist,
// PERMISSION_DENIED when it cannot be opened, FAILED_PRECONDITION otherwise.
// `what` describes the file in messages ("CA certificate").
absl::StatusOr<std::string> ReadFileToString(const std::string& path, absl::string_view what);

// Writes `contents` to `path` atomically (temporary file in the same folder,
// fsync, rename) with permission bits `mode`, so a crash never leaves a
// half-written file and a private key is never readable by others, not even
// briefly.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 unsigned mode);

// Creates the directory `path` with mode 0700 (owner only); OK when it
// already exists. Errors as for the files above, naming the directory.
absl::Status CreatePrivateDirectory(const std::string& path);

// OK when the private key at `path` is a regular file readable only by its
// owner (no group or other permission bits); FAILED_PRECONDITION with the
// `chmod` to run otherwise.
absl::Status CheckPrivateKeyFileMode(const std::string& path);

}  // namespace tessera
