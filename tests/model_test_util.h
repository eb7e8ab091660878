// Helpers for test binaries that compare models (header-only; tests only; LibTorch).
#ifndef RLVR_TESTS_MODEL_TEST_UTIL_H_
#define RLVR_TESTS_MODEL_TEST_UTIL_H_

#include <algorithm>

#include "core/model.h"

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

}  // namespace rlvr::test_util

#endif  // RLVR_TESTS_MODEL_TEST_UTIL_H_
