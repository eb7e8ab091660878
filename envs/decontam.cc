#include "envs/decontam.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace rlvr {
namespace {

bool IsWordChar(utf8proc_int32_t c) {
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_MN:  // combining marks stay inside their word
    case UTF8PROC_CATEGORY_MC:
      return true;
    default:
      return false;
  }
}

std::string Join(const std::vector<std::string>& words, size_t begin, size_t count) {
  std::string out;
  for (size_t i = begin; i < begin + count; ++i) {
    if (i > begin) out += ' ';
    out += words[i];
  }
  return out;
}

}  // namespace

std::vector<std::string> NormalizedWords(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  // Normalise piecewise so that invalid UTF-8 in one place does not lose the rest.
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t remaining = static_cast<utf8proc_ssize_t>(text.size());
  while (remaining > 0) {
    utf8proc_int32_t c;
    const utf8proc_ssize_t len = utf8proc_iterate(p, remaining, &c);
    if (len <= 0) {  // invalid byte: a separator
      flush();
      ++p;
      --remaining;
      continue;
    }
    p += len;
    remaining -= len;
    if (!IsWordChar(c)) {
      flush();
      continue;
    }
    // Case-fold and NFKD-decompose this code point; the result may be several.
    utf8proc_int32_t buffer[18];
    const utf8proc_ssize_t n = utf8proc_decompose_char(
        c, buffer, 18,
        static_cast<utf8proc_option_t>(UTF8PROC_CASEFOLD | UTF8PROC_COMPAT | UTF8PROC_STABLE),
        nullptr);
    for (utf8proc_ssize_t i = 0; i < n && i < 18; ++i) {
      if (!IsWordChar(buffer[i])) {
        flush();
        continue;
      }
      utf8proc_uint8_t out[4];
      const utf8proc_ssize_t bytes = utf8proc_encode_char(buffer[i], out);
      word.append(reinterpret_cast<const char*>(out), static_cast<size_t>(bytes));
    }
  }
  flush();
  return words;
}

NgramIndex::NgramIndex(NgramIndexOptions options) : options_(options) {
  lengths_.push_back(options_.n);
}

void NgramIndex::Add(const std::string& text, int64_t doc) {
  const std::vector<std::string> words = NormalizedWords(text);
  const size_t n = static_cast<size_t>(options_.n);
  auto add = [&](std::string key) {
    std::vector<int64_t>& docs = grams_[std::move(key)];
    if (docs.empty() || docs.back() != doc) docs.push_back(doc);
  };
  if (words.size() >= n) {
    for (size_t i = 0; i + n <= words.size(); ++i) add(Join(words, i, n));
  } else if (static_cast<int>(words.size()) >= options_.min_short_words) {
    add(Join(words, 0, words.size()));
    const int k = static_cast<int>(words.size());
    if (std::find(lengths_.begin(), lengths_.end(), k) == lengths_.end()) lengths_.push_back(k);
  }
}

NgramIndex::Match NgramIndex::Find(const std::string& text) const {
  Match match;
  const std::vector<std::string> words = NormalizedWords(text);
  std::set<int64_t> docs;
  for (int k : lengths_) {
    const size_t len = static_cast<size_t>(k);
    for (size_t i = 0; i + len <= words.size(); ++i) {
      auto it = grams_.find(Join(words, i, len));
      if (it == grams_.end()) continue;
      if (match.first_ngram.empty()) match.first_ngram = it->first;
      ++match.shared_ngrams;
      docs.insert(it->second.begin(), it->second.end());
    }
  }
  match.docs.assign(docs.begin(), docs.end());
  return match;
}

absl::StatusOr<nlohmann::json> Decontaminate(const DecontamOptions& options) {
  if (options.ngram.n < 1) return absl::InvalidArgumentError("n must be >= 1");
  // Evaluation tasks into the index.
  DatasetOptions eval_options = options.eval;
  eval_options.shuffle = false;
  eval_options.max_epochs = 1;
  ASSIGN_OR_RETURN(std::unique_ptr<DatasetReader> eval, DatasetReader::Open(eval_options));
  NgramIndex index(options.ngram);
  std::vector<std::string> eval_ids;
  while (true) {
    ASSIGN_OR_RETURN(std::optional<Task> task, eval->Next());
    if (!task) break;
    index.Add(PromptText(*task), static_cast<int64_t>(eval_ids.size()));
    eval_ids.push_back(task->id);
  }

  DatasetOptions train_options = options.train;
  train_options.shuffle = false;
  train_options.max_epochs = 1;
  train_options.split = Split::kAll;
  ASSIGN_OR_RETURN(std::unique_ptr<DatasetReader> train, DatasetReader::Open(train_options));
  std::FILE* out = nullptr;
  const std::string tmp_path = options.output_path + ".tmp";
  if (!options.output_path.empty()) {
    out = std::fopen(tmp_path.c_str(), "wb");
    if (out == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot write '", tmp_path, "'"));
    }
  }
  nlohmann::json overlaps = nlohmann::json::array();
  std::vector<bool> eval_hit(eval_ids.size(), false);
  int64_t train_tasks = 0, overlapping = 0, kept = 0;
  absl::Status status;
  while (true) {
    absl::StatusOr<std::optional<Task>> task = train->Next();
    if (!task.ok()) {
      status = task.status();
      break;
    }
    if (!task->has_value()) break;
    ++train_tasks;
    NgramIndex::Match match = index.Find(PromptText(**task));
    if (!match.docs.empty()) {
      ++overlapping;
      nlohmann::json ids = nlohmann::json::array();
      for (int64_t d : match.docs) {
        eval_hit[d] = true;
        ids.push_back(eval_ids[d]);
      }
      if (static_cast<int64_t>(overlaps.size()) < options.max_listed) {
        overlaps.push_back({{"train_id", (*task)->id},
                            {"train_line", train->last_line_number()},
                            {"eval_ids", ids},
                            {"ngram", match.first_ngram},
                            {"shared_ngrams", match.shared_ngrams}});
      }
      continue;
    }
    ++kept;
    if (out != nullptr) {
      const std::string& line = train->last_raw_line();
      if (std::fwrite(line.data(), 1, line.size(), out) != line.size() ||
          std::fputc('\n', out) == EOF) {
        status = absl::UnavailableError(absl::StrCat("cannot write '", tmp_path, "'"));
        break;
      }
    }
  }
  if (out != nullptr) {
    if (std::fclose(out) != 0 && status.ok()) {
      status = absl::UnavailableError(absl::StrCat("cannot write '", tmp_path, "'"));
    }
    if (status.ok() && std::rename(tmp_path.c_str(), options.output_path.c_str()) != 0) {
      status = absl::UnavailableError(
          absl::StrCat("cannot rename '", tmp_path, "' to '", options.output_path, "'"));
    }
    if (!status.ok()) std::remove(tmp_path.c_str());
  }
  if (!status.ok()) return status;

  nlohmann::json report = {
      {"n", options.ngram.n},
      {"train", options.train.path},
      {"eval", options.eval.path},
      {"train_tasks", train_tasks},
      {"eval_tasks", static_cast<int64_t>(eval_ids.size())},
      {"overlapping_train_tasks", overlapping},
      {"contaminated_eval_tasks", std::count(eval_hit.begin(), eval_hit.end(), true)},
      {"kept", kept},
      {"malformed_train_lines", train->stats().malformed},
      {"malformed_eval_lines", eval->stats().malformed},
      {"overlaps", overlaps}};
  if (!options.output_path.empty()) report["output"] = options.output_path;
  return report;
}

}  // namespace rlvr
