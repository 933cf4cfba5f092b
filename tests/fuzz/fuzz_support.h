// Support shared by the libFuzzer targets in tests/fuzz/: a scratch folder
// per fuzzing process, writing an input to a file for the readers that take
// a path, and "patch" inputs that alter an honest message in place so that
// the fuzzer gets past the parsers to the checks behind them.
//
// Thread-safety: none; libFuzzer calls a target from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tessera::fuzz {

// Turns off the project's logs (spdlog): the code under test logs every
// refusal, which would drown libFuzzer's report and slow the run down.
// Called from each target's LLVMFuzzerInitialize.
void QuietLogs();

// A fresh folder under $TMPDIR (or /tmp) for this process, removed at exit.
const std::string& ScratchDir();

// Removes everything inside `dir` (not `dir` itself).
void EmptyDir(const std::string& dir);

// Writes `data` to `path`, replacing it; aborts when the file cannot be
// written (the machine, not the input, is at fault).
void WriteFileOrDie(const std::string& path, absl::string_view data);

// Applies edits to `message`: `edits` is read as groups of three bytes, a
// little-endian 16-bit offset (modulo the message size) and a byte XORed
// into the message there. A final group of one or two bytes truncates the
// message at that offset instead, so that short messages are tried too.
std::vector<uint8_t> Patch(std::vector<uint8_t> message, const uint8_t* edits, size_t size);

}  // namespace tessera::fuzz
