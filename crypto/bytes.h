// Byte-view vocabulary shared by crypto/: read-only and writable spans of
// bytes, and helpers to view strings as bytes.
//
// Thread-safety: plain views; they do not own what they point at.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tessera::crypto {

using ByteSpan = absl::Span<const uint8_t>;
using MutableByteSpan = absl::Span<uint8_t>;

// Views the characters of `text` as bytes (no copy).
inline ByteSpan AsBytes(absl::string_view text) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

// Views `bytes` as characters (no copy).
inline absl::string_view AsStringView(ByteSpan bytes) {
  return absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Copies `bytes` into a vector.
inline std::vector<uint8_t> ToVector(ByteSpan bytes) {
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace tessera::crypto
