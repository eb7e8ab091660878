// Helpers for test binaries that compare models (header-only; tests only; LibTorch).
#ifndef RLVR_TESTS_MODEL_TEST_UTIL_H_
#define RLVR_TESTS_MODEL_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>

#include <gtest/gtest.h>

#include "core/model.h"
#include "core/model_config.h"
#include "core/tokenizer.h"

namespace rlvr::test_util {

// The largest absolute difference between corresponding parameters of two models of the
// same configuration.
inline double MaxParamDiff(const Transformer& a, const Transformer& b) {
  auto pa = a.NamedParameters(), pb = b.NamedParameters();
  double d = 0;
  for (size_t i = 0; i < pa.size() && i < pb.size(); ++i) {
    d = std::max(d, (pa[i].second - pb[i].second).abs().max().item<double>());
  }
  return d;
}

// The built-in default model (BuiltinTinyConfig over the built-in tokenizer), random
// weights from `seed`, float32 on the CPU.
inline Transformer BuiltinTinyModel(uint64_t seed, bool requires_grad = true) {
  ModelOptions mo;
  mo.requires_grad = requires_grad;
  absl::StatusOr<Transformer> m =
      Transformer::RandomInit(BuiltinTinyConfig(Tokenizer::Builtin().vocab_size()), seed, mo);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

}  // namespace rlvr::test_util

#endif  // RLVR_TESTS_MODEL_TEST_UTIL_H_
