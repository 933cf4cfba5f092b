// The libtorch side of model/: TorchScript modules behind the Model
// interface, the TorchScript export of the built-in models, and libtorch's
// process-wide settings. torchscript_model.cc is the only file in Tessera
// that includes torch headers; this header stays torch-free.
//
// Thread-safety: models are not thread-safe; SetTorchThreads and SeedTorch
// change process-wide libtorch state and must not race with other torch work.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "Eigen/Core"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/model.h"

namespace tessera::model {

// See Model::LoadTorchScript.
absl::StatusOr<std::unique_ptr<Model>> LoadTorchScriptModel(absl::string_view bytes);

// Builds the TorchScript module of a built-in model (see model/mlp.h for
// `widths` and the parameter layout of `params`) and returns its
// torch.jit.save archive. The module is class __torch__.tessera.Mlp with
// submodules "0", "2", ... (class __torch__.tessera.Linear, parameters
// "weight" and "bias") and forward
//   x = torch.relu(getattr(self, "0").forward(x)); ...; return last(x).
// INTERNAL if libtorch fails.
absl::StatusOr<std::string> MlpToTorchScript(const std::vector<int64_t>& widths,
                                             const Eigen::VectorXf& params);

// Sets libtorch's intra-op thread count (torch::set_num_threads).
// Precondition: threads >= 1.
void SetTorchThreads(int threads);

// Seeds libtorch's default CPU generator (used by TorchScript modules with
// random operations such as dropout), so seeded training is repeatable.
void SeedTorch(uint64_t seed);

}  // namespace tessera::model
