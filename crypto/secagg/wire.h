// The byte encoding of secure-aggregation messages: big-endian integers,
// length-prefixed byte strings, and vectors of b-bit integers packed
// little-endian bit by bit (value i occupies bits [i*b, (i+1)*b) of the
// payload, least significant bit first), so a masked input costs exactly
// ceil(d*b/8) bytes on the wire.
//
// WireReader checks every length against what is left and against a caller's
// bound before reading, and reports the message and field that is wrong.
//
// Thread-safety: writers and readers are single-threaded values; the packing
// functions are stateless.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "crypto/bytes.h"

namespace tessera::crypto::secagg {

class WireWriter {
 public:
  void U8(uint8_t value) { bytes_.push_back(value); }
  void U16(uint16_t value);
  void U32(uint32_t value);
  void U64(uint64_t value);
  void Raw(ByteSpan data) { bytes_.insert(bytes_.end(), data.begin(), data.end()); }
  // A u16 length then the bytes. Precondition: data.size() <= 65535.
  void Blob16(ByteSpan data);
  // A u32 length then the bytes. Precondition: data.size() < 2^32.
  void Blob32(ByteSpan data);
  std::vector<uint8_t> Finish() && { return std::move(bytes_); }
  size_t size() const { return bytes_.size(); }

 private:
  std::vector<uint8_t> bytes_;
};

class WireReader {
 public:
  // `message` names what is being parsed, for error messages.
  WireReader(ByteSpan data, absl::string_view message) : data_(data), message_(message) {}

  // Each reads one field or returns INVALID_ARGUMENT naming the message and
  // `field` when the input is too short or a length exceeds `max`.
  absl::StatusOr<uint8_t> U8(absl::string_view field);
  absl::StatusOr<uint16_t> U16(absl::string_view field);
  absl::StatusOr<uint32_t> U32(absl::string_view field);
  absl::StatusOr<uint64_t> U64(absl::string_view field);
  absl::StatusOr<ByteSpan> Raw(size_t size, absl::string_view field);
  absl::StatusOr<ByteSpan> Blob16(size_t max, absl::string_view field);
  absl::StatusOr<ByteSpan> Blob32(size_t max, absl::string_view field);
  // A count of entries that follow, each at least `min_entry_size` bytes:
  // rejects counts above `max` or above what the remaining bytes can hold.
  absl::StatusOr<uint32_t> Count(uint32_t max, size_t min_entry_size, absl::string_view field);
  // OK when every byte was consumed; INVALID_ARGUMENT otherwise.
  absl::Status ExpectEnd() const;

  // An INVALID_ARGUMENT for this message: "<message>: <what>".
  absl::Status Error(absl::string_view what) const;

 private:
  absl::StatusOr<ByteSpan> Take(size_t size, absl::string_view field);
  ByteSpan data_;
  size_t offset_ = 0;
  std::string message_;
};

// ceil(count * bit_width / 8).
uint64_t PackedSize(uint64_t count, uint32_t bit_width);

// Packs the low `bit_width` bits of each value into `out`, which must be
// PackedSize(values.size(), bit_width) bytes; unused high bits of the last
// byte are zero. Preconditions: 1 <= bit_width <= 32, size matches.
void PackBits(absl::Span<const uint32_t> values, uint32_t bit_width, MutableByteSpan out);

// OK when `packed` is exactly PackedSize(count, bit_width) bytes and its
// padding bits are zero; INVALID_ARGUMENT otherwise.
absl::Status CheckPacked(ByteSpan packed, uint64_t count, uint32_t bit_width);

// accumulator[i] += value i of `packed` (mod 2^32). Precondition:
// CheckPacked(packed, accumulator.size(), bit_width) is OK.
void AddPackedBits(ByteSpan packed, uint32_t bit_width, absl::Span<uint32_t> accumulator);

}  // namespace tessera::crypto::secagg
