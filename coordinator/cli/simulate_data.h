// `tessera simulate`: its settings, the checks on them and on its CSV files,
// and the job file it submits. Everything here is pure or only reads the
// CSV files, so tests check it without a federation.
//
// Each --data file is one site. The job's schema is inferred from the first
// file, column by column (the label apart), from its non-missing cells:
//   - every cell is 0/1, true/false or yes/no (data::ParseBinary) -> binary;
//   - every cell is a finite decimal number                      -> numeric;
//   - otherwise                                                  -> categorical,
//     its categories the distinct values in sorted order (at most
//     kMaxCategories).
// Missing cells are empty or one of kMissingValues; they are skipped (the
// job's missing = "skip"). The label must be binary. Every other file must
// have exactly the same columns, and each of its cells must fit the type
// inferred from the first file (a categorical column may not bring new
// categories). Messages name the file, the line and the column, never a
// cell's value.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/data/schema.h"

namespace tessera::cli {

// Texts that mean "no value" besides an empty cell (compared after trimming
// spaces, case-sensitive, as the agent does with the job's missing_values).
inline constexpr const char* kMissingValues[] = {"NA", "N/A", "NaN", "NULL", "null", "?"};
// The most categories a non-numeric column may have.
inline constexpr size_t kMaxCategories = 50;

struct SimulationOptions {
  std::vector<std::string> data;       // CSV files, one per site
  std::string label;                   // the binary label column
  std::string model = "logistic";      // logistic | mlp | a TorchScript file (.pt)
  std::vector<int64_t> hidden = {16};  // mlp: hidden layer widths
  int64_t rounds = 10;
  int64_t local_epochs = 1;
  std::string optimizer = "sgd";  // sgd | adam
  double learning_rate = 0.1;
  int64_t batch_size = 32;
  double holdout = 0.2;            // each site's hold-out fraction
  std::string privacy = "record";  // record | site | none
  std::optional<double> epsilon;   // record / site: target per site (default 3)
  std::optional<double> delta;     // record / site: default 1e-5
  double clip_norm = 1.0;
  std::optional<int64_t>
      secagg_threshold;                // default: the smallest that fits (PlanSecureAggregation)
  double dropout = 0;                  // per site and round, in [0, 1)
  uint64_t seed = 1;                   // split, initial model, dropouts, baselines
  int64_t stage_timeout_seconds = 30;  // how long a round waits for a silent site
  bool compare = false;
  std::string report_dir;
  bool json = false;
};

inline constexpr double kDefaultEpsilon = 3.0;
inline constexpr double kDefaultDelta = 1e-5;

// The checks that need no file: privacy settings that fit the mode
// (--epsilon / --delta only with record or site, epsilon in [1e-3, 100],
// delta in [1e-12, 1e-2]), --dropout in [0, 1), --holdout in (0, 1), and a
// model that is logistic, mlp or a .pt file. INVALID_ARGUMENT naming the
// flag otherwise.
absl::Status ValidateOptions(const SimulationOptions& options);

// The secure-aggregation settings of a simulation with `sites` sites: every
// site takes part in every round it can (max_sites = sites); with the
// complete graph each site has min_sites - 1 to sites - 1 neighbours, and
// the threshold t must be more than half of sites - 1 and at most
// min_sites - 1 (coordinator/job/job_spec.h), so min_sites = max(3, t + 1).
// The default t is the smallest that fits, floor((sites - 1) / 2) + 1,
// which lets the most sites drop out of a round.
struct SecAggPlan {
  int64_t threshold = 2;
  int64_t min_sites = 3;
  int64_t max_sites = 3;
};
// INVALID_ARGUMENT naming --data when there are fewer than 3 sites, and
// naming --secagg-threshold when `threshold` needs more sites than there
// are (t >= sites) or is too small for them (2t <= sites - 1).
absl::StatusOr<SecAggPlan> PlanSecureAggregation(int64_t sites, std::optional<int64_t> threshold);

struct SiteFile {
  std::string site;  // site id: the file's name without .csv, made a valid id
  std::string path;  // absolute
  int64_t records = 0;
};

struct SimulationData {
  std::vector<SiteFile> sites;
  agent::data::Schema schema;  // features in the first file's column order
};

// Reads every --data file once: checks it exists and has records, infers the
// schema from the first and checks the others against it (see the top of
// this file). Errors, each one line naming the file or the flag:
// NOT_FOUND "--data x.csv: no such file"; INVALID_ARGUMENT for a file that is
// not CSV or has no records, a --label column that is missing or not binary,
// a column that cannot be a feature, or a file that does not match the
// first.
absl::StatusOr<SimulationData> LoadSimulationData(const std::vector<std::string>& paths,
                                                  const std::string& label);

// A site id from a file name: its stem with every character other than a
// letter, digit, `.`, `_` or `-` replaced by `-`, cut to 64 characters,
// and "-2", "-3", ... appended when an earlier file took the same id.
std::string SiteIdFor(const std::string& path, const std::vector<std::string>& taken);

// The job file `tessera simulate` submits, as TOML: dataset "simulation",
// the inferred schema, the split (--holdout, seed --seed), training,
// rounds (--rounds; stage timeout; max_attempts 3, or 5 when sites drop
// out), privacy and secure aggregation (`plan`). A model file
// (.pt) is given by its absolute path. ParseJobSpec accepts it (tests
// check).
std::string SimulationJobToml(const SimulationOptions& options, const SimulationData& data,
                              const SecAggPlan& plan);

}  // namespace tessera::cli
