#include "verifiers/sandbox/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace rlvr::sandbox {
namespace {

absl::Status WriteFile(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::FailedPreconditionError(absl::StrCat("open ", path, ": ", strerror(errno)));
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return absl::FailedPreconditionError(
        absl::StrCat("write '", value, "' to ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value of `key` in a "key value" per line file (memory.events, pids.events, ...).
int64_t ReadKey(const std::string& path, const std::string& key) {
  std::istringstream in(ReadFile(path));
  std::string k;
  int64_t v = 0;
  while (in >> k) {
    if (!(in >> v)) break;
    if (k == key) return v;
  }
  return 0;
}

struct Mounts {
  std::string v2;                                     // cgroup2 mount point
  std::string v1_memory, v1_pids;                     // v1 hierarchies' mount points
  std::string v1_memory_root, v1_pids_root, v2_root;  // the mounted roots (mountinfo field 4)
};

Mounts FindMounts() {
  Mounts m;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent maj:min root mountpoint options... - fstype source superoptions
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash < 5 || dash + 3 >= f.size()) continue;
    const std::string& fstype = f[dash + 1];
    const std::string& super = f[dash + 3];
    if (fstype == "cgroup2" && m.v2.empty()) {
      m.v2 = f[4];
      m.v2_root = f[3];
    } else if (fstype == "cgroup") {
      for (absl::string_view opt : absl::StrSplit(super, ',')) {
        if (opt == "memory" && m.v1_memory.empty()) {
          m.v1_memory = f[4];
          m.v1_memory_root = f[3];
        }
        if (opt == "pids" && m.v1_pids.empty()) {
          m.v1_pids = f[4];
          m.v1_pids_root = f[3];
        }
      }
    }
  }
  return m;
}

// This process's cgroup path per controller ("" key: the v2 unified one).
std::string OwnCgroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (f.size() != 3) continue;
    if (controller.empty() && f[0] == "0" && f[1].empty()) return f[2];
    for (absl::string_view c : absl::StrSplit(f[1], ',')) {
      if (!controller.empty() && c == controller) return f[2];
    }
  }
  return "";
}

std::string Join(const std::string& mount, const std::string& mount_root, std::string path) {
  if (mount_root != "/" && absl::StartsWith(path, mount_root))
    path = path.substr(mount_root.size());
  if (path == "/") path.clear();
  return mount + path;
}

bool Writable(const std::string& dir) { return access(dir.c_str(), W_OK) == 0; }

// Removes the slot directories ("rlvr-sandbox-<pid>-<n>") that a process which is gone
// (killed before its pools were destroyed) left in `base`; only empty ones can go.
void RemoveStaleSlots(const std::string& base) {
  DIR* d = opendir(base.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (struct dirent* e = readdir(d)) {
    absl::string_view name = e->d_name;
    if (!absl::ConsumePrefix(&name, "rlvr-sandbox-")) continue;
    int pid = 0;
    if (!absl::SimpleAtoi(name.substr(0, name.find('-')), &pid) || pid <= 0) continue;
    if (pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(e->d_name);
  }
  closedir(d);
  for (const std::string& name : stale) rmdir((base + "/" + name).c_str());
}

}  // namespace

absl::Status CgroupSlot::Configure(int64_t memory_bytes, int64_t max_pids) {
  if (memory_bytes == memory_bytes_ && max_pids == max_pids_) return absl::OkStatus();
  memory_bytes_ = max_pids_ = -1;  // unknown until every write below succeeded
  absl::Status s = Write(memory_bytes, max_pids);
  if (s.ok()) {
    memory_bytes_ = memory_bytes;
    max_pids_ = max_pids;
  }
  return s;
}

absl::Status CgroupSlot::Write(int64_t memory_bytes, int64_t max_pids) {
  const std::string mem = std::to_string(memory_bytes);
  if (version_ == 2) {
    if (absl::Status s = WriteFile(memory_dir_ + "/memory.max", mem); !s.ok()) return s;
    (void)WriteFile(memory_dir_ + "/memory.swap.max", "0");
    return WriteFile(pids_dir_ + "/pids.max", std::to_string(max_pids));
  }
  // v1: memsw must stay >= limit, so the order depends on the direction of the change.
  const std::string limit = memory_dir_ + "/memory.limit_in_bytes";
  const std::string memsw = memory_dir_ + "/memory.memsw.limit_in_bytes";
  const bool has_memsw = access(memsw.c_str(), F_OK) == 0;
  absl::Status s = WriteFile(limit, mem);
  if (has_memsw) {
    absl::Status t = WriteFile(memsw, mem);
    if (!s.ok()) s = WriteFile(limit, mem);
    if (!t.ok()) t = WriteFile(memsw, mem);
    if (!t.ok()) return t;
  }
  if (!s.ok()) return s;
  return WriteFile(pids_dir_ + "/pids.max", std::to_string(max_pids));
}

absl::Status CgroupSlot::Join(pid_t pid) {
  const std::string p = std::to_string(pid);
  if (absl::Status s = WriteFile(memory_dir_ + "/cgroup.procs", p); !s.ok()) return s;
  if (pids_dir_ != memory_dir_) return WriteFile(pids_dir_ + "/cgroup.procs", p);
  return absl::OkStatus();
}

CgroupCounters CgroupSlot::Read() const {
  CgroupCounters c;
  c.oom_kills = version_ == 2 ? ReadKey(memory_dir_ + "/memory.events", "oom_kill")
                              : ReadKey(memory_dir_ + "/memory.oom_control", "oom_kill");
  c.pids_max_hits = ReadKey(pids_dir_ + "/pids.events", "max");
  return c;
}

namespace {
// Per thread: the slot it joined in each pool (by pool id).
thread_local std::vector<std::pair<uint64_t, CgroupSlot*>> tls_slots;
std::atomic<uint64_t> next_pool_id{1};
}  // namespace

bool CgroupSlot::KillAll(pid_t keep) {
  if (keep == 0 && version_ == 2 && WriteFile(memory_dir_ + "/cgroup.kill", "1").ok()) {
    // cgroup.kill is asynchronous; wait below for the cgroup to empty.
  }
  for (int round = 0; round < 200; ++round) {
    bool any = false;
    for (const std::string& dir : {memory_dir_, pids_dir_}) {
      std::istringstream in(ReadFile(dir + "/cgroup.procs"));
      pid_t pid;
      while (in >> pid) {
        if (pid == getpid() || pid == keep) continue;  // ours (ThreadSlot), or kept
        kill(pid, SIGKILL);
        any = true;
      }
    }
    if (!any) return true;
    usleep(1000);
  }
  return false;
}

absl::StatusOr<std::unique_ptr<CgroupPool>> CgroupPool::Create(const std::string& parent_override) {
  std::unique_ptr<CgroupPool> pool(new CgroupPool());
  pool->id_ = next_pool_id++;
  const Mounts m = FindMounts();
  std::string why;
  // cgroup v2 with both controllers delegated to us.
  std::string v2_base = parent_override;
  if (v2_base.empty() && !m.v2.empty()) v2_base = Join(m.v2, m.v2_root, OwnCgroup(""));
  if (!v2_base.empty()) {
    const std::string controllers = ReadFile(v2_base + "/cgroup.controllers");
    const bool has = controllers.find("memory") != std::string::npos &&
                     controllers.find("pids") != std::string::npos;
    if (has && Writable(v2_base) &&
        WriteFile(v2_base + "/cgroup.subtree_control", "+memory +pids").ok()) {
      pool->version_ = 2;
      pool->memory_base_ = pool->pids_base_ = v2_base;
      RemoveStaleSlots(v2_base);
      return pool;
    }
    why =
        absl::StrCat("cgroup v2 at ", v2_base, " does not delegate memory and pids (controllers: '",
                     absl::StripAsciiWhitespace(controllers), "')");
  } else {
    why = "no cgroup v2 mount";
  }
  if (!parent_override.empty()) return absl::FailedPreconditionError(why);
  // cgroup v1 memory and pids hierarchies.
  if (m.v1_memory.empty() || m.v1_pids.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        why, "; no cgroup v1 ", m.v1_memory.empty() ? "memory" : "pids", " hierarchy mounted"));
  }
  const std::string mem = Join(m.v1_memory, m.v1_memory_root, OwnCgroup("memory"));
  const std::string pids = Join(m.v1_pids, m.v1_pids_root, OwnCgroup("pids"));
  for (const std::string& dir : {mem, pids}) {
    if (!Writable(dir)) {
      return absl::FailedPreconditionError(
          absl::StrCat(why, "; cgroup v1 directory ", dir, " is not writable"));
    }
  }
  pool->version_ = 1;
  pool->memory_base_ = mem;
  pool->pids_base_ = pids;
  RemoveStaleSlots(mem);
  RemoveStaleSlots(pids);
  // Prove that a child can be created (and removed) before promising cgroups.
  absl::StatusOr<CgroupSlot*> slot = pool->Acquire();
  if (!slot.ok())
    return absl::FailedPreconditionError(absl::StrCat(why, "; ", slot.status().message()));
  pool->Release(*slot);
  return pool;
}

absl::StatusOr<CgroupSlot*> CgroupPool::Acquire() {
  absl::MutexLock lock(&mu_);
  if (!free_.empty()) {
    CgroupSlot* s = free_.back();
    free_.pop_back();
    return s;
  }
  // Slots of threads that have exited are free again.
  for (auto& slot : all_) {
    if (slot->owner_tid_ != 0 &&
        access(absl::StrCat("/proc/self/task/", slot->owner_tid_).c_str(), F_OK) != 0) {
      slot->owner_tid_ = 0;
      return slot.get();
    }
  }
  auto slot = std::make_unique<CgroupSlot>();
  slot->version_ = version_;
  // Unique across pools of this process: a pool removes its directories when destroyed.
  static std::atomic<int> next_id{0};
  const std::string name = absl::StrCat("rlvr-sandbox-", getpid(), "-", next_id++);
  slot->memory_dir_ = memory_base_ + "/" + name;
  slot->pids_dir_ = pids_base_ + "/" + name;
  for (const std::string& dir : {slot->memory_dir_, slot->pids_dir_}) {
    if (mkdir(dir.c_str(), 0755) != 0 &&
        !(errno == EEXIST && dir == slot->pids_dir_ && slot->pids_dir_ == slot->memory_dir_)) {
      return absl::FailedPreconditionError(absl::StrCat("mkdir ", dir, ": ", strerror(errno)));
    }
  }
  if (version_ == 1) {
    (void)WriteFile(slot->memory_dir_ + "/memory.swappiness", "0");
  }
  all_.push_back(std::move(slot));
  return all_.back().get();
}

absl::StatusOr<CgroupSlot*> CgroupPool::ThreadSlot() {
  if (version_ != 1) return absl::UnimplementedError("thread slots need cgroup v1");
  for (const auto& [id, slot] : tls_slots) {
    if (id == id_) return slot;
  }
  absl::StatusOr<CgroupSlot*> slot = Acquire();
  if (!slot.ok()) return slot.status();
  const std::string tid = std::to_string(gettid());
  absl::Status s = WriteFile((*slot)->memory_dir_ + "/tasks", tid);
  if (s.ok()) s = WriteFile((*slot)->pids_dir_ + "/tasks", tid);
  if (!s.ok()) {
    (void)WriteFile(memory_base_ + "/tasks", tid);
    (void)WriteFile(pids_base_ + "/tasks", tid);
    Release(*slot);
    return s;
  }
  (*slot)->owner_tid_ = gettid();
  tls_slots.push_back({id_, *slot});
  return *slot;
}

void CgroupPool::Release(CgroupSlot* slot) {
  absl::MutexLock lock(&mu_);
  free_.push_back(slot);
}

CgroupPool::~CgroupPool() {
  absl::MutexLock lock(&mu_);
  for (auto& slot : all_) {
    slot->KillAll();
    if (slot->owner_tid_ != 0) {
      // The thread is still alive: back to this process's cgroups, so the slot can go.
      const std::string tid = std::to_string(slot->owner_tid_);
      (void)WriteFile(memory_base_ + "/tasks", tid);
      (void)WriteFile(pids_base_ + "/tasks", tid);
    }
    rmdir(slot->memory_dir_.c_str());
    if (slot->pids_dir_ != slot->memory_dir_) rmdir(slot->pids_dir_.c_str());
  }
}

std::string CgroupPool::Describe() const {
  if (version_ == 2) return absl::StrCat("cgroup v2 memory+pids under ", memory_base_);
  return absl::StrCat("cgroup v1 memory under ", memory_base_, ", pids under ", pids_base_);
}

}  // namespace rlvr::sandbox
