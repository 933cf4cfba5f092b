// Throughput of the CSV reader and of the full check-and-statistics pass,
// each as a ratio against reading the same file in the same blocks and only
// counting its line breaks (the least any reader must do), measured in the
// same run on a file in the page cache.
//
// The file is generated in a private temporary directory, shaped like a
// clinical extract (numbers, categories, a quoted free-text column with
// commas); TESSERA_CSV_BENCH_MB sets its size (default 64). The peak bytes
// the reader held and the process's maximum resident set size show that
// memory does not grow with the file; benchmarks/agent/csv_stream_1gb.sh runs
// it on 1 GB.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/data/csv_reader.h"
#include "agent/data/statistics.h"
#include "benchmark/benchmark.h"

namespace tessera::agent::data {
namespace {

constexpr size_t kBlockSize = 256 * 1024;

class BenchmarkFile {
 public:
  BenchmarkFile() {
    const char* megabytes = std::getenv("TESSERA_CSV_BENCH_MB");
    target_bytes_ = static_cast<size_t>(megabytes != nullptr ? std::atoll(megabytes) : 64) << 20;
    std::string pattern = (std::filesystem::temp_directory_path() / "tessera-bench-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    directory_ = pattern;
    path_ = directory_ + "/records.csv";
    Write();
    WarmPageCache();
  }
  ~BenchmarkFile() { std::filesystem::remove_all(directory_); }

  const std::string& path() const { return path_; }
  size_t bytes() const { return bytes_; }

 private:
  void Write() {
    std::FILE* out = std::fopen(path_.c_str(), "wb");
    if (out == nullptr) std::abort();
    std::string chunk = "id,age,sex,bmi,hba1c,smoker,outcome,notes\r\n";
    uint64_t state = 12345;
    for (int64_t id = 0; bytes_ + chunk.size() < target_bytes_; ++id) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;  // Knuth's MMIX LCG
      const auto r = static_cast<uint32_t>(state >> 33);
      absl::StrAppend(&chunk, id, ",", 18 + r % 80, ",", (r & 1) != 0 ? "female" : "male", ",",
                      15 + (r >> 8) % 300 / 10.0, ",", 4 + (r >> 12) % 90 / 10.0, ",",
                      (r >> 3) & 1, ",", (r >> 5) & 1, ",");
      if ((r & 6) == 0) {
        absl::StrAppend(&chunk, "\"seen in clinic, follow-up booked; note \"\"", r % 97,
                        "\"\"\"\r\n");
      } else {
        absl::StrAppend(&chunk, "\r\n");
      }
      if (chunk.size() > (1 << 20)) Flush(out, &chunk);
    }
    Flush(out, &chunk);
    std::fclose(out);
  }
  // One untimed read, so that the first benchmark does not pay for writing
  // the file back or reading it from disk.
  void WarmPageCache() const {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) std::abort();
    ::fsync(fd);
    std::vector<char> buffer(kBlockSize);
    while (::read(fd, buffer.data(), buffer.size()) > 0) {
    }
    ::close(fd);
  }
  void Flush(std::FILE* out, std::string* chunk) {
    if (std::fwrite(chunk->data(), 1, chunk->size(), out) != chunk->size()) std::abort();
    bytes_ += chunk->size();
    chunk->clear();
  }

  size_t target_bytes_ = 0;
  size_t bytes_ = 0;
  std::string directory_;
  std::string path_;
};

const BenchmarkFile& File() {
  static const BenchmarkFile* file = new BenchmarkFile();
  return *file;
}

double MaxResidentMegabytes() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

void CountFileBytes(benchmark::State& state) {
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(File().bytes()));
}

void BM_BaselineReadBlocks(benchmark::State& state) {
  std::vector<char> buffer(kBlockSize);
  for (auto _ : state) {
    const int fd = ::open(File().path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) std::abort();
    int64_t lines = 0;
    for (;;) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n <= 0) break;
      const char* at = buffer.data();
      const char* end = buffer.data() + n;
      while ((at = static_cast<const char*>(std::memchr(at, '\n', static_cast<size_t>(end - at)))) !=
             nullptr) {
        ++lines;
        ++at;
      }
    }
    ::close(fd);
    benchmark::DoNotOptimize(lines);
  }
  CountFileBytes(state);
}

void BM_CsvReader(benchmark::State& state) {
  size_t peak = 0;
  int64_t records = 0;
  for (auto _ : state) {
    CsvOptions options;
    options.block_size = kBlockSize;
    auto reader = CsvReader::Open("bench", File().path(), options);
    if (!reader.ok()) {
      state.SkipWithError(std::string(reader.status().message()).c_str());
      return;
    }
    Record record;
    records = 0;
    for (;;) {
      absl::StatusOr<bool> more = (*reader)->Next(&record);
      if (!more.ok() || !*more) break;
      ++records;
    }
    peak = (*reader)->peak_held_bytes();
  }
  CountFileBytes(state);
  state.counters["records"] = static_cast<double>(records);
  state.counters["peak_held_KiB"] = static_cast<double>(peak) / 1024.0;
  state.counters["max_rss_MiB"] = MaxResidentMegabytes();
}

void BM_CheckAndStatistics(benchmark::State& state) {
  Schema schema;
  schema.features = {NumericColumn("age", 0, 120), CategoricalColumn("sex", {"female", "male"}),
                     NumericColumn("bmi", 10, 80), NumericColumn("hba1c", 2, 20),
                     BinaryColumn("smoker")};
  schema.label = BinaryColumn("outcome");
  int64_t used = 0;
  for (auto _ : state) {
    auto reader = CsvReader::Open("bench", File().path(), CsvOptions{kBlockSize, 1 << 22});
    if (!reader.ok()) {
      state.SkipWithError(std::string(reader.status().message()).c_str());
      return;
    }
    absl::StatusOr<LocalStatistics> local =
        ComputeLocalStatistics(**reader, schema, SplitConfig{0.2, 1});
    if (!local.ok()) {
      state.SkipWithError(std::string(local.status().message()).c_str());
      return;
    }
    used = local->report.records_used();
    benchmark::DoNotOptimize(local->sums.data());
  }
  CountFileBytes(state);
  state.counters["records_used"] = static_cast<double>(used);
  state.counters["max_rss_MiB"] = MaxResidentMegabytes();
}

BENCHMARK(BM_BaselineReadBlocks)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CsvReader)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CheckAndStatistics)->Unit(benchmark::kMillisecond);

// After the usual table, prints each benchmark's CPU time relative to the
// baseline's (CPU rather than wall time: the machine may be shared).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && run.iterations > 0) {
        seconds_per_iteration_[run.benchmark_name()] =
            run.cpu_accumulated_time / static_cast<double>(run.iterations);
      }
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    const auto baseline = seconds_per_iteration_.find("BM_BaselineReadBlocks");
    if (baseline == seconds_per_iteration_.end()) return;
    std::printf("\nfile: %.1f MiB; CPU time relative to BM_BaselineReadBlocks (same file, same run):\n",
                static_cast<double>(File().bytes()) / (1 << 20));
    for (const auto& [name, seconds] : seconds_per_iteration_) {
      std::printf("  %-26s %6.2fx  (%.0f MiB/s)\n", name.c_str(), seconds / baseline->second,
                  static_cast<double>(File().bytes()) / (1 << 20) / seconds);
    }
  }

 private:
  std::map<std::string, double> seconds_per_iteration_;
};

}  // namespace
}  // namespace tessera::agent::data

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  tessera::agent::data::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
