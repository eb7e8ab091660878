#include "core/safetensors.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <torch/torch.h>

#include "core/safetensors_torch.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

namespace rlvr {
namespace safetensors {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rlvr_safetensors_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes a file from a raw header and `data_bytes` bytes of data.
  std::string WriteRaw(const std::string& name, const std::string& header, size_t data_bytes,
                       int64_t declared_len = -1) {
    std::string path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary);
    uint64_t n = declared_len >= 0 ? declared_len : header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
    out << header << std::string(data_bytes, '\x01');
    return path;
  }

  std::string OpenError(const std::string& path) {
    auto file = File::Open(path);
    EXPECT_FALSE(file.ok()) << path;
    if (file.ok()) return "";
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    std::string message(file.status().message());
    EXPECT_THAT(message, HasSubstr(path));
    return message;
  }

  fs::path dir_;
};

// Same dtype, shape and bytes.
bool SameBytes(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  return torch::equal(a.contiguous().reshape({-1}).view(torch::kUInt8),
                      b.contiguous().reshape({-1}).view(torch::kUInt8));
}

TEST_F(SafetensorsTest, WritesAndReadsEveryDtype) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::vector<torch::ScalarType> dtypes = {
      torch::kFloat64, torch::kFloat32, torch::kFloat16,       torch::kBFloat16,
      torch::kInt64,   torch::kInt32,   torch::kInt16,         torch::kInt8,
      torch::kUInt8,   torch::kBool,    torch::kFloat8_e4m3fn, torch::kFloat8_e5m2};
  for (size_t i = 0; i < dtypes.size(); ++i) {
    torch::Tensor t = (torch::arange(12, torch::kFloat32).reshape({3, 4}) - 5) * 0.5;
    if (dtypes[i] == torch::kUInt8 || dtypes[i] == torch::kBool) t = t.abs();
    tensors.emplace_back("t" + std::to_string(i) + "." + c10::toString(dtypes[i]), t.to(dtypes[i]));
  }
  tensors.emplace_back("scalar", torch::tensor(3.5, torch::kFloat64).reshape({}));
  tensors.emplace_back("empty", torch::zeros({0, 4}, torch::kFloat32));
  std::string path = (dir_ / "all.safetensors").string();
  ASSERT_TRUE(SaveTensors(path, tensors, {{"format", "pt"}}).ok());

  auto file = File::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  EXPECT_EQ((*file)->tensors().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const TensorView* view = (*file)->Find(name);
    ASSERT_NE(view, nullptr) << name;
    torch::Tensor back = ToTensor(*view);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(SameBytes(back, t)) << name;
  }
}

TEST_F(SafetensorsTest, InteropWithPythonSafetensors) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  torch::manual_seed(0);
  tensors.emplace_back("f64", torch::randn({2, 3}, torch::kFloat64));
  tensors.emplace_back("f32", torch::randn({5}, torch::kFloat32));
  tensors.emplace_back("f16", torch::randn({4, 2}).to(torch::kFloat16));
  tensors.emplace_back("bf16", torch::randn({3, 3}).to(torch::kBFloat16));
  tensors.emplace_back("f8_e4m3", torch::randn({6}).to(torch::kFloat8_e4m3fn));
  tensors.emplace_back("f8_e5m2", torch::randn({6}).to(torch::kFloat8_e5m2));
  tensors.emplace_back("i64", torch::arange(-3, 3, torch::kInt64));
  tensors.emplace_back("i32", torch::arange(-7, 5, torch::kInt32).reshape({3, 4}));
  tensors.emplace_back("i16", torch::arange(-2, 2, torch::kInt16));
  tensors.emplace_back("i8", torch::arange(-4, 4, torch::kInt8));
  tensors.emplace_back("u8", torch::arange(250, 256, torch::kInt32).to(torch::kUInt8));
  tensors.emplace_back("bool", torch::tensor({true, false, true}));
  tensors.emplace_back("scalar", torch::tensor(2.5f).reshape({}));
  std::string ours = (dir_ / "ours.safetensors").string();
  std::string report = (dir_ / "report.json").string();
  std::string theirs = (dir_ / "theirs.safetensors").string();
  ASSERT_TRUE(SaveTensors(ours, tensors, {{"writer", "rlvr"}}).ok());
  std::string cmd = std::string(RLVR_PYTHON) + " " + RLVR_SOURCE_DIR +
                    "/core/testdata/safetensors_interop.py " + ours + " " + report + " " + theirs;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  // Python read what we wrote.
  std::ifstream in(report);
  nlohmann::json seen = nlohmann::json::parse(in);
  EXPECT_EQ(seen["metadata"]["writer"], "rlvr");
  ASSERT_EQ(seen["tensors"].size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const auto& entry = seen["tensors"][name];
    EXPECT_EQ(entry["shape"].get<std::vector<int64_t>>(), t.sizes().vec()) << name;
    torch::Tensor expected = t.to(torch::kFloat64).flatten();
    auto values = entry["values"].get<std::vector<double>>();
    ASSERT_EQ(static_cast<int64_t>(values.size()), expected.numel()) << name;
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(values[i], expected[i].item<double>()) << name << "[" << i << "]";
    }
  }
  // We read what python wrote.
  auto loaded = LoadTensors(theirs);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const torch::Tensor& back = loaded->at(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(SameBytes(back, t)) << name;
  }
}

TEST_F(SafetensorsTest, ShardedCheckpoint) {
  ASSERT_TRUE(SaveTensors((dir_ / "a.safetensors").string(),
                          {{"x", torch::ones({2})}, {"y", torch::zeros({3})}})
                  .ok());
  ASSERT_TRUE(SaveTensors((dir_ / "b.safetensors").string(), {{"z", torch::ones({1})}}).ok());
  std::ofstream((dir_ / "model.safetensors.index.json").string())
      << R"({"metadata": {"total_size": 24}, "weight_map": {"x": "a.safetensors",
            "y": "a.safetensors", "z": "b.safetensors"}})";
  auto checkpoint = Checkpoint::Open(dir_.string());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT((*checkpoint)->names(), ::testing::ElementsAre("x", "y", "z"));
  EXPECT_THAT((*checkpoint)->FileOf("z"), HasSubstr("b.safetensors"));
  EXPECT_EQ((*checkpoint)->Find("y")->numel(), 3);

  // An index naming a tensor its shard lacks.
  std::ofstream((dir_ / "model.safetensors.index.json").string())
      << R"({"weight_map": {"x": "a.safetensors", "w": "b.safetensors"}})";
  auto bad = Checkpoint::Open(dir_.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'w'"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("b.safetensors"));
  // An index naming a missing shard.
  std::ofstream((dir_ / "model.safetensors.index.json").string())
      << R"({"weight_map": {"x": "c.safetensors"}})";
  bad = Checkpoint::Open(dir_.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("c.safetensors"));
  // Not JSON.
  std::ofstream((dir_ / "model.safetensors.index.json").string()) << "{weight_map";
  bad = Checkpoint::Open(dir_.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("model.safetensors.index.json"));
}

TEST_F(SafetensorsTest, MissingPaths) {
  auto missing = Checkpoint::Open((dir_ / "nope").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope"));
  auto empty_dir = Checkpoint::Open(dir_.string());
  ASSERT_FALSE(empty_dir.ok());
  EXPECT_THAT(std::string(empty_dir.status().message()), HasSubstr("model.safetensors"));
}

TEST_F(SafetensorsTest, CorruptFilesGiveClearErrors) {
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_TRUE(File::Open(WriteRaw("good.safetensors", good, 8)).ok());

  EXPECT_THAT(OpenError(WriteRaw("tiny.safetensors", "", 0, 0)), HasSubstr("not valid JSON"));
  {
    std::string path = (dir_ / "short.safetensors").string();
    std::ofstream(path) << "abc";
    EXPECT_THAT(OpenError(path), HasSubstr("truncated"));
  }
  EXPECT_THAT(OpenError(WriteRaw("len.safetensors", good, 8, 1000)), HasSubstr("past the end"));
  EXPECT_THAT(OpenError(WriteRaw("huge.safetensors", good, 8, int64_t{1} << 40)),
              HasSubstr("100 MB"));
  EXPECT_THAT(OpenError(WriteRaw("json.safetensors", R"({"a":{"dtype":)", 8)),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(OpenError(WriteRaw("array.safetensors", "[1,2]", 0)), HasSubstr("not a JSON object"));
  EXPECT_THAT(OpenError(WriteRaw("dtype.safetensors",
                                 R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8)),
              HasSubstr("'a'"));
  EXPECT_THAT(OpenError(WriteRaw("range.safetensors",
                                 R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8)),
              HasSubstr("run past the end"));
  EXPECT_THAT(OpenError(WriteRaw("size.safetensors",
                                 R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
              HasSubstr("need 12 bytes"));
  EXPECT_THAT(OpenError(WriteRaw("overlap.safetensors",
                                 R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                     "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 12)),
              HasSubstr("overlaps"));
  EXPECT_THAT(OpenError(WriteRaw("gap.safetensors",
                                 R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                                     "b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                 12)),
              HasSubstr("gap"));
  EXPECT_THAT(OpenError(WriteRaw("tail.safetensors", good, 12)), HasSubstr("no tensor covers"));
  EXPECT_THAT(OpenError(WriteRaw("dup.safetensors",
                                 R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                                     "a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 8)),
              HasSubstr("appears twice"));
  EXPECT_THAT(OpenError(WriteRaw("reversed.safetensors",
                                 R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8)),
              HasSubstr("reversed"));
  EXPECT_THAT(OpenError(WriteRaw("shape.safetensors",
                                 R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)),
              HasSubstr("shape"));
  EXPECT_THAT(OpenError(WriteRaw("meta.safetensors", R"({"__metadata__":{"k":1}})", 0)),
              HasSubstr("__metadata__"));
  EXPECT_THAT(OpenError(dir_.string()), HasSubstr("not a regular file"));
  EXPECT_THAT(OpenError((dir_ / "missing.safetensors").string()), HasSubstr("cannot open"));

  // Truncating a real file anywhere gives an error, never a crash.
  std::string path = (dir_ / "real.safetensors").string();
  ASSERT_TRUE(SaveTensors(path, {{"w", torch::randn({16, 16})}, {"b", torch::randn({16})}}).ok());
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (size_t cut = 0; cut < bytes.size(); cut += 7) {
    std::string cut_path = (dir_ / "cut.safetensors").string();
    std::ofstream(cut_path, std::ios::binary) << bytes.substr(0, cut);
    EXPECT_FALSE(File::Open(cut_path).ok()) << cut;
  }
}

TEST_F(SafetensorsTest, WriteRejectsBadInput) {
  float x[2] = {1, 2};
  std::string path = (dir_ / "w.safetensors").string();
  EXPECT_FALSE(Write(path, {{"a", Dtype::kF32, {3}, x, 8}}).ok());
  EXPECT_FALSE(Write(path, {{"a", Dtype::kF32, {2}, x, 8}, {"a", Dtype::kF32, {2}, x, 8}}).ok());
  EXPECT_TRUE(Write(path, {{"a", Dtype::kF32, {2}, x, 8}}).ok());
}

}  // namespace
}  // namespace safetensors
}  // namespace rlvr
