#include "core/safetensors_torch.h"

#include <cstring>
#include <exception>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace rlvr {
namespace safetensors {

torch::ScalarType ToTorchDtype(Dtype dtype) {
  switch (dtype) {
    case Dtype::kBool:
      return torch::kBool;
    case Dtype::kU8:
      return torch::kUInt8;
    case Dtype::kI8:
      return torch::kInt8;
    case Dtype::kF8E4M3:
      return torch::kFloat8_e4m3fn;
    case Dtype::kF8E5M2:
      return torch::kFloat8_e5m2;
    case Dtype::kI16:
      return torch::kInt16;
    case Dtype::kU16:
      return torch::kUInt16;
    case Dtype::kF16:
      return torch::kFloat16;
    case Dtype::kBF16:
      return torch::kBFloat16;
    case Dtype::kI32:
      return torch::kInt32;
    case Dtype::kU32:
      return torch::kUInt32;
    case Dtype::kF32:
      return torch::kFloat32;
    case Dtype::kI64:
      return torch::kInt64;
    case Dtype::kU64:
      return torch::kUInt64;
    case Dtype::kF64:
      return torch::kFloat64;
  }
  return torch::kFloat32;
}

absl::StatusOr<Dtype> FromTorchDtype(torch::ScalarType dtype) {
  for (Dtype d : {Dtype::kBool, Dtype::kU8, Dtype::kI8, Dtype::kF8E4M3, Dtype::kF8E5M2, Dtype::kI16,
                  Dtype::kU16, Dtype::kF16, Dtype::kBF16, Dtype::kI32, Dtype::kU32, Dtype::kF32,
                  Dtype::kI64, Dtype::kU64, Dtype::kF64}) {
    if (ToTorchDtype(d) == dtype) return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("safetensors cannot hold torch dtype ", c10::toString(dtype)));
}

torch::Tensor ToTensor(const TensorView& view) {
  torch::Tensor t =
      torch::empty(view.shape, torch::TensorOptions().dtype(ToTorchDtype(view.dtype)));
  if (view.nbytes > 0) std::memcpy(t.data_ptr(), view.data, view.nbytes);
  return t;
}

absl::Status SaveTensors(const std::string& path,
                         const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;
  std::vector<TensorData> data;
  keep.reserve(tensors.size());
  try {
    for (const auto& [name, tensor] : tensors) {
      ASSIGN_OR_RETURN(Dtype dtype, FromTorchDtype(tensor.scalar_type()));
      torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
      keep.push_back(cpu);
      data.push_back({name, dtype, cpu.sizes().vec(), cpu.data_ptr(),
                      static_cast<size_t>(cpu.numel()) * cpu.element_size()});
    }
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(path, ": ", e.what()));
  }
  return Write(path, data, metadata);
}

absl::StatusOr<std::map<std::string, torch::Tensor>> LoadTensors(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> checkpoint, Checkpoint::Open(path));
  std::map<std::string, torch::Tensor> out;
  for (const std::string& name : checkpoint->names()) out[name] = ToTensor(*checkpoint->Find(name));
  return out;
}

}  // namespace safetensors
}  // namespace rlvr
