// What the agent tells the coordinator about its datasets: each dataset's
// name and its record count rounded down to a coarse bucket, so the
// coordinator can plan (and governance can estimate epsilon) without
// learning a trust's exact cohort size.
//
// Thread-safety: stateless.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/data/dataset.h"

namespace tessera::agent {

// The largest of 0, 10, 20, 50, 100, 200, 500, 1000, ... (1-2-5 steps) that
// is at most `count`.
uint64_t RecordCountBucket(uint64_t count);

struct DatasetInventory {
  std::string name;
  uint64_t record_count_bucket = 0;
};

// Reads every dataset through once and buckets its record count. A dataset
// that cannot be read is an error naming it (never a record's value).
absl::StatusOr<std::vector<DatasetInventory>> TakeInventory(
    const std::vector<data::DatasetConfig>& datasets);

}  // namespace tessera::agent
