// Internal: the messages between a Sandbox (parent) and rlvr-sandbox-init (the
// sandbox's PID 1). Length-prefixed binary, so file contents may hold any bytes.
// Both ends are built from this one header; there is no versioning.
#ifndef RLVR_VERIFIERS_SANDBOX_WIRE_H_
#define RLVR_VERIFIERS_SANDBOX_WIRE_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace rlvr::sandbox::wire {

class Writer {
 public:
  void U64(uint64_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof(v)); }
  void Str(const std::string& s) {
    U64(s.size());
    out_.append(s);
  }
  void StrList(const std::vector<std::string>& v) {
    U64(v.size());
    for (const std::string& s : v) Str(s);
  }
  std::string& data() { return out_; }

 private:
  std::string out_;
};

// Reads what Writer wrote; every getter returns false on truncated input.
class Reader {
 public:
  Reader(const char* data, size_t size) : p_(data), end_(data + size) {}
  bool U64(uint64_t* v) {
    if (static_cast<size_t>(end_ - p_) < sizeof(*v)) return false;
    std::memcpy(v, p_, sizeof(*v));
    p_ += sizeof(*v);
    return true;
  }
  bool Str(std::string* s) {
    uint64_t n = 0;
    if (!U64(&n) || static_cast<uint64_t>(end_ - p_) < n) return false;
    s->assign(p_, n);
    p_ += n;
    return true;
  }
  bool StrList(std::vector<std::string>* v) {
    uint64_t n = 0;
    if (!U64(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    v->resize(n);
    for (std::string& s : *v) {
      if (!Str(&s)) return false;
    }
    return true;
  }
  bool done() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

struct Rlimit {
  uint64_t resource = 0;
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct InFile {
  std::string path;  // relative to the working directory
  std::string content;
  uint64_t mode = 0644;
};

// Everything rlvr-sandbox-init needs; sent on its fd 4 and closed.
struct InitConfig {
  uint64_t isolated = 1;     // 1: in new namespaces (build a root, pivot); 0: degraded
  uint64_t drop_to_uid = 0;  // degraded mode as root: setresuid/gid to this id (0: keep)
  std::string hostname = "sandbox";
  std::vector<std::string> ro_binds;   // host paths, read-only at the same place when present
  std::vector<std::string> dev_nodes;  // e.g. /dev/null, bound read-write
  std::string workdir = "/tmp";
  uint64_t workdir_bytes = 64 << 20;
  uint64_t workdir_inodes = 4096;
  std::vector<InFile> files;
  std::vector<std::string> output_files;
  uint64_t max_output_file_bytes = 64 << 20;
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::vector<Rlimit> rlimits;
  std::string seccomp_bpf;  // struct sock_filter[], empty: none

  std::string Encode() const {
    Writer w;
    w.U64(isolated);
    w.U64(drop_to_uid);
    w.Str(hostname);
    w.StrList(ro_binds);
    w.StrList(dev_nodes);
    w.Str(workdir);
    w.U64(workdir_bytes);
    w.U64(workdir_inodes);
    w.U64(files.size());
    for (const InFile& f : files) {
      w.Str(f.path);
      w.Str(f.content);
      w.U64(f.mode);
    }
    w.StrList(output_files);
    w.U64(max_output_file_bytes);
    w.StrList(argv);
    w.StrList(envp);
    w.U64(rlimits.size());
    for (const Rlimit& r : rlimits) {
      w.U64(r.resource);
      w.U64(r.soft);
      w.U64(r.hard);
    }
    w.Str(seccomp_bpf);
    return std::move(w.data());
  }

  bool Decode(const std::string& s) {
    Reader r(s.data(), s.size());
    uint64_t n = 0;
    if (!r.U64(&isolated) || !r.U64(&drop_to_uid) || !r.Str(&hostname) || !r.StrList(&ro_binds) ||
        !r.StrList(&dev_nodes) || !r.Str(&workdir) || !r.U64(&workdir_bytes) ||
        !r.U64(&workdir_inodes) || !r.U64(&n) || n > s.size()) {
      return false;
    }
    files.resize(n);
    for (InFile& f : files) {
      if (!r.Str(&f.path) || !r.Str(&f.content) || !r.U64(&f.mode)) return false;
    }
    if (!r.StrList(&output_files) || !r.U64(&max_output_file_bytes) || !r.StrList(&argv) ||
        !r.StrList(&envp) || !r.U64(&n) || n > s.size()) {
      return false;
    }
    rlimits.resize(n);
    for (Rlimit& l : rlimits) {
      if (!r.U64(&l.resource) || !r.U64(&l.soft) || !r.U64(&l.hard)) return false;
    }
    return r.Str(&seccomp_bpf) && r.done();
  }
};

// Records init writes on its fd 5, each a U64 tag then the fields below.
enum StatusTag : uint64_t {
  kSetupError = 1,  // Str message: the sandbox could not be built; nothing ran
  kOutputFile = 2,  // Str path, U64 present (0/1), Str content
  kExit = 3,        // U64 wait status, U64 cpu microseconds, U64 max rss KiB
};

// What the zygote (init_main.cc) sends, each one SOCK_SEQPACKET message: kReady once it
// runs, then per run request kStarted (with a pidfd of the run's PID 1, SCM_RIGHTS) and
// kReaped, or kFailed.
struct ZygoteReply {
  enum Tag : uint64_t { kReady = 0, kStarted = 1, kReaped = 2, kFailed = 3 };
  uint64_t tag = kFailed;
  int64_t pid = 0;      // host PID of the run's PID 1
  int64_t status = 0;   // kReaped: its wait status
  uint64_t cpu_us = 0;  // kReaped: its CPU time, with the children it waited for
  int64_t error = 0;    // kFailed: errno
};

}  // namespace rlvr::sandbox::wire

#endif  // RLVR_VERIFIERS_SANDBOX_WIRE_H_
