// The BPE model: byte ids, rank-ordered merging, and a sharded cache of words.
#include <climits>
#include <queue>

#include "absl/hash/hash.h"
#include "core/tokenizer_internal.h"

namespace rlvr::tokenizer_internal {

namespace {

inline uint64_t PairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

// Words longer than this many bytes are not cached (HF: 256 characters).
constexpr size_t kMaxCachedWord = 256;
// Words with more initial symbols than this use the heap-based merge.
constexpr size_t kShortWord = 64;

}  // namespace

BpeModel::BpeModel(const std::vector<std::optional<std::string>>& token_bytes,
                   const std::vector<std::array<int32_t, 3>>& merges, Options options)
    : options_(options), cache_(new Shard[kShards]) {
  byte_id_.fill(-1);
  for (size_t id = 0; id < token_bytes.size(); ++id) {
    if (!token_bytes[id].has_value()) continue;
    const std::string& b = *token_bytes[id];
    if (b.size() == 1) byte_id_[static_cast<unsigned char>(b[0])] = static_cast<int32_t>(id);
    if (options_.ignore_merges) bytes_to_id_[b] = static_cast<int32_t>(id);
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    // A repeated pair keeps its last rank, as HF's HashMap collect does.
    merges_[PairKey(merges[rank][0], merges[rank][1])] =
        MergeInfo{static_cast<int32_t>(rank), merges[rank][2]};
  }
}

int32_t BpeModel::PairRank(int32_t a, int32_t b, int32_t* merged) const {
  auto it = merges_.find(PairKey(a, b));
  if (it == merges_.end()) return INT_MAX;
  *merged = it->second.merged;
  return it->second.rank;
}

void BpeModel::Tokenize(absl::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    auto it = bytes_to_id_.find(word);
    if (it != bytes_to_id_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  if (word.size() == 1) {
    const int32_t id = byte_id_[static_cast<unsigned char>(word[0])];
    if (id >= 0) {
      out->push_back(id);
    } else if (options_.unk_id.has_value()) {
      out->push_back(*options_.unk_id);
    }
    return;
  }
  const bool cacheable = word.size() <= kMaxCachedWord;
  Shard* shard = nullptr;
  if (cacheable) {
    shard = &cache_[(absl::Hash<absl::string_view>{}(word) >> 40) % kShards];
    absl::ReaderMutexLock lock(&shard->mu);
    auto it = shard->map.find(word);
    if (it != shard->map.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  Ids ids;
  Merge(word, &ids);
  out->insert(out->end(), ids.begin(), ids.end());
  if (cacheable) {
    absl::MutexLock lock(&shard->mu);
    if (shard->map.size() >= options_.cache_capacity / kShards) shard->map.clear();
    shard->map.emplace(word, std::move(ids));
  }
}

void BpeModel::Merge(absl::string_view word, Ids* ids) const {
  ids->reserve(word.size());
  bool last_unk = false;
  for (unsigned char c : word) {
    const int32_t id = byte_id_[c];
    if (id >= 0) {
      ids->push_back(id);
      last_unk = false;
    } else if (options_.unk_id.has_value()) {
      if (!(options_.fuse_unk && last_unk)) ids->push_back(*options_.unk_id);
      last_unk = true;
    }
  }
  const size_t n = ids->size();
  if (n < 2) return;
  if (n > kShortWord) {
    MergeLong(ids);
    return;
  }
  // Short words: repeatedly merge the leftmost pair of lowest rank.
  int32_t rank[kShortWord];
  int32_t merged[kShortWord];
  int32_t* sym = ids->data();
  size_t len = n;
  for (size_t i = 0; i + 1 < len; ++i) rank[i] = PairRank(sym[i], sym[i + 1], &merged[i]);
  while (len > 1) {
    size_t best = 0;
    int32_t best_rank = rank[0];
    for (size_t i = 1; i + 1 < len; ++i) {
      if (rank[i] < best_rank) {
        best_rank = rank[i];
        best = i;
      }
    }
    if (best_rank == INT_MAX) break;
    sym[best] = merged[best];
    for (size_t i = best + 1; i + 1 < len; ++i) sym[i] = sym[i + 1];
    for (size_t i = best + 1; i + 2 < len; ++i) {
      rank[i] = rank[i + 1];
      merged[i] = merged[i + 1];
    }
    --len;
    if (best > 0) rank[best - 1] = PairRank(sym[best - 1], sym[best], &merged[best - 1]);
    if (best + 1 < len) rank[best] = PairRank(sym[best], sym[best + 1], &merged[best]);
  }
  ids->resize(len);
}

void BpeModel::MergeLong(Ids* ids) const {
  struct Symbol {
    int32_t id, prev, next;
  };
  struct Candidate {
    int32_t rank, pos, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  const int32_t n = static_cast<int32_t>(ids->size());
  std::vector<Symbol> sym(n);
  for (int32_t i = 0; i < n; ++i) sym[i] = {(*ids)[i], i - 1, i + 1 < n ? i + 1 : -1};
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push = [&](int32_t pos) {
    const int32_t next = sym[pos].next;
    if (next < 0) return;
    int32_t m;
    const int32_t r = PairRank(sym[pos].id, sym[next].id, &m);
    if (r != INT_MAX) heap.push({r, pos, m});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const int32_t next = sym[c.pos].next;
    if (sym[c.pos].id < 0 || next < 0) continue;
    int32_t m;
    if (PairRank(sym[c.pos].id, sym[next].id, &m) != c.rank || m != c.merged) continue;
    sym[c.pos].id = c.merged;
    sym[next].id = -1;
    sym[c.pos].next = sym[next].next;
    if (sym[next].next >= 0) sym[sym[next].next].prev = c.pos;
    if (sym[c.pos].prev >= 0) push(sym[c.pos].prev);
    push(c.pos);
  }
  ids->clear();
  for (int32_t i = 0; i >= 0; i = sym[i].next) ids->push_back(sym[i].id);
}

}  // namespace rlvr::tokenizer_internal
