#include "coordinator/strategy/aggregate_layout.h"

#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tessera::coordinator::strategy {
namespace {

// The same bound as ModelSpec's: positions must fit a signed 32-bit index.
constexpr int64_t kMaxValues = std::numeric_limits<int32_t>::max();
constexpr size_t kMaxNameLength = 64;

bool IsWordCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// Dot-separated non-empty words of [a-z0-9_]: the names appear in configs,
// logs and Describe(), so they stay plain.
absl::Status CheckName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "aggregate entry name `", name, "` must have 1 to ", kMaxNameLength, " characters"));
  }
  bool word_empty = true;
  for (char c : name) {
    if (c == '.') {
      if (word_empty) break;
      word_empty = true;
    } else if (IsWordCharacter(c)) {
      word_empty = false;
    } else {
      word_empty = true;
      break;
    }
  }
  if (word_empty) {
    return absl::InvalidArgumentError(absl::StrCat(
        "aggregate entry name `", name,
        "` must be dot-separated words of lower-case letters, digits and underscores"));
  }
  if (name == kUpdateName) {
    return absl::InvalidArgumentError(
        absl::StrCat("aggregate entry name `", name, "` is reserved for the model update"));
  }
  return absl::OkStatus();
}

}  // namespace

AggregateLayout::Builder& AggregateLayout::Builder::AddSlot(absl::string_view name) {
  entries_.push_back(Entry{std::string(name), 0, 1, false});
  return *this;
}

AggregateLayout::Builder& AggregateLayout::Builder::AddBlock(absl::string_view name,
                                                             int64_t length) {
  entries_.push_back(Entry{std::string(name), 0, length, true});
  return *this;
}

absl::StatusOr<AggregateLayout> AggregateLayout::Builder::Build() const {
  if (update_size_ < 0 || update_size_ > kMaxValues) {
    return absl::InvalidArgumentError(absl::StrCat("the update size is ", update_size_,
                                                   " but must be between 0 and ", kMaxValues));
  }
  AggregateLayout layout;
  layout.update_size_ = update_size_;
  int64_t offset = update_size_;
  std::set<std::string> seen;
  for (const Entry& entry : entries_) {
    TESSERA_RETURN_IF_ERROR(CheckName(entry.name));
    if (!seen.insert(entry.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("aggregate entry `", entry.name, "` is added twice"));
    }
    if (entry.length < 1) {
      return absl::InvalidArgumentError(absl::StrCat("aggregate block `", entry.name,
                                                     "` has length ", entry.length,
                                                     "; it must be at least 1"));
    }
    if (entry.length > kMaxValues - offset) {
      return absl::InvalidArgumentError(absl::StrCat("the aggregate is longer than ", kMaxValues,
                                                     " values at entry `", entry.name, "`"));
    }
    Entry placed = entry;
    placed.offset = offset;
    offset += entry.length;
    layout.entries_.push_back(std::move(placed));
  }
  if (offset == 0) {
    return absl::InvalidArgumentError("the aggregate layout is empty: no update and no slots");
  }
  layout.size_ = offset;
  return layout;
}

absl::StatusOr<AggregateLayout> AggregateLayout::Standard(int64_t update_size,
                                                          int64_t histogram_bins) {
  if (histogram_bins < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("histogram_bins is ", histogram_bins, "; it must be 0 (none) or more"));
  }
  Builder builder(update_size);
  builder.AddSlot(kWeightSlot)
      .AddSlot(kEvalLossSumSlot)
      .AddSlot(kEvalCorrectSlot)
      .AddSlot(kEvalCountSlot);
  if (histogram_bins > 0) {
    builder.AddBlock(kEvalHistogramPositiveBlock, histogram_bins)
        .AddBlock(kEvalHistogramNegativeBlock, histogram_bins);
  }
  return builder.Build();
}

const AggregateLayout::Entry* AggregateLayout::FindEntry(absl::string_view name) const {
  for (const Entry& entry : entries_) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

absl::StatusOr<AggregateLayout::Entry> AggregateLayout::Find(absl::string_view name) const {
  const Entry* entry = FindEntry(name);
  if (entry == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("the aggregate layout has no entry `", name, "`; it is ", Describe()));
  }
  return *entry;
}

absl::StatusOr<AggregateLayout::Entry> AggregateLayout::FindKind(absl::string_view name,
                                                                 bool want_block) const {
  TESSERA_ASSIGN_OR_RETURN(Entry entry, Find(name));
  if (entry.is_block != want_block) {
    return absl::InvalidArgumentError(
        absl::StrCat("aggregate entry `", name, "` is a ", entry.is_block ? "block" : "scalar slot",
                     ", not a ", want_block ? "block" : "scalar slot"));
  }
  return entry;
}

absl::Status AggregateLayout::CheckSize(absl::Span<const float> aggregate) const {
  if (static_cast<int64_t>(aggregate.size()) != size_) {
    return absl::InvalidArgumentError(absl::StrCat("the aggregate has ", aggregate.size(),
                                                   " values but its layout needs ", size_, ": ",
                                                   Describe()));
  }
  return absl::OkStatus();
}

absl::Status AggregateLayout::CheckFinite(absl::Span<const float> aggregate) const {
  TESSERA_RETURN_IF_ERROR(CheckSize(aggregate));
  for (size_t i = 0; i < aggregate.size(); ++i) {
    if (std::isfinite(aggregate[i])) continue;
    const auto position = static_cast<int64_t>(i);
    std::string where;
    if (position < update_size_) {
      where = absl::StrCat(kUpdateName, "[", position, "]");
    } else {
      for (const Entry& entry : entries_) {
        if (position >= entry.offset + entry.length) continue;
        where = entry.is_block ? absl::StrCat(entry.name, "[", position - entry.offset, "]")
                               : entry.name;
        break;
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat("the aggregate has a NaN or infinite value at ", where));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::Span<const float>> AggregateLayout::ReadUpdate(
    absl::Span<const float> aggregate) const {
  TESSERA_RETURN_IF_ERROR(CheckSize(aggregate));
  return aggregate.subspan(0, static_cast<size_t>(update_size_));
}

absl::StatusOr<float> AggregateLayout::ReadSlot(absl::Span<const float> aggregate,
                                                absl::string_view name) const {
  TESSERA_RETURN_IF_ERROR(CheckSize(aggregate));
  TESSERA_ASSIGN_OR_RETURN(Entry entry, FindKind(name, /*want_block=*/false));
  return aggregate[static_cast<size_t>(entry.offset)];
}

absl::StatusOr<absl::Span<const float>> AggregateLayout::ReadBlock(
    absl::Span<const float> aggregate, absl::string_view name) const {
  TESSERA_RETURN_IF_ERROR(CheckSize(aggregate));
  TESSERA_ASSIGN_OR_RETURN(Entry entry, FindKind(name, /*want_block=*/true));
  return aggregate.subspan(static_cast<size_t>(entry.offset), static_cast<size_t>(entry.length));
}

absl::StatusOr<absl::Span<float>> AggregateLayout::MutableUpdate(
    absl::Span<float> aggregate) const {
  TESSERA_RETURN_IF_ERROR(CheckSize(aggregate));
  return aggregate.subspan(0, static_cast<size_t>(update_size_));
}

absl::Status AggregateLayout::WriteSlot(absl::Span<float> aggregate, absl::string_view name,
                                        float value) const {
  TESSERA_RETURN_IF_ERROR(CheckSize(aggregate));
  TESSERA_ASSIGN_OR_RETURN(Entry entry, FindKind(name, /*want_block=*/false));
  aggregate[static_cast<size_t>(entry.offset)] = value;
  return absl::OkStatus();
}

absl::StatusOr<absl::Span<float>> AggregateLayout::MutableBlock(absl::Span<float> aggregate,
                                                                absl::string_view name) const {
  TESSERA_RETURN_IF_ERROR(CheckSize(aggregate));
  TESSERA_ASSIGN_OR_RETURN(Entry entry, FindKind(name, /*want_block=*/true));
  return aggregate.subspan(static_cast<size_t>(entry.offset), static_cast<size_t>(entry.length));
}

std::string AggregateLayout::Describe() const {
  std::string text;
  if (update_size_ > 0) absl::StrAppend(&text, kUpdateName, "[", update_size_, "]");
  for (const Entry& entry : entries_) {
    if (!text.empty()) text += ' ';
    text += entry.name;
    if (entry.is_block) absl::StrAppend(&text, "[", entry.length, "]");
  }
  absl::StrAppend(&text, " (", size_, size_ == 1 ? " value)" : " values)");
  return text;
}

}  // namespace tessera::coordinator::strategy
