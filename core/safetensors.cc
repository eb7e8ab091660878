#include "core/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

namespace rlvr {
namespace safetensors {
namespace {

using json = nlohmann::json;

struct DtypeInfo {
  Dtype dtype;
  const char* name;
  size_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {Dtype::kBool, "BOOL", 1},      {Dtype::kU8, "U8", 1},          {Dtype::kI8, "I8", 1},
    {Dtype::kF8E4M3, "F8_E4M3", 1}, {Dtype::kF8E5M2, "F8_E5M2", 1}, {Dtype::kI16, "I16", 2},
    {Dtype::kU16, "U16", 2},        {Dtype::kF16, "F16", 2},        {Dtype::kBF16, "BF16", 2},
    {Dtype::kI32, "I32", 4},        {Dtype::kU32, "U32", 4},        {Dtype::kF32, "F32", 4},
    {Dtype::kI64, "I64", 8},        {Dtype::kU64, "U64", 8},        {Dtype::kF64, "F64", 8},
};

// The reference implementation refuses headers above 100 MB.
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

absl::Status Invalid(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
}

// Byte count of `shape` elements of `elem` bytes; false on overflow or negative dims.
bool ByteSize(const std::vector<int64_t>& shape, size_t elem, uint64_t* out) {
  unsigned __int128 n = elem;
  for (int64_t d : shape) {
    if (d < 0) return false;
    n *= static_cast<uint64_t>(d);
    if (n > UINT64_MAX) return false;
  }
  *out = static_cast<uint64_t>(n);
  return true;
}

}  // namespace

absl::StatusOr<Dtype> ParseDtype(absl::string_view name) {
  for (const DtypeInfo& d : kDtypes) {
    if (name == d.name) return d.dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown safetensors dtype '", name, "'"));
}

const char* DtypeName(Dtype dtype) {
  for (const DtypeInfo& d : kDtypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

size_t DtypeSize(Dtype dtype) {
  for (const DtypeInfo& d : kDtypes) {
    if (d.dtype == dtype) return d.size;
  }
  return 0;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

File::~File() {
  if (map_ != nullptr) munmap(map_, map_size_);
}

absl::StatusOr<std::unique_ptr<File>> File::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Invalid(path, absl::StrCat("cannot open: ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Invalid(path, "not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* map = nullptr;
  if (size > 0) {
    map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return Invalid(path, absl::StrCat("cannot mmap: ", std::strerror(err)));
    }
  }
  ::close(fd);
  auto file = FromBytes(static_cast<const uint8_t*>(map), size, path);
  if (!file.ok()) {
    if (map != nullptr) munmap(map, size);
    return file.status();
  }
  (*file)->map_ = map;
  (*file)->map_size_ = size;
  return file;
}

absl::StatusOr<std::unique_ptr<File>> File::FromBytes(const uint8_t* data, size_t size,
                                                      const std::string& source) {
  if (size < 8) {
    return Invalid(
        source, absl::StrCat("truncated: ", size, " bytes, fewer than the 8-byte header length"));
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kMaxHeaderBytes) {
    return Invalid(source, absl::StrCat("header length ", n, " exceeds the 100 MB limit"));
  }
  if (n > size - 8) {
    return Invalid(source, absl::StrCat("header length ", n, " runs past the end of the file (",
                                        size, " bytes)"));
  }
  const char* header_begin = reinterpret_cast<const char*>(data + 8);
  // Duplicate top-level keys would silently overwrite each other in nlohmann's
  // object; catch them while parsing.
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key) {
      std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json header = json::parse(header_begin, header_begin + n, callback, /*allow_exceptions=*/false);
  if (header.is_discarded()) return Invalid(source, "header is not valid JSON");
  if (!duplicate.empty()) {
    return Invalid(source, absl::StrCat("tensor '", duplicate, "' appears twice in the header"));
  }
  if (!header.is_object()) return Invalid(source, "header is not a JSON object");

  auto file = std::unique_ptr<File>(new File());
  file->path_ = source;
  const uint8_t* buffer = data + 8 + n;
  const uint64_t buffer_size = size - 8 - n;
  struct Range {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Range> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) return Invalid(source, "__metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) {
          return Invalid(source,
                         absl::StrCat("__metadata__ value '", m.key(), "' is not a string"));
        }
        file->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    std::string where = absl::StrCat("tensor '", name, "': ");
    if (!entry.is_object()) return Invalid(source, where + "entry is not an object");
    for (auto f = entry.begin(); f != entry.end(); ++f) {
      if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets") {
        return Invalid(source, absl::StrCat(where, "unknown field '", f.key(), "'"));
      }
    }
    auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end() || !dtype_it->is_string()) {
      return Invalid(source, where + "missing or non-string 'dtype'");
    }
    auto dtype = ParseDtype(dtype_it->get<std::string>());
    if (!dtype.ok()) return Invalid(source, where + std::string(dtype.status().message()));
    auto shape_it = entry.find("shape");
    if (shape_it == entry.end() || !shape_it->is_array()) {
      return Invalid(source, where + "missing or non-array 'shape'");
    }
    TensorView view;
    view.name = name;
    view.dtype = *dtype;
    for (const json& d : *shape_it) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) {
        return Invalid(source, where + "'shape' holds a value that is not a non-negative integer");
      }
      view.shape.push_back(d.get<int64_t>());
    }
    auto off_it = entry.find("data_offsets");
    if (off_it == entry.end() || !off_it->is_array() || off_it->size() != 2 ||
        !(*off_it)[0].is_number_unsigned() || !(*off_it)[1].is_number_unsigned()) {
      return Invalid(source, where + "'data_offsets' must be two non-negative integers");
    }
    uint64_t begin = (*off_it)[0].get<uint64_t>();
    uint64_t end = (*off_it)[1].get<uint64_t>();
    if (end < begin) {
      return Invalid(source,
                     absl::StrCat(where, "data_offsets [", begin, ", ", end, "] are reversed"));
    }
    if (end > buffer_size) {
      return Invalid(source, absl::StrCat(where, "data_offsets [", begin, ", ", end,
                                          "] run past the end of the data (", buffer_size,
                                          " bytes; file truncated?)"));
    }
    uint64_t expected = 0;
    if (!ByteSize(view.shape, DtypeSize(view.dtype), &expected) || expected != end - begin) {
      return Invalid(
          source, absl::StrCat(where, "dtype ", DtypeName(view.dtype), " and shape need ", expected,
                               " bytes but data_offsets span ", end - begin));
    }
    view.data = buffer + begin;
    view.nbytes = end - begin;
    ranges.push_back({begin, end, file->tensors_.size()});
    file->tensors_.push_back(std::move(view));
  }
  // The tensors must tile the buffer exactly: no overlap, no gap, no tail.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected_begin = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const std::string& name = file->tensors_[ranges[i].index].name;
    if (ranges[i].begin < expected_begin) {
      return Invalid(source, absl::StrCat("tensor '", name, "' overlaps tensor '",
                                          file->tensors_[ranges[i - 1].index].name, "'"));
    }
    if (ranges[i].begin > expected_begin) {
      return Invalid(source, absl::StrCat("gap of ", ranges[i].begin - expected_begin,
                                          " bytes in the data before tensor '", name, "'"));
    }
    expected_begin = ranges[i].end;
  }
  if (expected_begin != buffer_size) {
    return Invalid(source, absl::StrCat("data holds ", buffer_size - expected_begin,
                                        " bytes that no tensor covers"));
  }
  std::vector<TensorView> ordered;
  ordered.reserve(ranges.size());
  for (const Range& r : ranges) ordered.push_back(std::move(file->tensors_[r.index]));
  file->tensors_ = std::move(ordered);
  for (size_t i = 0; i < file->tensors_.size(); ++i) file->index_[file->tensors_[i].name] = i;
  return file;
}

const TensorView* File::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto checkpoint = std::make_unique<Checkpoint>();
  auto add_file = [&](const std::string& file_path) -> absl::Status {
    ASSIGN_OR_RETURN(std::unique_ptr<File> file, File::Open(file_path));
    for (const TensorView& t : file->tensors()) {
      auto [it, inserted] = checkpoint->owner_.emplace(t.name, file.get());
      if (!inserted) {
        return Invalid(file_path,
                       absl::StrCat("tensor '", t.name, "' is also in ", it->second->path()));
      }
    }
    checkpoint->files_.push_back(std::move(file));
    return absl::OkStatus();
  };
  if (fs::is_regular_file(path, ec)) {
    RETURN_IF_ERROR(add_file(path));
    return checkpoint;
  }
  if (!fs::is_directory(path, ec)) return Invalid(path, "no such file or directory");
  const std::string index_path = (fs::path(path) / "model.safetensors.index.json").string();
  const std::string single_path = (fs::path(path) / "model.safetensors").string();
  if (fs::exists(index_path, ec)) {
    std::ifstream in(index_path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    json index = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (index.is_discarded() || !index.is_object()) return Invalid(index_path, "not a JSON object");
    auto map_it = index.find("weight_map");
    if (map_it == index.end() || !map_it->is_object()) {
      return Invalid(index_path, "missing object field 'weight_map'");
    }
    std::map<std::string, std::vector<std::string>> by_file;
    for (auto it = map_it->begin(); it != map_it->end(); ++it) {
      if (!it.value().is_string()) {
        return Invalid(index_path, absl::StrCat("weight_map['", it.key(), "'] is not a string"));
      }
      std::string file = it.value().get<std::string>();
      if (file.find('/') != std::string::npos || file == ".." || file.empty()) {
        return Invalid(index_path, absl::StrCat("weight_map['", it.key(), "'] names '", file,
                                                "', not a file in the directory"));
      }
      by_file[file].push_back(it.key());
    }
    for (const auto& [file, names] : by_file) {
      std::string file_path = (fs::path(path) / file).string();
      RETURN_IF_ERROR(add_file(file_path));
      for (const std::string& name : names) {
        if (checkpoint->files_.back()->Find(name) == nullptr) {
          return Invalid(file_path,
                         absl::StrCat("tensor '", name, "' listed in ", index_path, " is missing"));
        }
      }
    }
    return checkpoint;
  }
  if (fs::exists(single_path, ec)) {
    RETURN_IF_ERROR(add_file(single_path));
    return checkpoint;
  }
  return Invalid(path, "holds neither model.safetensors nor model.safetensors.index.json");
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, file] : owner_) out.push_back(name);
  return out;
}

const TensorView* Checkpoint::Find(const std::string& name) const {
  auto it = owner_.find(name);
  return it == owner_.end() ? nullptr : it->second->Find(name);
}

std::string Checkpoint::FileOf(const std::string& name) const {
  auto it = owner_.find(name);
  return it == owner_.end() ? "" : it->second->path();
}

absl::Status Write(const std::string& path, const std::vector<TensorData>& tensors,
                   const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) {
    json meta = json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  for (const TensorData& t : tensors) {
    if (t.name == "__metadata__" || header.contains(t.name)) {
      return Invalid(path, absl::StrCat("tensor name '", t.name, "' given twice or reserved"));
    }
    uint64_t expected = 0;
    if (!ByteSize(t.shape, DtypeSize(t.dtype), &expected) || expected != t.nbytes) {
      return Invalid(path, absl::StrCat("tensor '", t.name, "': shape and dtype need ", expected,
                                        " bytes, got ", t.nbytes));
    }
    header[t.name] = {{"dtype", DtypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  // Pad the header with spaces so the data starts 8-byte aligned.
  while ((text.size() + 8) % 8 != 0) text.push_back(' ');
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::InternalError(absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
  }
  uint8_t len[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f) == 8 && std::fwrite(text.data(), 1, n, f) == n;
  for (const TensorData& t : tensors) {
    if (!ok) break;
    ok = t.nbytes == 0 || std::fwrite(t.data, 1, t.nbytes, f) == t.nbytes;
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat(path, ": write failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace safetensors
}  // namespace rlvr
