// The built-in tokenizer: a byte-level BPE whose merges are learned, deterministically
// and at first use, from a short built-in text, then loaded through the same
// tokenizer.json path as any file.
#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/tokenizer.h"
#include "core/tokenizer_internal.h"

namespace rlvr {
namespace {

using nlohmann::json;
using tokenizer_internal::ByteToChar;

// Qwen2/Qwen3's pre-tokenizer regex: every digit is its own pre-token, which suits
// arithmetic tasks.
constexpr char kSplitPattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

constexpr int kNumMerges = 240;

constexpr char kChatTemplate[] =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Text the merges are learned from: the language of the built-in tasks (arithmetic,
// word problems, short programs, chat turns).
constexpr char kTrainingText[] = R"(
<|im_start|>system
You are a helpful assistant. Think step by step, then give the final answer.
<|im_end|>
<|im_start|>user
What is the sum of 12 and 30? Put the final answer in \boxed{}.
<|im_end|>
<|im_start|>assistant
<think>
We need to add the two numbers. First, 12 + 30 = 42. So the answer is 42.
</think>
The sum of 12 and 30 is 42. The final answer is \boxed{42}.
<|im_end|>
Question: A farmer has 15 apples and buys 27 more. How many apples does the farmer have now?
Answer: The farmer has 15 + 27 = 42 apples. The answer is 42.
Question: Tom reads 8 pages each day for 7 days. How many pages does he read in total?
Answer: He reads 8 * 7 = 56 pages in total. The answer is 56.
Question: What is the product of 6 and 9? What is the difference between 100 and 64?
Answer: The product is 6 * 9 = 54 and the difference is 100 - 64 = 36.
Let x be the number of students in the class. Then 3x + 5 = 20, so x = 5.
Compute the value of the expression (4 + 5) * 3 - 2 / 1. The result is 25.
Solve for x: 2x - 7 = 11. Add 7 to both sides: 2x = 18. Divide by 2: x = 9.
If a train travels at 60 miles per hour for 3 hours, the distance is 180 miles.
The total cost is the price times the quantity, so the total is 4 * 25 = 100 dollars.
Each box holds 12 eggs. There are 5 boxes, so there are 60 eggs in all.
The remainder when 17 is divided by 5 is 2, and the quotient is 3.
def add(a, b):
    return a + b

def solve(numbers):
    total = 0
    for number in numbers:
        if number % 2 == 0:
            total += number
        else:
            total -= number
    return total

def main():
    values = [1, 2, 3, 4, 5]
    result = solve(values)
    print(f"The result is {result}")
    assert result == -3, "unexpected result"

if __name__ == "__main__":
    main()

import math
from typing import List

class Solution:
    def count(self, items: List[int]) -> int:
        return len([x for x in items if x > 0])

for i in range(10):
    print(i, i * i)

while True:
    line = input()
    if not line:
        break
    print(line.strip())
The answer is correct. The answer is not correct. Let us check the answer again.
We know that the sum of the first n numbers is n(n + 1) / 2.
Therefore, the final answer is \boxed{55}. Therefore, the answer is \frac{1}{2}.
The function returns the value of the number. This is the value that we want.
)";

struct Trained {
  std::vector<std::string> tokens;  // raw bytes per id
  std::vector<std::pair<int32_t, int32_t>> merges;
};

Trained TrainMerges(const tokenizer_internal::PreTokenizer& pre) {
  Trained t;
  for (int b = 0; b < 256; ++b) t.tokens.push_back(std::string(1, static_cast<char>(b)));
  std::map<std::string, int> counts;
  // Special-token lines are not learned from: drop the markup first.
  std::string text = kTrainingText;
  for (const char* special : {"<|im_start|>", "<|im_end|>", "<think>", "</think>"}) {
    for (size_t p; (p = text.find(special)) != std::string::npos;) {
      text.erase(p, std::string(special).size());
    }
  }
  pre.ForEachWord(text, [&](absl::string_view w) { ++counts[std::string(w)]; });
  std::vector<std::pair<std::vector<int32_t>, int>> words;
  for (const auto& [w, c] : counts) {
    std::vector<int32_t> syms;
    for (unsigned char ch : w) syms.push_back(ch);
    words.emplace_back(std::move(syms), c);
  }
  std::map<std::string, int32_t> ids;
  for (int b = 0; b < 256; ++b) ids[t.tokens[b]] = b;
  for (int m = 0; m < kNumMerges; ++m) {
    std::map<std::pair<int32_t, int32_t>, int> pairs;
    for (const auto& [syms, c] : words) {
      for (size_t i = 0; i + 1 < syms.size(); ++i) pairs[{syms[i], syms[i + 1]}] += c;
    }
    std::pair<int32_t, int32_t> best{-1, -1};
    int best_count = 1;
    for (const auto& [p, c] : pairs) {
      if (c > best_count) {  // ties: the smallest pair, by std::map order
        best = p;
        best_count = c;
      }
    }
    if (best.first < 0) break;
    const std::string merged = t.tokens[best.first] + t.tokens[best.second];
    int32_t id;
    auto it = ids.find(merged);
    if (it != ids.end()) {
      id = it->second;
    } else {
      id = static_cast<int32_t>(t.tokens.size());
      t.tokens.push_back(merged);
      ids[merged] = id;
    }
    t.merges.push_back(best);
    for (auto& [syms, c] : words) {
      std::vector<int32_t> out;
      for (size_t i = 0; i < syms.size(); ++i) {
        if (i + 1 < syms.size() && syms[i] == best.first && syms[i + 1] == best.second) {
          out.push_back(id);
          ++i;
        } else {
          out.push_back(syms[i]);
        }
      }
      syms = std::move(out);
    }
  }
  return t;
}

std::string ByteLevelString(const std::string& bytes) {
  std::string s;
  for (unsigned char b : bytes) tokenizer_internal::AppendUtf8(ByteToChar()[b], &s);
  return s;
}

Tokenizer BuildBuiltin() {
  const json pre_tokenizer = {
      {"type", "Sequence"},
      {"pretokenizers", json::array({{{"type", "Split"},
                                      {"pattern", {{"Regex", kSplitPattern}}},
                                      {"behavior", "Isolated"},
                                      {"invert", false}},
                                     {{"type", "ByteLevel"},
                                      {"add_prefix_space", false},
                                      {"trim_offsets", false},
                                      {"use_regex", false}}})}};
  absl::StatusOr<tokenizer_internal::PreTokenizer> pre =
      tokenizer_internal::PreTokenizer::FromJson(pre_tokenizer, "pre_tokenizer");
  if (!pre.ok()) std::abort();  // a programming error: the JSON above is fixed
  const Trained trained = TrainMerges(*pre);

  json vocab = json::object();
  for (size_t id = 0; id < trained.tokens.size(); ++id) {
    vocab[ByteLevelString(trained.tokens[id])] = id;
  }
  json merges = json::array();
  for (const auto& [a, b] : trained.merges) {
    merges.push_back({ByteLevelString(trained.tokens[a]), ByteLevelString(trained.tokens[b])});
  }
  json added = json::array();
  int32_t next_id = static_cast<int32_t>(trained.tokens.size());
  for (const auto& [content, special] :
       std::vector<std::pair<std::string, bool>>{{"<|endoftext|>", true},
                                                 {"<|im_start|>", true},
                                                 {"<|im_end|>", true},
                                                 {"<think>", false},
                                                 {"</think>", false}}) {
    added.push_back({{"id", next_id++},
                     {"content", content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", special}});
  }
  const json byte_level = {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", false},
                           {"use_regex", false}};
  const json doc = {{"version", "1.0"},
                    {"truncation", nullptr},
                    {"padding", nullptr},
                    {"added_tokens", added},
                    {"normalizer", nullptr},
                    {"pre_tokenizer", pre_tokenizer},
                    {"post_processor", byte_level},
                    {"decoder", byte_level},
                    {"model",
                     {{"type", "BPE"},
                      {"dropout", nullptr},
                      {"unk_token", nullptr},
                      {"continuing_subword_prefix", nullptr},
                      {"end_of_word_suffix", nullptr},
                      {"fuse_unk", false},
                      {"byte_fallback", false},
                      {"ignore_merges", false},
                      {"vocab", vocab},
                      {"merges", merges}}}};
  const json config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                       {"bos_token", nullptr},
                       {"eos_token", "<|im_end|>"},
                       {"pad_token", "<|endoftext|>"},
                       {"unk_token", nullptr},
                       {"add_bos_token", false},
                       {"clean_up_tokenization_spaces", false},
                       {"model_max_length", 1 << 20},
                       {"chat_template", kChatTemplate}};
  absl::StatusOr<Tokenizer> tok = Tokenizer::FromJson(doc.dump(), "<built-in>", config.dump());
  if (!tok.ok()) std::abort();  // a programming error: the tables above are fixed
  return *std::move(tok);
}

}  // namespace

Tokenizer Tokenizer::Builtin() {
  static const Tokenizer* const builtin = new Tokenizer(BuildBuiltin());
  return *builtin;
}

}  // namespace rlvr
