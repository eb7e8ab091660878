// `rlvr version`: versions of rlvr and its libraries, and what CUDA support exists.
#include <google/protobuf/stubs/common.h>
#include <grpcpp/grpcpp.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <iostream>

#include "cli/commands.h"
#include "rlvr/build_config.h"

namespace rlvr::cli {

void AddVersionCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("version", "Print versions and CUDA/NCCL availability");
  cmd->callback([] {
    const bool cuda_available = torch::cuda::is_available();
    std::cout << "rlvr " << RLVR_VERSION << "\n"
              << "libtorch " << TORCH_VERSION << "\n"
              << "grpc " << grpc::Version() << "\n"
              << "protobuf " << google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION)
              << "\n"
              << "cuda compiled: " << (RLVR_WITH_CUDA ? "yes" : "no")
              << ", available: " << (cuda_available ? "yes" : "no") << "\n"
              << "nccl compiled: " << (RLVR_WITH_CUDA ? "yes" : "no")
              << ", available: " << (cuda_available ? "yes" : "no") << "\n";
  });
}

}  // namespace rlvr::cli
