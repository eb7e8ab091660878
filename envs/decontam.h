// Decontamination: word n-gram overlap between training and evaluation prompts.
//
// Text is normalised (Unicode NFKD, case-folded; every character that is not a letter
// or digit separates words). A training task overlaps an evaluation task when they
// share a word n-gram; an evaluation prompt shorter than n words (but at least
// `min_short_words`) overlaps when its whole word sequence appears in a training prompt.
#ifndef RLVR_ENVS_DECONTAM_H_
#define RLVR_ENVS_DECONTAM_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "envs/dataset.h"
#include "nlohmann/json.hpp"

namespace rlvr {

// The normalised words of `text` (invalid UTF-8 bytes separate words).
std::vector<std::string> NormalizedWords(const std::string& text);

struct NgramIndexOptions {
  int n = 13;
  int min_short_words = 4;  // shorter evaluation prompts are not indexed at all
};

// The n-grams of a set of documents. Not thread-safe while adding; Find() is const.
class NgramIndex {
 public:
  explicit NgramIndex(NgramIndexOptions options);
  // Indexes document `doc` (an index the caller assigns).
  void Add(const std::string& text, int64_t doc);
  struct Match {
    std::vector<int64_t> docs;  // indexed documents sharing an n-gram with the text, sorted
    std::string first_ngram;    // the first shared n-gram (normalised words)
    int64_t shared_ngrams = 0;  // n-gram positions of the text found in the index
  };
  Match Find(const std::string& text) const;
  int64_t size() const { return static_cast<int64_t>(grams_.size()); }

 private:
  NgramIndexOptions options_;
  std::unordered_map<std::string, std::vector<int64_t>> grams_;  // "w1 w2 ... wk" -> docs
  std::vector<int> lengths_;  // gram lengths indexed: n, and whole short documents
};

struct DecontamOptions {
  DatasetOptions train;  // read sequentially (streamed); shuffle/split are ignored
  DatasetOptions eval;   // loaded into the index
  NgramIndexOptions ngram;
  std::string output_path;    // "" = no filtered file; else the train lines kept, verbatim
  int64_t max_listed = 1000;  // overlaps listed in the report (all are counted)
};

// Runs the check. The report: {"n", "train", "eval", "train_tasks", "eval_tasks",
// "overlapping_train_tasks", "contaminated_eval_tasks", "kept", "malformed_train_lines",
// "malformed_eval_lines", "overlaps": [{"train_id", "train_line", "eval_ids", "ngram",
// "shared_ngrams"}], "output"?}. Errors: those of the readers (a malformed line with
// OnMalformed::kFail), or UNAVAILABLE if the output cannot be written.
absl::StatusOr<nlohmann::json> Decontaminate(const DecontamOptions& options);

}  // namespace rlvr

#endif  // RLVR_ENVS_DECONTAM_H_
