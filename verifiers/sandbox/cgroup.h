// Internal: per-run cgroups for memory and process-count limits (cgroup v2, or the v1
// memory and pids hierarchies), created as children of this process's own cgroups.
#ifndef RLVR_VERIFIERS_SANDBOX_CGROUP_H_
#define RLVR_VERIFIERS_SANDBOX_CGROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace rlvr::sandbox {

// Counters of one slot; the difference across a run tells what happened in it.
struct CgroupCounters {
  int64_t oom_kills = 0;      // processes the kernel killed for memory
  int64_t pids_max_hits = 0;  // fork/clone refused by pids.max
};

// One cgroup (a directory per controller), reused run after run; owned by CgroupPool.
class CgroupSlot {
 public:
  // Sets the limits for the next run (no-op when unchanged). memory: bytes including
  // tmpfs pages, no swap.
  absl::Status Configure(int64_t memory_bytes, int64_t max_pids);
  // Moves `pid` (and so its future descendants) into this cgroup.
  absl::Status Join(pid_t pid);
  CgroupCounters Read() const;
  // SIGKILLs whatever is still in the cgroup but `keep` (0: none); true when nothing else
  // is left afterwards.
  bool KillAll(pid_t keep = 0);

 private:
  friend class CgroupPool;
  absl::Status Write(int64_t memory_bytes, int64_t max_pids);
  int version_ = 2;
  pid_t owner_tid_ = 0;        // the thread living in this slot (v1), 0: none
  int64_t memory_bytes_ = -1;  // as last configured
  int64_t max_pids_ = -1;
  std::string memory_dir_;  // == pids_dir_ on v2
  std::string pids_dir_;
};

// Thread-safe.
class CgroupPool {
 public:
  // Finds writable memory and pids controllers for this process. `parent_override`
  // (v2 only; "" = this process's cgroup) names a delegated cgroup directory.
  // FAILED_PRECONDITION saying exactly what is missing.
  static absl::StatusOr<std::unique_ptr<CgroupPool>> Create(const std::string& parent_override);
  ~CgroupPool();  // removes every slot's directories

  // A free slot, created on demand. Release it when its run is over and it is empty.
  absl::StatusOr<CgroupSlot*> Acquire();
  void Release(CgroupSlot* slot);

  // cgroup v1 only (v2 keeps processes and threads together): the slot the calling thread
  // lives in, joined on the thread's first call and kept for its lifetime, so that the
  // processes it spawns are born in the slot. Moving a process between cgroups instead
  // waits for an RCU grace period, tens of milliseconds on a loaded machine. The thread's
  // own memory stays charged to the process's cgroup (v1 charges the mm's owner); its
  // other children are born in the slot too and count against its pids limit.
  // UNIMPLEMENTED on v2.
  absl::StatusOr<CgroupSlot*> ThreadSlot();

  // E.g. "cgroup v1 memory at /sys/fs/cgroup/memory/x, pids at /sys/fs/cgroup/pids/y".
  std::string Describe() const;

 private:
  CgroupPool() = default;
  uint64_t id_ = 0;  // unique per pool in this process
  int version_ = 2;
  std::string memory_base_;
  std::string pids_base_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<CgroupSlot>> all_ ABSL_GUARDED_BY(mu_);
  std::vector<CgroupSlot*> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rlvr::sandbox

#endif  // RLVR_VERIFIERS_SANDBOX_CGROUP_H_
