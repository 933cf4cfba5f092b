// The tests start processes and make temporary folders with the product's
// own helpers (common/subprocess.h), under the names they have always used
// in tessera::testing.
//
// Thread-safety: as common/subprocess.h.
#pragma once

#include "common/subprocess.h"

namespace tessera::testing {

using ::tessera::RunCommand;
using ::tessera::RunResult;
using ::tessera::Subprocess;
using ::tessera::TempDir;
using ::tessera::WaitForFile;

}  // namespace tessera::testing
