#include "learner/checkpoint.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/model.h"
#include "core/status_macros.h"
#include "learner/optim.h"

namespace rlvr {
namespace {

namespace fs = std::filesystem;

constexpr char kManifest[] = "manifest.json";
constexpr char kPrefix[] = "step-";

absl::StatusOr<std::string> Sha256File(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
  return hex;
}

absl::Status FsyncPath(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat(path.string(), ": cannot open for fsync"));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat(path.string(), ": fsync failed"));
  return absl::OkStatus();
}

absl::Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(path.string(), ": write failed"));
  return absl::OkStatus();
}

std::string StepDirName(int64_t step) { return absl::StrFormat("%s%08d", kPrefix, step); }

// Every regular file under `dir`, relative, sorted.
std::vector<std::string> FilesUnder(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(fs::relative(entry.path(), dir).string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

absl::Status SaveRng(const fs::path& path) {
  auto gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  torch::serialize::OutputArchive archive;
  archive.write("cpu", state);
  archive.save_to(path.string());
  return absl::OkStatus();
}

void LoadRng(const fs::path& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path.string());
  torch::Tensor state;
  archive.read("cpu", state);
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

absl::Status SaveImpl(const fs::path& tmp, const Transformer& model,
                      const std::map<std::string, torch::Tensor>* optimizer_state,
                      const CheckpointMeta& meta) {
  RETURN_IF_ERROR(model.Save((tmp / "model").string()));
  if (optimizer_state != nullptr) {
    torch::serialize::OutputArchive archive;
    for (const auto& [name, t] : *optimizer_state) archive.write(name, t);
    archive.save_to((tmp / "optimizer.pt").string());
  }
  RETURN_IF_ERROR(SaveRng(tmp / "rng.pt"));
  nlohmann::json state = {
      {"step", meta.step}, {"policy_version", meta.policy_version}, {"state", meta.state}};
  RETURN_IF_ERROR(WriteText(tmp / "state.json", state.dump(2)));
  RETURN_IF_ERROR(WriteText(tmp / "config.yaml", meta.config_yaml));
  nlohmann::json manifest = {{"format", "rlvr-checkpoint-1"}, {"files", nlohmann::json::object()}};
  for (const std::string& rel : FilesUnder(tmp)) {
    ASSIGN_OR_RETURN(std::string sha, Sha256File(tmp / rel));
    manifest["files"][rel] = {{"sha256", sha}, {"size", fs::file_size(tmp / rel)}};
    RETURN_IF_ERROR(FsyncPath(tmp / rel, /*directory=*/false));
  }
  RETURN_IF_ERROR(WriteText(tmp / kManifest, manifest.dump(2)));
  RETURN_IF_ERROR(FsyncPath(tmp / kManifest, false));
  RETURN_IF_ERROR(FsyncPath(tmp / "model", true));
  return FsyncPath(tmp, true);
}

}  // namespace

std::vector<std::string> ListCheckpoints(const std::string& root) {
  std::vector<std::string> dirs;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return dirs;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind(kPrefix, 0) == 0) dirs.push_back(entry.path().string());
  }
  std::sort(dirs.begin(), dirs.end());  // zero-padded steps sort by name
  return dirs;
}

absl::StatusOr<std::string> SaveCheckpoint(const CheckpointOptions& options,
                                           const Transformer& model, Optimizer* optimizer,
                                           const CheckpointMeta& meta) {
  // The optimizer state first: gathering a sharded one is collective, and only rank 0
  // goes on to write.
  std::map<std::string, torch::Tensor> optimizer_state;
  if (optimizer != nullptr) {
    ASSIGN_OR_RETURN(optimizer_state, optimizer->GatherState());
    if (optimizer->rank() != 0) return std::string();
  }
  const fs::path root(options.root);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return absl::InternalError(absl::StrCat(options.root, ": cannot create: ", ec.message()));
  const fs::path final_dir = root / StepDirName(meta.step);
  const fs::path tmp = root / absl::StrCat(".tmp-", StepDirName(meta.step), "-", ::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  absl::Status s;
  try {
    s = SaveImpl(tmp, model, optimizer != nullptr ? &optimizer_state : nullptr, meta);
  } catch (const std::exception& e) {
    s = absl::InternalError(absl::StrCat(tmp.string(), ": ", e.what()));
  }
  if (!s.ok()) {
    fs::remove_all(tmp, ec);
    return s;
  }
  fs::remove_all(final_dir, ec);  // a stale one of the same step (e.g. after a resume)
  fs::rename(tmp, final_dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat(final_dir.string(), ": rename failed: ", ec.message()));
  RETURN_IF_ERROR(FsyncPath(root, true));
  if (options.keep_last > 0) {
    std::vector<std::string> all = ListCheckpoints(options.root);
    for (size_t i = 0; i + options.keep_last < all.size(); ++i) fs::remove_all(all[i], ec);
  }
  return final_dir.string();
}

absl::Status VerifyCheckpoint(const std::string& dir) {
  const fs::path d(dir);
  const fs::path manifest_path = d / kManifest;
  std::ifstream in(manifest_path);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat(manifest_path.string(), ": missing (partial checkpoint)"));
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.contains("files") || !manifest["files"].is_object()) {
    return absl::DataLossError(absl::StrCat(manifest_path.string(), ": not a valid manifest"));
  }
  for (const auto& [rel, info] : manifest["files"].items()) {
    const fs::path file = d / rel;
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec) return absl::DataLossError(absl::StrCat(file.string(), ": missing"));
    if (!info.contains("size") || size != info["size"].get<uint64_t>()) {
      return absl::DataLossError(
          absl::StrCat(file.string(), ": size ", size, " does not match the manifest"));
    }
    ASSIGN_OR_RETURN(std::string sha, Sha256File(file));
    if (!info.contains("sha256") || sha != info["sha256"].get<std::string>()) {
      return absl::DataLossError(
          absl::StrCat(file.string(), ": checksum does not match the manifest"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& dir, Transformer* model,
                                                Optimizer* optimizer) {
  RETURN_IF_ERROR(VerifyCheckpoint(dir));
  const fs::path d(dir);
  LoadedCheckpoint loaded;
  loaded.dir = dir;
  try {
    std::ifstream in(d / "state.json");
    nlohmann::json state = nlohmann::json::parse(in);
    loaded.meta.step = state.at("step").get<int64_t>();
    loaded.meta.policy_version = state.at("policy_version").get<int64_t>();
    loaded.meta.state = state.at("state");
    std::ifstream cfg(d / "config.yaml");
    std::stringstream buffer;
    buffer << cfg.rdbuf();
    loaded.meta.config_yaml = buffer.str();

    if (model != nullptr) {
      ASSIGN_OR_RETURN(Transformer saved,
                       Transformer::Load((d / "model").string(), model->options()));
      std::map<std::string, torch::Tensor> tensors;
      for (auto& [name, t] : saved.NamedParameters()) tensors.emplace(name, t);
      RETURN_IF_ERROR(model->LoadNamedTensors(tensors));
    }
    if (optimizer != nullptr) {
      if (!fs::exists(d / "optimizer.pt")) {
        return absl::FailedPreconditionError(absl::StrCat(dir, ": has no optimizer state"));
      }
      torch::serialize::InputArchive archive;
      archive.load_from((d / "optimizer.pt").string());
      std::map<std::string, torch::Tensor> state;
      for (const std::string& key : archive.keys()) archive.read(key, state[key]);
      absl::Status restored = optimizer->LoadState(state);
      if (!restored.ok()) {
        return absl::DataLossError(absl::StrCat(dir, "/optimizer.pt: ", restored.message()));
      }
    }
    LoadRng(d / "rng.pt");
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(dir, ": cannot load: ", e.what()));
  }
  return loaded;
}

absl::StatusOr<LoadedCheckpoint> LoadLatestCheckpoint(const CheckpointOptions& options,
                                                      Transformer* model, Optimizer* optimizer) {
  std::vector<std::string> dirs = ListCheckpoints(options.root);
  std::vector<std::string> warnings;
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    absl::StatusOr<LoadedCheckpoint> loaded = LoadCheckpoint(*it, model, optimizer);
    if (loaded.ok()) {
      loaded->warnings = std::move(warnings);
      return loaded;
    }
    warnings.push_back(absl::StrCat("skipping checkpoint ", *it, ": ", loaded.status().message()));
  }
  std::string msg = absl::StrCat(options.root, ": no valid checkpoint");
  for (const std::string& w : warnings) absl::StrAppend(&msg, "\n", w);
  return absl::NotFoundError(msg);
}

}  // namespace rlvr
