// Finding the final answer in a model completion or a gold solution.
//
// Methods are tried in the configured priority order; within one method the
// rightmost match wins. Thread-safe: pure functions.
#ifndef RLVR_VERIFIERS_MATH_EXTRACT_H_
#define RLVR_VERIFIERS_MATH_EXTRACT_H_

#include <optional>
#include <string>
#include <vector>

namespace rlvr::math {

// Extraction method names, usable in ExtractOptions::priority:
//   "boxed"        the last \boxed{...} / \fbox{...} (brace-balanced, nested)
//   "final_answer" "final answer is X" / Minerva "Final Answer: The final answer is X.
//                  I hope it is correct."
//   "gsm8k"        "#### X"
//   "answer_colon" "Answer: X" (also "**Answer:** X")
//   "chinese"      "答案是 X" / "答案为 X" / "答案：X"
//   "answer_is"    "the answer is X" (X up to the sentence end or a ", not ..." aside;
//                  only when X looks like math)
//   "latex"        the last $...$, $$...$$, \(...\) or \[...\]
//   "last_number"  the last number in the text ("-1,234.5", "3/4")
const std::vector<std::string>& ExtractionMethods();

struct ExtractOptions {
  // Methods in priority order; the first method that matches wins.
  std::vector<std::string> priority = {"boxed",   "final_answer", "gsm8k", "answer_colon",
                                       "chinese", "answer_is",    "latex", "last_number"};
};

struct Extraction {
  std::string text;    // the answer text, not yet normalised
  std::string method;  // the method that found it ("bare" for a whole gold answer)
};

// True when the text ends inside its last \boxed{ / \fbox{ (an unclosed box: a
// completion cut off in its final answer).
bool EndsInsideBox(const std::string& text);

// The answer in a completion, or nullopt when no method matches, or when the completion
// ends inside an unclosed \boxed{ and "boxed" is in the priority.
std::optional<Extraction> ExtractAnswer(const std::string& completion,
                                        const ExtractOptions& options);

// The answer in a gold field: a bare answer ("3/4", "\frac34"), a boxed one, or a
// full MATH/GSM8K/Minerva solution from which it is extracted the same way.
// Returns nullopt only for an empty (all-whitespace) gold.
std::optional<Extraction> ExtractGold(const std::string& gold);

// The content of the last brace-balanced \boxed{...} or \fbox{...} in `text`
// ("\boxed 5" takes one token), or nullopt.
std::optional<std::string> LastBoxed(const std::string& text);

// A multiple-choice letter (A..A+num_choices-1, uppercase) chosen in `text`:
// "\boxed{B}", "(B)", "answer is B", "\textbf{(B)}", a lone "B"; rightmost wins.
// `choices`, when non-empty, also maps an answer equal to a choice's text to its letter.
std::optional<char> ExtractChoiceLetter(const std::string& text, int num_choices,
                                        const std::vector<std::string>& choices = {});

}  // namespace rlvr::math

#endif  // RLVR_VERIFIERS_MATH_EXTRACT_H_
