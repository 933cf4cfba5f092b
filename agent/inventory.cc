#include "agent/inventory.h"

#include "common/status.h"

namespace tessera::agent {

uint64_t RecordCountBucket(uint64_t count) {
  if (count < 10) return 0;
  uint64_t decade = 10;
  while (decade <= count / 10) decade *= 10;
  for (uint64_t step : {uint64_t{5}, uint64_t{2}, uint64_t{1}}) {
    if (step * decade <= count) return step * decade;
  }
  return decade;
}

absl::StatusOr<std::vector<DatasetInventory>> TakeInventory(
    const std::vector<data::DatasetConfig>& datasets) {
  std::vector<DatasetInventory> inventory;
  for (const data::DatasetConfig& config : datasets) {
    TESSERA_ASSIGN_OR_RETURN(auto source, data::OpenDataset(config));
    data::Record record;
    uint64_t count = 0;
    while (true) {
      TESSERA_ASSIGN_OR_RETURN(bool more, source->Next(&record));
      if (!more) break;
      ++count;
    }
    inventory.push_back({config.name, RecordCountBucket(count)});
  }
  return inventory;
}

}  // namespace tessera::agent
