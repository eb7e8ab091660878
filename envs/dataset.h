// JSONL datasets: records mapped to Tasks by a field mapping, read as a stream.
//
//   ASSIGN_OR_RETURN(FieldMapping mapping, MappingForFormat("gsm8k"));
//   DatasetOptions options;
//   options.path = "train.jsonl";
//   options.mapping = mapping;
//   options.shuffle = true;
//   ASSIGN_OR_RETURN(auto reader, DatasetReader::Open(options));
//   while (true) {
//     ASSIGN_OR_RETURN(std::optional<Task> task, reader->Next());
//     if (!task) break;                        // all epochs done
//     ...
//     checkpoint["data"] = reader->Cursor().ToJson();   // later: reader->Restore(...)
//   }
#ifndef RLVR_ENVS_DATASET_H_
#define RLVR_ENVS_DATASET_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "envs/task.h"
#include "nlohmann/json.hpp"

namespace rlvr {

// Which record fields make up a Task. Every field name may list alternatives,
// "question|description": the first one present in a record is used.
struct FieldMapping {
  // The converter: "generic", "gsm8k", "math", "mbpp", "humaneval", "stdio", "task"
  // (the canonical Task JSON of task.h). MappingForFormat() fills the fields below.
  std::string format = "generic";
  std::string id = "id";    // when absent from a record: "<dataset name>-<line>"
  std::string prompt;       // text, or a list of {role, content} messages
  std::string answer;       // gold answer (generic, gsm8k: after "####", math)
  std::string solution;     // math: solution whose last \boxed{} is the gold when `answer`
                            // is absent; code: reference solution, stored as gold
  std::string tests;        // mbpp: test_list; humaneval: test; stdio: every alternative
                            // present contributes cases (APPS input_output, CodeContests
                            // public_tests/private_tests)
  std::string setup;        // mbpp: test_setup_code
  std::string entry_point;  // humaneval
  std::string verifier;     // Task::verifier unless the record has "verifier"
  std::vector<std::string> metadata;  // fields copied into Task::metadata when present
};

// The ready mapping for a format name; INVALID_ARGUMENT listing the names otherwise.
absl::StatusOr<FieldMapping> MappingForFormat(const std::string& format);
std::vector<std::string> KnownFormats();

// Converts one record. `default_id` is used when the record has no id field.
// INVALID_ARGUMENT naming the missing or mistyped field.
absl::StatusOr<Task> TaskFromRecord(const nlohmann::json& record, const FieldMapping& mapping,
                                    const std::string& default_id);

// The gold answer inside a GSM8K answer ("... #### 1,234" -> "1234"); "" if none.
std::string Gsm8kGold(const std::string& answer);
// The content of the last \boxed{...} or \fbox{...} (braces balanced); "" if none.
std::string LastBoxed(const std::string& text);

enum class OnMalformed { kSkip, kFail };
enum class Split { kAll, kTrain, kEval };

struct DatasetOptions {
  std::string path;
  FieldMapping mapping;
  std::string name;  // prefix of generated ids and metadata.source; default: file stem
  // A malformed line (bad JSON, missing field, over-long) is reported as
  // "file:line: reason" and then skipped and counted (kSkip), or Next() fails with it.
  OnMalformed on_malformed = OnMalformed::kSkip;
  // Receives each report (kSkip); default: one line on stderr for the first
  // `max_reports` lines, then only counted.
  std::function<void(const std::string&)> reporter;
  int64_t max_reports = 20;
  int64_t max_line_bytes = 64 << 20;  // longer lines are malformed (memory stays bounded)
  bool shuffle = false;               // a fresh permutation per epoch, from (seed, epoch)
  uint64_t seed = 0;
  int64_t max_epochs = 1;  // Next() returns nullopt after this many passes; 0 = forever
  // Train/eval split by a hash of (split_salt, task id): a task is in "eval" when its
  // hash falls below eval_fraction. Stable under reordering and appending records.
  Split split = Split::kAll;
  double eval_fraction = 0.0;
  std::string split_salt = "rlvr-split";
};

// Where a reader is: enough to resume with exactly the same next task. Serialisable.
struct DatasetCursor {
  int64_t epoch = 0;
  int64_t position = 0;      // shuffle: index into the epoch's permutation
  uint64_t byte_offset = 0;  // sequential: offset of the next line
  int64_t line = 0;          // sequential: number of lines consumed
  uint64_t file_size = 0;    // guards against resuming on a changed file
  bool shuffle = false;
  uint64_t seed = 0;

  nlohmann::json ToJson() const;
  // INVALID_ARGUMENT naming the field if `json` is not a cursor.
  static absl::StatusOr<DatasetCursor> FromJson(const nlohmann::json& json);
};

struct DatasetStats {
  int64_t lines = 0;        // lines read (blank ones included)
  int64_t tasks = 0;        // tasks returned
  int64_t malformed = 0;    // lines skipped as malformed
  int64_t other_split = 0;  // tasks filtered out by the split
};

// Streams tasks from one JSONL file.
//
// Sequential mode reads line by line: memory is bounded by one line whatever the
// file size. Shuffle mode builds an offset index in one pass (8 bytes per line,
// plus 8 per line for the epoch's permutation) and reads lines by seeking. An offset
// index rather than a shuffle buffer because (a) it gives a uniform permutation of the
// whole file, where a buffer only mixes neighbours (datasets are often sorted by source
// or difficulty), and (b) a cursor is then two integers, so resuming is exact and
// O(1) without replaying the stream or saving buffered tasks.
//
// Not thread-safe. Next() never throws; I/O errors are UNAVAILABLE/NOT_FOUND.
class DatasetReader {
 public:
  // NOT_FOUND if the file cannot be opened; INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<DatasetReader>> Open(DatasetOptions options);
  ~DatasetReader();
  DatasetReader(const DatasetReader&) = delete;
  DatasetReader& operator=(const DatasetReader&) = delete;

  // The next task, or nullopt when max_epochs passes are done. With kFail, a malformed
  // line is INVALID_ARGUMENT "file:line: reason" (the reader stays usable: the next
  // call continues after that line).
  absl::StatusOr<std::optional<Task>> Next();

  // The position before the task the next Next() returns.
  DatasetCursor Cursor() const;
  // Moves to `cursor`. FAILED_PRECONDITION if it was taken on a file of another size
  // or with other shuffle/seed options.
  absl::Status Restore(const DatasetCursor& cursor);

  // The raw text and 1-based line number of the record behind the last task returned.
  const std::string& last_raw_line() const { return raw_line_; }
  int64_t last_line_number() const { return last_line_; }
  const DatasetStats& stats() const { return stats_; }
  const DatasetOptions& options() const { return options_; }

 private:
  explicit DatasetReader(DatasetOptions options);
  absl::Status BuildIndex();
  void StartEpoch();
  // Reads the line starting at `offset` into raw_line_; false at end of file.
  absl::StatusOr<bool> ReadLineAt(uint64_t offset, uint64_t* next_offset, bool* too_long);
  absl::Status Malformed(int64_t line, const std::string& reason);

  DatasetOptions options_;
  std::FILE* file_ = nullptr;
  uint64_t file_size_ = 0;
  std::vector<uint64_t> line_offsets_;  // shuffle mode: start of every line
  std::vector<uint64_t> permutation_;   // shuffle mode: this epoch's line order
  int64_t permutation_epoch_ = -1;
  uint64_t file_pos_ = UINT64_MAX;   // where the FILE* stands, to avoid needless seeks
  int64_t epochs_without_task_ = 0;  // guards max_epochs == 0 on a dataset with no tasks
  DatasetCursor cursor_;
  DatasetStats stats_;
  std::string raw_line_;
  int64_t last_line_ = 0;
};

// True if `task_id` falls in the eval part of a hash split (see DatasetOptions).
bool InEvalSplit(const std::string& task_id, double eval_fraction, const std::string& salt);

// Deterministic, platform-independent randomness (std::shuffle and the std
// distributions are not specified to give the same results everywhere).
uint64_t SplitMix64(uint64_t* state);
uint64_t UniformBelow(uint64_t* state, uint64_t n);  // in [0, n), n > 0, unbiased
uint64_t Fingerprint64(const std::string& text);     // FNV-1a then mixed

}  // namespace rlvr

#endif  // RLVR_ENVS_DATASET_H_
