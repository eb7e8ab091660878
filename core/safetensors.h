// safetensors I/O (https://github.com/huggingface/safetensors format):
//   8-byte little-endian header length N | N bytes of JSON header | byte buffer.
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the buffer) plus an optional "__metadata__" string map.
//
// Reading memory-maps the file and checks it fully before handing anything
// out: header length within the file, valid JSON, known dtypes, shapes whose
// byte size matches the offsets, offsets inside the buffer, tensors neither
// overlapping nor leaving gaps, no duplicate names. Every failure is
// INVALID_ARGUMENT naming the file (and the tensor when there is one).
//
// No LibTorch here; core/safetensors_torch.h converts to and from tensors.
#ifndef RLVR_CORE_SAFETENSORS_H_
#define RLVR_CORE_SAFETENSORS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rlvr {
namespace safetensors {

enum class Dtype {
  kBool,
  kU8,
  kI8,
  kF8E4M3,
  kF8E5M2,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kI64,
  kU64,
  kF64,
};

// "F32" <-> Dtype; ParseDtype fails for unknown names.
absl::StatusOr<Dtype> ParseDtype(absl::string_view name);
const char* DtypeName(Dtype dtype);
size_t DtypeSize(Dtype dtype);

// A tensor inside a mapped file. `data` stays valid while its File lives.
struct TensorView {
  std::string name;
  Dtype dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // not necessarily aligned
  size_t nbytes = 0;
  int64_t numel() const;
};

// One memory-mapped .safetensors file. Immutable after Open; thread-safe reads.
class File {
 public:
  static absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path);
  // Checks bytes already in memory (used by Open; `source` names them in errors).
  // The bytes must outlive the File.
  static absl::StatusOr<std::unique_ptr<File>> FromBytes(const uint8_t* data, size_t size,
                                                         const std::string& source);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  // Tensors in file order (ascending offsets).
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorView* Find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  File() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint: `dir`/model.safetensors, or the shards named by
// `dir`/model.safetensors.index.json ("weight_map": tensor -> file).
// A path to a single .safetensors file also works.
class Checkpoint {
 public:
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& path);
  // All tensor names, sorted.
  std::vector<std::string> names() const;
  // nullptr when absent.
  const TensorView* Find(const std::string& name) const;
  // The file that holds `name` (for error messages); "" when absent.
  std::string FileOf(const std::string& name) const;
  const std::vector<std::unique_ptr<File>>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<File>> files_;
  std::map<std::string, const File*> owner_;
};

// A tensor to write; `data` holds nbytes = numel * DtypeSize(dtype) bytes.
struct TensorData {
  std::string name;
  Dtype dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes one file (to a temporary name, then renamed into place). Tensors are
// laid out in the given order; INVALID_ARGUMENT for duplicate names or sizes
// that do not match shapes, INTERNAL for I/O errors.
absl::Status Write(const std::string& path, const std::vector<TensorData>& tensors,
                   const std::map<std::string, std::string>& metadata = {});

}  // namespace safetensors
}  // namespace rlvr

#endif  // RLVR_CORE_SAFETENSORS_H_
