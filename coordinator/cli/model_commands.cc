// `tessera job submit` and `tessera model export`: the commands that need
// libtorch (see model_commands.h).
#include "coordinator/cli/model_commands.h"

#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "agent/data/encoder.h"
#include "common/files.h"
#include "common/flat_params.h"
#include "common/status.h"
#include "coordinator/cli/admin_client.h"
#include "coordinator/cli/commands.h"
#include "model/model.h"
#include "nlohmann/json.hpp"
#include "transport/object_transfer.h"

namespace tessera::cli {
namespace {

using coordinator::ModelKind;

// The model file of a torchscript job: relative paths are relative to the
// job file, so a job folder can be moved as a whole.
std::string ModelFilePath(const coordinator::JobSpec& spec, const std::string& job_file) {
  const std::filesystem::path file(spec.model_file);
  if (file.is_absolute()) return file.string();
  return (std::filesystem::path(job_file).parent_path() / file).string();
}

// Long enough for `size` bytes over a slow link: the connection timeout per
// started MiB.
absl::Duration TransferDeadline(const ConnectionOptions& connection, uint64_t size) {
  return absl::Seconds(connection.timeout_seconds) *
         static_cast<int64_t>(1 + size / transport::kChunkBytes);
}

}  // namespace

absl::StatusOr<JobModel> BuildJobModel(const coordinator::JobSpec& spec,
                                       const std::string& job_file) {
  const auto inputs = static_cast<int64_t>(agent::data::FeatureNames(spec.schema).size());
  JobModel result;
  std::unique_ptr<model::Model> model;
  switch (spec.model_kind) {
    case ModelKind::kLogistic:
    case ModelKind::kMlp: {
      const std::vector<int64_t> hidden =
          spec.model_kind == ModelKind::kMlp ? spec.hidden_layers : std::vector<int64_t>{};
      TESSERA_ASSIGN_OR_RETURN(model, model::Model::Mlp(inputs, hidden, 1, spec.split.seed));
      TESSERA_ASSIGN_OR_RETURN(result.model_bytes, model->SerializeTorchScript());
      break;
    }
    case ModelKind::kTorchScript: {
      const std::string path = ModelFilePath(spec, job_file);
      const std::string where = absl::StrCat("model.file ", path);
      auto bytes = ReadFileToString(path, "TorchScript model (model.file)");
      if (!bytes.ok()) return bytes.status();
      auto loaded = model::Model::LoadTorchScript(*bytes);
      if (!loaded.ok()) return Annotate(loaded.status(), where);
      model = std::move(*loaded);
      auto outputs = model->Forward(Eigen::MatrixXf::Zero(2, inputs));
      if (!outputs.ok()) {
        return Annotate(outputs.status(),
                        absl::StrCat(where, ": the model must take ", inputs,
                                     " inputs per example (the schema's encoded features, "
                                     "categorical columns one-hot)"));
      }
      if (outputs->cols() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": the model returns ", outputs->cols(),
            " values per example; a job with a binary or numeric label needs exactly 1"));
      }
      result.model_bytes = std::move(*bytes);
      break;
    }
  }
  FlatParams parameters = model->GetParameters();
  TESSERA_RETURN_IF_ERROR(parameters.CheckFinite());
  result.initial_parameters = parameters.values();
  result.description = model->Describe();
  return result;
}

absl::StatusOr<ExportedModel> ExportModel(absl::string_view model_bytes,
                                          absl::string_view parameter_bytes,
                                          const std::string& out_path) {
  auto model = model::Model::LoadTorchScript(model_bytes);
  if (!model.ok()) return Annotate(model.status(), "the job's model");
  const ModelSpec& spec = (*model)->spec();
  auto values = ParametersFromBytes(parameter_bytes, spec.size());
  if (!values.ok()) {
    return Annotate(values.status(),
                    absl::StrCat("the coordinator's parameters do not fit the job's model (",
                                 spec.size(), " parameters)"));
  }
  TESSERA_ASSIGN_OR_RETURN(FlatParams parameters, FlatParams::FromValues(spec, std::move(*values)));
  TESSERA_RETURN_IF_ERROR((*model)->SetParameters(parameters));
  TESSERA_ASSIGN_OR_RETURN(std::string bytes, (*model)->SerializeTorchScript());
  TESSERA_RETURN_IF_ERROR(WriteFileAtomically(out_path, bytes, 0644));
  ExportedModel exported;
  exported.sha256_hex = transport::ObjectRefOf(bytes).sha256_hex();
  exported.size_bytes = bytes.size();
  exported.parameter_count = spec.size();
  exported.description = (*model)->Describe();
  return exported;
}

namespace {

struct SubmitOptions {
  std::string job_file;
  bool json = false;
};

absl::StatusOr<tessera::v1::ObjectRef> Upload(AdminClient& client,
                                              const ConnectionOptions& connection,
                                              absl::string_view bytes, absl::string_view what) {
  auto receipt = transport::UploadObject(
      [&client](grpc::ClientContext* context, tessera::v1::UploadResponse* response) {
        return client.stub().UploadObject(context, response);
      },
      bytes, /*round=*/nullptr, TransferDeadline(connection, bytes.size()));
  if (!receipt.ok()) {
    return Annotate(receipt.status(), absl::StrCat("uploading the ", what));
  }
  const tessera::v1::ObjectRef expected = transport::ObjectRefOf(bytes);
  if (receipt->object().sha256_hex() != expected.sha256_hex()) {
    return absl::DataLossError(absl::StrCat("the coordinator stored the ", what, " as ",
                                            receipt->object().sha256_hex(), ", not ",
                                            expected.sha256_hex(), "; submit again"));
  }
  return expected;
}

absl::Status RunSubmit(const ConnectionOptions& connection, const SubmitOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(coordinator::JobSpec spec, coordinator::LoadJobSpec(options.job_file));
  TESSERA_ASSIGN_OR_RETURN(JobModel model, BuildJobModel(spec, options.job_file));
  const std::string parameter_bytes = ParameterBytes(model.initial_parameters);

  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  TESSERA_ASSIGN_OR_RETURN(tessera::v1::ObjectRef model_ref,
                           Upload(client, connection, model.model_bytes, "model"));
  TESSERA_ASSIGN_OR_RETURN(tessera::v1::ObjectRef parameters_ref,
                           Upload(client, connection, parameter_bytes, "initial parameters"));
  tessera::v1::SubmitJobRequest request;
  request.set_spec_json(coordinator::CanonicalJson(spec));
  request.set_model_sha256(model_ref.sha256_hex());
  request.set_initial_parameters_sha256(parameters_ref.sha256_hex());
  tessera::v1::SubmitJobResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().SubmitJob(context.get(), request, &response);
  if (!status.ok()) return Annotate(client.CallError(status), options.job_file);

  if (options.json) {
    nlohmann::json out = {{"job_id", response.job_id()},
                          {"name", spec.name},
                          {"spec_sha256", response.spec_sha256()},
                          {"model", model.description},
                          {"model_sha256", model_ref.sha256_hex()},
                          {"initial_parameters_sha256", parameters_ref.sha256_hex()},
                          {"parameter_count", model.initial_parameters.size()},
                          {"state", "pending approval"}};
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << "submitted job " << response.job_id() << " (" << spec.name << ")\n"
            << "  model         " << model.description << ", " << model.initial_parameters.size()
            << " parameters\n"
            << "  model sha256  " << model_ref.sha256_hex() << "\n"
            << "  job sha256    " << response.spec_sha256() << "\n"
            << "it is pending approval: a governance member approves it with `tessera job approve "
            << response.job_id() << "`; follow it with `tessera job watch " << response.job_id()
            << "`\n";
  return absl::OkStatus();
}

struct ExportOptions {
  std::string job_id;
  uint32_t round = 0;  // 0: the latest committed round
  std::string out;
  bool json = false;
};

absl::Status RunExport(const ConnectionOptions& connection, const ExportOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(AdminClient client, AdminClient::Connect(connection));
  tessera::v1::GetModelRequest request;
  request.set_job_id(options.job_id);
  request.set_round(options.round);
  tessera::v1::GetModelResponse response;
  auto context = client.NewContext();
  grpc::Status status = client.stub().GetModel(context.get(), request, &response);
  if (!status.ok()) return client.CallError(status);

  auto download = [&](const tessera::v1::ObjectRef& ref,
                      absl::string_view what) -> absl::StatusOr<std::string> {
    auto bytes = transport::DownloadObject(
        [&client](grpc::ClientContext* c, const tessera::v1::DownloadRequest& r) {
          return client.stub().DownloadObject(c, r);
        },
        ref, TransferDeadline(connection, ref.size_bytes()));
    if (!bytes.ok()) return Annotate(bytes.status(), absl::StrCat("downloading the ", what));
    return bytes;
  };
  TESSERA_ASSIGN_OR_RETURN(std::string model_bytes, download(response.model(), "model"));
  TESSERA_ASSIGN_OR_RETURN(std::string parameter_bytes,
                           download(response.parameters(), "parameters"));
  TESSERA_ASSIGN_OR_RETURN(ExportedModel exported,
                           ExportModel(model_bytes, parameter_bytes, options.out));
  if (options.json) {
    nlohmann::json out = {{"job_id", options.job_id},
                          {"round", response.round()},
                          {"path", options.out},
                          {"sha256", exported.sha256_hex},
                          {"size_bytes", exported.size_bytes},
                          {"model", exported.description},
                          {"parameter_count", exported.parameter_count},
                          {"parameters_sha256", response.parameters().sha256_hex()}};
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << "exported job " << options.job_id << " after round " << response.round() << " to "
            << options.out << "\n"
            << "  model   " << exported.description << ", " << exported.parameter_count
            << " parameters\n"
            << "  sha256  " << exported.sha256_hex << " (" << exported.size_bytes << " bytes)\n"
            << "load it with torch.jit.load(\"" << options.out << "\")\n";
  return absl::OkStatus();
}

}  // namespace

void AddJobSubmitCommand(CLI::App* job, CommandResult& result, ConnectionOptions& connection) {
  static SubmitOptions options;
  CLI::App* submit = job->add_subcommand(
      "submit", "ML lead: check a job file, upload its model and submit it for approval.");
  submit->add_option("FILE", options.job_file, "The job file (job.toml)")->required();
  AddConnectionOptions(submit, connection);
  submit->add_flag("--json", options.json, "Print JSON");
  submit->callback(result.Bind([&connection] { return RunSubmit(connection, options); }));
}

void AddModelCommands(CLI::App& app, CommandResult& result, ConnectionOptions& connection) {
  static ExportOptions options;
  CLI::App* group = AddCommandGroup(app, "model", "A job's trained model.");
  CLI::App* exporter = group->add_subcommand(
      "export", "ML lead: write a job's model after a round as a TorchScript file.");
  exporter->add_option("ID", options.job_id, "The job's id (see `tessera job list`)")->required();
  exporter->add_option("--round", options.round, "The round to export (default: the latest)")
      ->check(CLI::Range(1u, 100000u));
  exporter->add_option("--out", options.out, "The file to write (e.g. model.pt)")->required();
  AddConnectionOptions(exporter, connection);
  exporter->add_flag("--json", options.json, "Print JSON");
  exporter->callback(result.Bind([&connection] { return RunExport(connection, options); }));
}

}  // namespace tessera::cli
