// Hex helpers for known-answer tests.
//
// Thread-safety: stateless.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "crypto/bytes.h"

namespace tessera::crypto::testing {

// The bytes spelled by `hex` (lower or upper case, no separators).
inline std::vector<uint8_t> FromHex(absl::string_view hex) {
  const std::string bytes = absl::HexStringToBytes(hex);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

// Lower-case hex of `bytes`.
inline std::string ToHex(ByteSpan bytes) { return absl::BytesToHexString(AsStringView(bytes)); }

}  // namespace tessera::crypto::testing
