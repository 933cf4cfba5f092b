#include "crypto/secret_bytes.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace tessera::crypto {
namespace {

internal::SecretReleaseObserver g_release_observer = nullptr;

// Wipes all `capacity` bytes of `buffer` and frees it.
void WipeAndRelease(std::unique_ptr<uint8_t[]> buffer, size_t capacity) {
  if (buffer == nullptr) return;
  OPENSSL_cleanse(buffer.get(), capacity);
  if (g_release_observer != nullptr) g_release_observer(buffer.get(), capacity);
}

}  // namespace

namespace internal {
void SetSecretReleaseObserverForTesting(SecretReleaseObserver observer) {
  g_release_observer = observer;
}
}  // namespace internal

SecretBytes::SecretBytes(size_t size) { Resize(size); }

SecretBytes SecretBytes::CopyFrom(ByteSpan bytes) {
  SecretBytes secret;
  secret.Append(bytes);
  return secret;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() { Clear(); }

void SecretBytes::Reallocate(size_t new_capacity) {
  std::unique_ptr<uint8_t[]> fresh(new uint8_t[new_capacity]);
  std::memset(fresh.get(), 0, new_capacity);
  if (size_ > 0) std::memcpy(fresh.get(), data_.get(), size_);
  WipeAndRelease(std::exchange(data_, std::move(fresh)), capacity_);
  capacity_ = new_capacity;
}

void SecretBytes::Resize(size_t new_size) {
  if (new_size > capacity_) {
    Reallocate(std::max(new_size, capacity_ * 2));
  } else if (new_size < size_) {
    OPENSSL_cleanse(data_.get() + new_size, size_ - new_size);
  }
  // Bytes between size_ and capacity_ are always zero, so growing within the
  // capacity needs no work.
  size_ = new_size;
}

void SecretBytes::Append(ByteSpan bytes) {
  if (bytes.empty()) return;
  const size_t old_size = size_;
  Resize(size_ + bytes.size());
  std::memcpy(data_.get() + old_size, bytes.data(), bytes.size());
}

void SecretBytes::Clear() {
  WipeAndRelease(std::move(data_), capacity_);
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
}

bool ConstantTimeEquals(ByteSpan a, ByteSpan b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tessera::crypto
