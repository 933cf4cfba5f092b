// SecretBytes: the one container for key material and other secrets in
// Tessera.
//
// It owns a heap buffer that is overwritten with OPENSSL_cleanse before it is
// released: on destruction, on Clear(), on move-assignment over it, when it
// shrinks (the cut-off tail) and when it grows (the old buffer is wiped after
// its bytes are copied to the new one). It is move-only, so secrets are never
// duplicated by accident (Clone() is explicit), and it cannot be printed or
// streamed, so secrets never reach logs or Status messages.
//
// ConstantTimeEquals compares byte strings with CRYPTO_memcmp: the time taken
// depends on the length only, never on where the first difference is.
//
// Thread-safety: a SecretBytes is a plain value; const methods may be called
// concurrently, mutation needs external synchronisation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>

#include "crypto/bytes.h"

namespace tessera::crypto {

class SecretBytes {
 public:
  // An empty secret.
  SecretBytes() = default;
  // `size` zero bytes.
  explicit SecretBytes(size_t size);
  // A copy of `bytes` (the caller remains responsible for wiping its own copy).
  static SecretBytes CopyFrom(ByteSpan bytes);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  // An explicit deep copy.
  SecretBytes Clone() const { return CopyFrom(span()); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  ByteSpan span() const { return ByteSpan(data_.get(), size_); }
  MutableByteSpan mutable_span() { return MutableByteSpan(data_.get(), size_); }

  // Changes the size to `new_size`. New bytes are zero. Shrinking wipes the
  // removed tail; growing beyond the capacity moves the bytes to a new buffer
  // and wipes the old one before releasing it.
  void Resize(size_t new_size);
  // Appends `bytes` (which must not alias this secret's own buffer).
  void Append(ByteSpan bytes);
  // Wipes and releases the buffer; the secret becomes empty.
  void Clear();

  // Secrets are never printed.
  friend std::ostream& operator<<(std::ostream&, const SecretBytes&) = delete;

 private:
  void Reallocate(size_t new_capacity);

  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// True when `a` and `b` have the same length and the same bytes. Runs in time
// that depends only on the lengths (CRYPTO_memcmp).
bool ConstantTimeEquals(ByteSpan a, ByteSpan b);

namespace internal {
// Called with every buffer SecretBytes releases, after it was wiped and
// before it is freed. Tests install one to check the wiping; production code
// never does. Pass nullptr to remove it. Not thread-safe: install it before
// any other thread uses SecretBytes.
using SecretReleaseObserver = void (*)(const uint8_t* data, size_t capacity);
void SetSecretReleaseObserverForTesting(SecretReleaseObserver observer);
}  // namespace internal

}  // namespace tessera::crypto
