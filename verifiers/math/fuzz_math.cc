// libFuzzer entry point over the math verifier: tokenizer, extraction, normalisation,
// parser and the full Verify(). The input is "gold\ncompletion" (or both the same
// text when there is no newline). Built as `math_fuzzer` with -DRLVR_FUZZ=ON and clang;
// fuzz_regression_test runs it over a corpus with g++.
#include <cstddef>
#include <cstdint>
#include <string>

#include "verifiers/math/extract.h"
#include "verifiers/math/lexer.h"
#include "verifiers/math/math_verifier.h"
#include "verifiers/math/normalize.h"
#include "verifiers/math/parser.h"

namespace {

const rlvr::MathVerifier& FuzzVerifier() {
  static const rlvr::MathVerifier* v = [] {
    rlvr::MathVerifierOptions o;
    o.equivalence.timeout_ms = 200;
    return new rlvr::MathVerifier(o);
  }();
  return *v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const size_t nl = text.find('\n');
  const std::string gold = nl == std::string::npos ? text : text.substr(0, nl);
  const std::string completion = nl == std::string::npos ? text : text.substr(nl + 1);

  (void)rlvr::math::Detokenize(rlvr::math::Tokenize(text));
  (void)rlvr::math::ExtractAnswer(text, {});
  (void)rlvr::math::ExtractGold(text);
  (void)rlvr::math::ExtractChoiceLetter(text, 5, {"1", "2"});
  const rlvr::math::Normalized n = rlvr::math::Normalize(text);
  auto tree = rlvr::math::Parse(n.text);
  if (tree.ok()) (void)rlvr::math::DebugString(*tree);

  rlvr::VerifyRequest request;
  request.answer = gold;
  request.completion = completion;
  (void)FuzzVerifier().Verify(request);
  request.spec = nlohmann::json{{"multiple_choice", true}};
  (void)FuzzVerifier().Verify(request);
  return 0;
}
