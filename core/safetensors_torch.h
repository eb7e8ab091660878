// Conversions between safetensors (core/safetensors.h) and LibTorch tensors.
#ifndef RLVR_CORE_SAFETENSORS_TORCH_H_
#define RLVR_CORE_SAFETENSORS_TORCH_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/safetensors.h"

namespace rlvr {
namespace safetensors {

// The torch dtype of a safetensors dtype (F8_E4M3 -> Float8_e4m3fn, ...).
torch::ScalarType ToTorchDtype(Dtype dtype);
// INVALID_ARGUMENT for torch dtypes safetensors cannot hold (complex, ...).
absl::StatusOr<Dtype> FromTorchDtype(torch::ScalarType dtype);

// A CPU tensor holding a copy of `view`'s bytes (owning; the file may close).
torch::Tensor ToTensor(const TensorView& view);

// Writes named tensors (any device; copied to contiguous CPU first) in order.
absl::Status SaveTensors(const std::string& path,
                         const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata = {});
// Reads every tensor of a file or checkpoint directory as CPU tensors.
absl::StatusOr<std::map<std::string, torch::Tensor>> LoadTensors(const std::string& path);

}  // namespace safetensors
}  // namespace rlvr

#endif  // RLVR_CORE_SAFETENSORS_TORCH_H_
