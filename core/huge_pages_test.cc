#include "core/huge_pages.h"

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace rlvr {
namespace {

TEST(HugePagesTest, BuffersAreZeroAlignedAndUsable) {
  torch::Tensor t = ZerosOnHugePages({3, 1000, 700});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % (uintptr_t{2} << 20), 0u);
  EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  EXPECT_EQ(t.abs().max().item<float>(), 0.0f);
  t.fill_(2.0f);
  EXPECT_EQ(t.sum().item<double>(), 2.0 * 3 * 1000 * 700);
  EXPECT_EQ(ZerosOnHugePages({0}).numel(), 0);
}

int64_t MappingCount() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int64_t n = 0;
  while (std::getline(maps, line)) ++n;
  return n;
}

// Each buffer is its own mapping: dropping the tensor unmaps it.
TEST(HugePagesTest, BuffersAreUnmappedWhenFreed) {
  const int64_t before = MappingCount();
  {
    std::vector<torch::Tensor> held;
    for (int i = 0; i < 50; ++i) held.push_back(ZerosOnHugePages({1 << 20}));
    EXPECT_GE(MappingCount(), before + 25);  // neighbours may merge, not all 50
  }
  EXPECT_LE(MappingCount(), before + 2);
}

TEST(HugePagesTest, NegativeSizesAreRefused) {
  EXPECT_THROW(ZerosOnHugePages({-1, -1}), c10::Error);
}

}  // namespace
}  // namespace rlvr
