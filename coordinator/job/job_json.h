// The job back from its canonical JSON: sites receive the job as
// CanonicalJson(spec) with every task and rebuild the JobSpec from it.
//
// A site must accept exactly the jobs the coordinator accepts, so the JSON is
// checked by the same code that checks job.toml: it is rewritten as the
// equivalent job file (the schema's column list becomes [schema.columns.NAME]
// tables, strategy parameters equal to the strategy's defaults are left out
// because CanonicalJson writes every parameter while the job file rejects
// one that does not apply) and read with ParseJobSpec. Every range, every
// rule between fields, ValidateSchema, ValidateStrategyConfig and the
// unknown-key check therefore apply unchanged, and no second copy of them
// exists to drift.
//
// The canonical JSON leaves out model.file (the scripted model travels
// separately), so a torchscript job comes back with an empty model_file.
//
// Thread-safety: a pure function.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/job/job_spec.h"

namespace tessera::coordinator {

// The JobSpec whose CanonicalJson is `json` (up to the model_file noted
// above): CanonicalJson(*JobSpecFromJson(CanonicalJson(s))) ==
// CanonicalJson(s) for every spec ParseJobSpec accepts.
//
// INVALID_ARGUMENT, listing every problem and naming each by its dotted JSON
// key ("rounds.count", "privacy.epsilon", "schema.features[2].name"), when
// the text is not JSON or not an object; a value is null, of the wrong type,
// or out of the range ParseJobSpec allows; a required key is missing; a key
// is unknown (model.file included); a column name repeats; or the job breaks
// a rule between fields. Schema problems found by the job-file rules name
// the column as "schema.columns.NAME.KEY". Messages carry no line numbers.
absl::StatusOr<JobSpec> JobSpecFromJson(absl::string_view json);

// `text` as a TOML basic string: quoted, with the escapes TOML 1.0 defines,
// \u00XX for the other control characters (DEL included), every other byte
// as it is (the caller gives UTF-8).
std::string TomlString(absl::string_view text);

}  // namespace tessera::coordinator
