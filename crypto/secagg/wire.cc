#include "crypto/secagg/wire.h"

#include <algorithm>
#include <cstring>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::crypto::secagg {

void WireWriter::U16(uint16_t value) {
  U8(static_cast<uint8_t>(value >> 8));
  U8(static_cast<uint8_t>(value));
}

void WireWriter::U32(uint32_t value) {
  U16(static_cast<uint16_t>(value >> 16));
  U16(static_cast<uint16_t>(value));
}

void WireWriter::U64(uint64_t value) {
  U32(static_cast<uint32_t>(value >> 32));
  U32(static_cast<uint32_t>(value));
}

void WireWriter::Blob16(ByteSpan data) {
  U16(static_cast<uint16_t>(data.size()));
  Raw(data);
}

void WireWriter::Blob32(ByteSpan data) {
  U32(static_cast<uint32_t>(data.size()));
  Raw(data);
}

absl::Status WireReader::Error(absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(message_, ": ", what));
}

absl::StatusOr<ByteSpan> WireReader::Take(size_t size, absl::string_view field) {
  const size_t left = data_.size() - offset_;
  if (size > left) {
    return Error(
        absl::StrCat("truncated in `", field, "` (needs ", size, " bytes, ", left, " left)"));
  }
  ByteSpan taken = data_.subspan(offset_, size);
  offset_ += size;
  return taken;
}

absl::StatusOr<uint8_t> WireReader::U8(absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(ByteSpan bytes, Take(1, field));
  return bytes[0];
}

absl::StatusOr<uint16_t> WireReader::U16(absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(ByteSpan bytes, Take(2, field));
  return static_cast<uint16_t>(bytes[0] << 8 | bytes[1]);
}

absl::StatusOr<uint32_t> WireReader::U32(absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(ByteSpan bytes, Take(4, field));
  return static_cast<uint32_t>(bytes[0]) << 24 | static_cast<uint32_t>(bytes[1]) << 16 |
         static_cast<uint32_t>(bytes[2]) << 8 | static_cast<uint32_t>(bytes[3]);
}

absl::StatusOr<uint64_t> WireReader::U64(absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t high, U32(field));
  TESSERA_ASSIGN_OR_RETURN(uint32_t low, U32(field));
  return static_cast<uint64_t>(high) << 32 | low;
}

absl::StatusOr<ByteSpan> WireReader::Raw(size_t size, absl::string_view field) {
  return Take(size, field);
}

absl::StatusOr<ByteSpan> WireReader::Blob16(size_t max, absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(uint16_t size, U16(field));
  if (size > max) {
    return Error(absl::StrCat("`", field, "` is ", size, " bytes, at most ", max, " allowed"));
  }
  return Take(size, field);
}

absl::StatusOr<ByteSpan> WireReader::Blob32(size_t max, absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t size, U32(field));
  if (size > max) {
    return Error(absl::StrCat("`", field, "` is ", size, " bytes, at most ", max, " allowed"));
  }
  return Take(size, field);
}

absl::StatusOr<uint32_t> WireReader::Count(uint32_t max, size_t min_entry_size,
                                           absl::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(uint32_t count, U32(field));
  const size_t left = data_.size() - offset_;
  if (count > max || (min_entry_size > 0 && count > left / min_entry_size)) {
    return Error(absl::StrCat("`", field, "` claims ", count, " entries; at most ", max,
                              " allowed and ", left, " bytes left"));
  }
  return count;
}

absl::Status WireReader::ExpectEnd() const {
  if (offset_ != data_.size()) {
    return Error(absl::StrCat(data_.size() - offset_, " unexpected trailing bytes"));
  }
  return absl::OkStatus();
}

uint64_t PackedSize(uint64_t count, uint32_t bit_width) { return (count * bit_width + 7) / 8; }

void PackBits(absl::Span<const uint32_t> values, uint32_t bit_width, MutableByteSpan out) {
  if (bit_width == 32 || bit_width == 16) {
    // Byte-aligned widths: little-endian values, byte by byte.
    const size_t width = bit_width / 8;
    uint8_t* target = out.data();
    for (uint32_t value : values) {
      for (size_t byte = 0; byte < width; ++byte)
        *target++ = static_cast<uint8_t>(value >> (8 * byte));
    }
    return;
  }
  const uint64_t mask = (uint64_t{1} << bit_width) - 1;
  uint64_t buffer = 0;  // pending bits, least significant first
  uint32_t pending = 0;
  size_t written = 0;
  for (uint32_t value : values) {
    buffer |= (value & mask) << pending;
    pending += bit_width;
    while (pending >= 8) {
      out[written++] = static_cast<uint8_t>(buffer);
      buffer >>= 8;
      pending -= 8;
    }
  }
  if (pending > 0) out[written] = static_cast<uint8_t>(buffer);
}

absl::Status CheckPacked(ByteSpan packed, uint64_t count, uint32_t bit_width) {
  const uint64_t expected = PackedSize(count, bit_width);
  if (packed.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat("a packed vector of ", count, " values of ",
                                                   bit_width, " bits is ", expected, " bytes, got ",
                                                   packed.size()));
  }
  const uint64_t used_bits = (count * bit_width) % 8;
  if (used_bits != 0 && (packed[packed.size() - 1] >> used_bits) != 0) {
    return absl::InvalidArgumentError("the padding bits of a packed vector are not zero");
  }
  return absl::OkStatus();
}

namespace {

// accumulator[i] += the i-th little-endian Word of `packed`, for byte-aligned
// widths. Whole blocks go through a fixed-size buffer so the compiler
// vectorises the additions.
template <typename Word>
void AddAlignedWords(const uint8_t* packed, absl::Span<uint32_t> accumulator) {
  constexpr size_t kBlock = 1024;
  Word words[kBlock];
  size_t offset = 0;
  for (; offset < accumulator.size(); offset += kBlock) {
    const size_t count = std::min(kBlock, accumulator.size() - offset);
#if defined(ABSL_IS_LITTLE_ENDIAN)
    std::memcpy(words, packed + offset * sizeof(Word), count * sizeof(Word));
#else
    for (size_t i = 0; i < count; ++i) {
      Word word = 0;
      for (size_t byte = 0; byte < sizeof(Word); ++byte) {
        word = static_cast<Word>(
            word | static_cast<Word>(packed[(offset + i) * sizeof(Word) + byte]) << (8 * byte));
      }
      words[i] = word;
    }
#endif
    uint32_t* __restrict target = accumulator.data() + offset;
    if (count == kBlock) {
      for (size_t i = 0; i < kBlock; ++i) target[i] += words[i];
    } else {
      for (size_t i = 0; i < count; ++i) target[i] += words[i];
    }
  }
}

}  // namespace

void AddPackedBits(ByteSpan packed, uint32_t bit_width, absl::Span<uint32_t> accumulator) {
  if (bit_width == 32) return AddAlignedWords<uint32_t>(packed.data(), accumulator);
  if (bit_width == 16) return AddAlignedWords<uint16_t>(packed.data(), accumulator);
  const uint64_t mask = (uint64_t{1} << bit_width) - 1;
  uint64_t buffer = 0;
  uint32_t available = 0;
  size_t read = 0;
  for (uint32_t& slot : accumulator) {
    while (available < bit_width) {
      buffer |= static_cast<uint64_t>(packed[read++]) << available;
      available += 8;
    }
    slot += static_cast<uint32_t>(buffer & mask);
    buffer >>= bit_width;
    available -= bit_width;
  }
}

}  // namespace tessera::crypto::secagg
