// UTF-8 validation for text read from a trust's data files.
//
// Implements the well-formedness rule of RFC 3629 section 4 (the UTF8-octets
// grammar), which is also Table 3-7 of the Unicode Standard (chapter 3.9):
// no overlong forms, no UTF-16 surrogates (U+D800..U+DFFF), nothing above
// U+10FFFF, no stray continuation bytes and no truncated sequences.
//
// Thread-safety: stateless.
#pragma once

#include "absl/strings/string_view.h"

namespace tessera::agent::data {

// True when `text` is well-formed UTF-8 per RFC 3629 section 4. The empty
// string is well-formed. U+0000 and the byte order mark U+FEFF are ordinary
// characters here (the CSV reader strips a leading BOM itself).
bool IsValidUtf8(absl::string_view text);

}  // namespace tessera::agent::data
