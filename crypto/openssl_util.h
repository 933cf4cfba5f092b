// Owning pointers for every OpenSSL handle crypto/ uses, and the conversion
// of OpenSSL's error queue into an absl::Status.
//
// Every OpenSSL object lives in one of these unique_ptr aliases from the
// moment it is created, so no early return can leak it.
//
// Thread-safety: the aliases are plain owning pointers; OpenSslError reads
// and clears the calling thread's OpenSSL error queue only.
#pragma once

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tessera::crypto {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* handle) const { Free(handle); }
};

template <typename T, void (*Free)(T*)>
using OpenSslPtr = std::unique_ptr<T, OpenSslDeleter<T, Free>>;

using BioPtr = OpenSslPtr<BIO, BIO_free_all>;
using EvpCipherCtxPtr = OpenSslPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using EvpKdfCtxPtr = OpenSslPtr<EVP_KDF_CTX, EVP_KDF_CTX_free>;
using EvpKdfPtr = OpenSslPtr<EVP_KDF, EVP_KDF_free>;
using EvpMdCtxPtr = OpenSslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using EvpPkeyCtxPtr = OpenSslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpPkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = OpenSslPtr<X509, X509_free>;
using X509StoreCtxPtr = OpenSslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509StorePtr = OpenSslPtr<X509_STORE, X509_STORE_free>;

// A status with `code` whose message is `what` followed by the reasons in the
// calling thread's OpenSSL error queue, which it clears.
absl::Status OpenSslError(absl::StatusCode code, absl::string_view what);

// Drops whatever is in the calling thread's OpenSSL error queue (after a
// failure that was handled and must not show up in a later message).
void ClearOpenSslErrors();

// For OpenSSL calls that only fail when memory runs out or the library is
// broken: prints `what` and the error queue to stderr and aborts. Used where
// a Status would only add noise to every caller (digests, the keystream).
[[noreturn]] void DieOnOpenSslFailure(absl::string_view what);

}  // namespace tessera::crypto
