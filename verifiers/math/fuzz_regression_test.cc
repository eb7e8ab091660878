// Runs the libFuzzer entry point (fuzz_math.cc) with the normal compiler over a corpus
// (the fuzz seeds, every gold/completion of cases.jsonl) and seeded random mutations
// of it: no crash, and no input takes a second or more (a hang guard, far above the
// verifier's own 200 ms budget in the fuzz entry).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "rlvr/test_paths.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::string> Corpus() {
  std::vector<std::string> corpus;
  const std::string dir = std::string(RLVR_SOURCE_DIR) + "/verifiers/math/testdata/fuzz_corpus";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    corpus.push_back(ss.str());
  }
  std::ifstream cases(std::string(RLVR_SOURCE_DIR) + "/verifiers/math/testdata/cases.jsonl");
  std::string line;
  while (std::getline(cases, line)) {
    if (line.empty()) continue;
    auto c = nlohmann::json::parse(line);
    corpus.push_back(c["gold"].get<std::string>() + "\n" + c["completion"].get<std::string>());
  }
  return corpus;
}

// Pieces that exercise the parser's and normaliser's special paths.
const char* const kFragments[] = {"\\boxed{",
                                  "}",
                                  "{",
                                  "\\frac",
                                  "\\sqrt[",
                                  "]",
                                  "^",
                                  "_",
                                  "\\left(",
                                  "\\right)",
                                  "\\{",
                                  "\\}",
                                  "\\pm",
                                  "\\infty",
                                  "\\begin{pmatrix}",
                                  "\\end{pmatrix}",
                                  "&",
                                  "\\\\",
                                  "!",
                                  "\\%",
                                  "^\\circ",
                                  "\\text{",
                                  "$",
                                  "$$",
                                  "=",
                                  "\\le",
                                  ",",
                                  "9999999999999999999",
                                  "^{99999}",
                                  "\\overline{3}",
                                  "(",
                                  ")",
                                  "[",
                                  "\\cup",
                                  "\\sin",
                                  "\\log_",
                                  "e",
                                  "i",
                                  "x",
                                  ".",
                                  "-",
                                  "#### ",
                                  "Final Answer: The final answer is ",
                                  "\xE2\x88\x92",
                                  "\xFF",
                                  "\\binom{",
                                  "2006!"};

std::string Mutate(const std::string& seed, std::mt19937& rng) {
  std::string s = seed;
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits; ++e) {
    const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 4) {
      case 0:  // insert a fragment
        s.insert(pos, kFragments[rng() % (sizeof(kFragments) / sizeof(kFragments[0]))]);
        break;
      case 1:  // delete a span
        if (!s.empty()) s.erase(pos, 1 + rng() % 6);
        break;
      case 2:  // flip a byte
        if (!s.empty()) s[pos % s.size()] = static_cast<char>(rng() % 256);
        break;
      default:  // duplicate a span
        if (!s.empty()) {
          const size_t b = rng() % s.size();
          s.insert(pos, s.substr(b, 1 + rng() % 20));
        }
    }
  }
  return s;
}

TEST(MathFuzzRegression, CorpusAndMutationsNeitherCrashNorHang) {
  std::vector<std::string> inputs = Corpus();
  ASSERT_GT(inputs.size(), 300u);
  std::mt19937 rng(20240611);
  const size_t seeds = inputs.size();
  for (int k = 0; k < 3000; ++k) inputs.push_back(Mutate(inputs[rng() % seeds], rng));
  for (int k = 0; k < 200; ++k) {  // pure random bytes
    std::string r(rng() % 64, '\0');
    for (char& c : r) c = static_cast<char>(rng() % 256);
    inputs.push_back(r);
  }
  double slowest = 0;
  std::string slowest_input;
  for (const std::string& in : inputs) {
    const auto start = std::chrono::steady_clock::now();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s > slowest) {
      slowest = s;
      slowest_input = in;
    }
  }
  EXPECT_LT(slowest, 1.0) << "slowest input:\n" << slowest_input;
  std::printf("fuzz regression: %zu inputs, slowest %.3f s\n", inputs.size(), slowest);
}

}  // namespace
