#include "tests/fuzz/fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "spdlog/spdlog.h"

namespace tessera::fuzz {
namespace {

struct Scratch {
  std::string path;
  Scratch() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                          "/tessera-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    path = pattern;
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

void QuietLogs() { spdlog::set_level(spdlog::level::off); }

const std::string& ScratchDir() {
  static Scratch scratch;
  return scratch.path;
}

void EmptyDir(const std::string& dir) {
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ignored)) {
    std::filesystem::remove_all(entry.path(), ignored);
  }
}

void WriteFileOrDie(const std::string& path, absl::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) {
    std::perror(path.c_str());
    std::abort();
  }
}

std::vector<uint8_t> Patch(std::vector<uint8_t> message, const uint8_t* edits, size_t size) {
  size_t i = 0;
  for (; i + 3 <= size && !message.empty(); i += 3) {
    const size_t offset = (size_t{edits[i]} | size_t{edits[i + 1]} << 8) % message.size();
    message[offset] ^= edits[i + 2];
  }
  if (i < size && !message.empty()) {
    size_t cut = edits[i];
    if (i + 1 < size) cut |= size_t{edits[i + 1]} << 8;
    message.resize(cut % message.size());
  }
  return message;
}

}  // namespace tessera::fuzz
