// The aggregate layout: where each quantity lives in the vector that sites
// sum under secure aggregation.
//
// Each round a site sends one flat float vector; the coordinator only ever
// sees its sum over the surviving sites. The vector starts with the model
// update (the `update` entry, update_size() values in the model's canonical
// order, see common/flat_params.h) and goes on with named entries: scalar
// slots ("weight", "eval.loss_sum", ...) and blocks of consecutive values
// ("eval.hist.pos" with one value per histogram bin), in the order they were
// added. Because every site fills the same layout, each position of the sum
// is the federation-wide sum of one quantity.
//
// The site fills a vector of size() values through the Mutable*/Write*
// accessors (another part of the code base); the coordinator reads the
// decoded sum through the Read* accessors. Both build the layout from the
// job's settings (Standard() for the usual one) and can compare Describe()
// strings to check that they agree.
//
// The standard slots (Standard()):
//   weight         the site's FedAvg weight w_k (see server_optimizer.h for
//                  how weighted and uniform averaging use it);
//   eval.loss_sum  sum of per-example losses of the global model on the
//                  site's hold-out split;
//   eval.correct   number of those examples classified correctly;
//   eval.count     number of those examples;
//   eval.hist.pos  per-bin counts of the positive-class score of examples
//                  labelled 1 (bins of model::ScoreBin, model/roc_auc.h);
//   eval.hist.neg  the same for examples labelled 0.
// The update block carries the (weighted) model update; the slots carry raw
// sums, never multiplied by the weight.
//
// Thread-safety: AggregateLayout is an immutable value, safe to share between
// threads; a Builder is a plain single-threaded value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tessera::coordinator::strategy {

// Names of the standard slots and blocks.
inline constexpr char kWeightSlot[] = "weight";
inline constexpr char kEvalLossSumSlot[] = "eval.loss_sum";
inline constexpr char kEvalCorrectSlot[] = "eval.correct";
inline constexpr char kEvalCountSlot[] = "eval.count";
inline constexpr char kEvalHistogramPositiveBlock[] = "eval.hist.pos";
inline constexpr char kEvalHistogramNegativeBlock[] = "eval.hist.neg";

// The name of the model update in messages and in Describe().
inline constexpr char kUpdateName[] = "update";

class AggregateLayout {
 public:
  // One named entry after the update.
  struct Entry {
    std::string name;
    int64_t offset = 0;     // index of its first value in the aggregate
    int64_t length = 0;     // 1 for a scalar slot
    bool is_block = false;  // added with AddBlock (even when length is 1)
    bool operator==(const Entry& other) const {
      return name == other.name && offset == other.offset && length == other.length &&
             is_block == other.is_block;
    }
  };

  // Collects entries; all checks happen in Build(), so calls can be chained.
  class Builder {
   public:
    // `update_size` values of model update come first (0 for a round that
    // only evaluates).
    explicit Builder(int64_t update_size) : update_size_(update_size) {}
    // One scalar slot.
    Builder& AddSlot(absl::string_view name);
    // `length` consecutive values, shown as name[length].
    Builder& AddBlock(absl::string_view name, int64_t length);

    // The layout, with entries in the order they were added.
    // INVALID_ARGUMENT naming the entry when: update_size is negative; a
    // name is not dot-separated words of [a-z0-9_] (at most 64 characters),
    // is "update" or is used twice; a block length is below 1; the whole
    // layout is empty or holds more than 2^31 - 1 values.
    absl::StatusOr<AggregateLayout> Build() const;

   private:
    int64_t update_size_;
    std::vector<Entry> entries_;  // offsets are assigned by Build()
  };

  // The standard layout of a training round: the update, then weight,
  // eval.loss_sum, eval.correct, eval.count and, when histogram_bins > 0,
  // the blocks eval.hist.pos and eval.hist.neg of histogram_bins values
  // each. INVALID_ARGUMENT for a negative update_size or histogram_bins, or
  // as Build().
  static absl::StatusOr<AggregateLayout> Standard(int64_t update_size, int64_t histogram_bins);

  // Total number of values in the aggregate.
  int64_t size() const { return size_; }
  // Number of update values; the update occupies [0, update_size()).
  int64_t update_size() const { return update_size_; }
  // The named entries after the update, in layout order.
  const std::vector<Entry>& entries() const { return entries_; }

  // True when an entry called `name` exists.
  bool Has(absl::string_view name) const { return FindEntry(name) != nullptr; }
  // The entry called `name`; NOT_FOUND naming it and the layout otherwise.
  absl::StatusOr<Entry> Find(absl::string_view name) const;

  // OK when `aggregate` holds size() values; INVALID_ARGUMENT otherwise.
  absl::Status CheckSize(absl::Span<const float> aggregate) const;
  // CheckSize, then OK when every value is finite; otherwise INVALID_ARGUMENT
  // naming the first bad position as "update[i]", "name" or "name[i]"
  // (never the value).
  absl::Status CheckFinite(absl::Span<const float> aggregate) const;

  // Readers of a decoded aggregate. Each returns INVALID_ARGUMENT when the
  // aggregate has the wrong size and NOT_FOUND when there is no such entry;
  // ReadSlot gives INVALID_ARGUMENT for a block and ReadBlock for a slot.
  absl::StatusOr<absl::Span<const float>> ReadUpdate(absl::Span<const float> aggregate) const;
  absl::StatusOr<float> ReadSlot(absl::Span<const float> aggregate, absl::string_view name) const;
  absl::StatusOr<absl::Span<const float>> ReadBlock(absl::Span<const float> aggregate,
                                                    absl::string_view name) const;

  // Writers for the site that fills its vector; same errors as the readers.
  absl::StatusOr<absl::Span<float>> MutableUpdate(absl::Span<float> aggregate) const;
  absl::Status WriteSlot(absl::Span<float> aggregate, absl::string_view name, float value) const;
  absl::StatusOr<absl::Span<float>> MutableBlock(absl::Span<float> aggregate,
                                                 absl::string_view name) const;

  // A stable one-line description, identical for equal layouts:
  // "update[31] weight eval.loss_sum eval.hist.pos[4] (37 values)".
  std::string Describe() const;

  bool operator==(const AggregateLayout& other) const {
    return update_size_ == other.update_size_ && entries_ == other.entries_;
  }
  bool operator!=(const AggregateLayout& other) const { return !(*this == other); }

 private:
  AggregateLayout() = default;
  const Entry* FindEntry(absl::string_view name) const;
  // The entry called `name` if it is a block (`want_block`) or a slot.
  absl::StatusOr<Entry> FindKind(absl::string_view name, bool want_block) const;

  int64_t update_size_ = 0;
  int64_t size_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace tessera::coordinator::strategy
