// The `tessera` commands that build or load models, and so need libtorch:
// `tessera job submit` (builds the job's model and its initial parameters)
// and `tessera model export` (the coordinator's parameters in the job's
// model, written as a TorchScript file). Compiled only when
// TESSERA_WITH_TORCH is ON (TESSERA_CLI_WITH_TORCH is then defined); their
// registration is in commands.h. The functions here do the model work
// without a coordinator, so tests check them directly.
//
// Thread-safety: stateless functions; each call builds its own model.
#pragma once

#include <cstdint>
#include <string>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "coordinator/job/job_spec.h"

namespace tessera::cli {

// What `tessera job submit` uploads besides the job itself.
struct JobModel {
  // The job's model as a TorchScript archive: the built-in model serialised
  // (Model::SerializeTorchScript), or the bytes of the job's model.file
  // unchanged, so its SHA-256 is that of the file the ML lead scripted.
  std::string model_bytes;
  // The initial global parameters in the model's canonical order.
  Eigen::VectorXf initial_parameters;
  std::string description;  // Model::Describe(), e.g. "built-in MLP 4-8-1"
};

// Builds the model of `spec`, read from the job file `job_file`:
//  - logistic / mlp: the built-in model with FeatureNames(spec.schema).size()
//    inputs and 1 output (binary or numeric label), its weights initialised
//    from the job's split seed (spec.split.seed), so the same job file always
//    gives the same initial model;
//  - torchscript: the file spec.model_file (relative to the job file's
//    folder unless absolute) loaded with Model::LoadTorchScript, checked to
//    take a [batch, inputs] matrix of the schema's width and return one
//    output per example, and its parameters as saved.
// Errors: NOT_FOUND / PERMISSION_DENIED when the model file cannot be read;
// INVALID_ARGUMENT when it is not a TorchScript archive, does not fit the
// schema's width or outputs more than one value, or a parameter is not
// finite; INTERNAL when libtorch fails. Messages name model.file and its path.
absl::StatusOr<JobModel> BuildJobModel(const coordinator::JobSpec& spec,
                                       const std::string& job_file);

struct ExportedModel {
  std::string sha256_hex;  // of the file written
  uint64_t size_bytes = 0;
  int64_t parameter_count = 0;
  std::string description;  // Model::Describe() of the job's model
};

// Loads `model_bytes` (the job's TorchScript model), sets its parameters to
// `parameter_bytes` (little-endian float32 in canonical order,
// common/flat_params.h) and writes it atomically to `out_path` (mode 0644)
// as TorchScript, loadable by torch.jit.load and Model::LoadTorchScriptFile.
// Errors: INVALID_ARGUMENT when the model does not load or the parameters
// do not fit it (count or non-finite values); INTERNAL when libtorch fails;
// those of WriteFileAtomically naming `out_path`.
absl::StatusOr<ExportedModel> ExportModel(absl::string_view model_bytes,
                                          absl::string_view parameter_bytes,
                                          const std::string& out_path);

}  // namespace tessera::cli
