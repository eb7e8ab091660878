// The built-in verifiers. Each module exposes one Register*() function.
#include <cstdlib>
#include <iostream>

#include "verifiers/code/code_verifier.h"
#include "verifiers/math/math_verifier.h"
#include "verifiers/pipeline/pipeline.h"
#include "verifiers/pipeline/rewards.h"
#include "verifiers/plugin/plugin_verifier.h"
#include "verifiers/service/remote_verifier.h"
#include "verifiers/registry.h"

namespace rlvr {

const VerifierRegistry& BuiltinVerifiers() {
  static const VerifierRegistry* registry = [] {
    auto* r = new VerifierRegistry();
    for (const absl::Status& s : std::vector<absl::Status>{
             // One line per built-in verifier, e.g. RegisterMathVerifier(*r),
             RegisterMathVerifier(*r),
             RegisterCodeVerifier(*r),
             RegisterRewardVerifiers(*r),
             RegisterPipelineVerifier(*r),
             RegisterPluginVerifier(*r),
             RegisterRemoteVerifier(*r),
         }) {
      if (!s.ok()) {
        std::cerr << "rlvr: built-in verifier registration failed: " << s << "\n";
        std::abort();  // a programming error: two built-ins share a name
      }
    }
    return r;
  }();
  return *registry;
}

}  // namespace rlvr
