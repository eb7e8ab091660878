// Internal: the seccomp filter every sandboxed program runs under.
#ifndef RLVR_VERIFIERS_SANDBOX_SECCOMP_POLICY_H_
#define RLVR_VERIFIERS_SANDBOX_SECCOMP_POLICY_H_

#include <string>

#include "absl/status/statusor.h"

namespace rlvr::sandbox {

// Returns the filter as raw `struct sock_filter[]` bytes for seccomp(SECCOMP_SET_MODE_FILTER).
// Default allow; fails with EPERM the system calls a test program never needs: tracing,
// mounts, kernel modules/kexec/reboot, bpf, perf, keyrings, namespace creation or entry
// (unshare, setns, clone with CLONE_NEW*), io_uring, userfaultfd, reading other processes'
// memory, clock/system changes. clone3 gets ENOSYS so libc falls back to clone, whose flags
// the filter can inspect. Calls from a foreign architecture (x32/i386 ABI) kill the process.
// INTERNAL if libseccomp fails.
absl::StatusOr<std::string> BuildSeccompFilter();

}  // namespace rlvr::sandbox

#endif  // RLVR_VERIFIERS_SANDBOX_SECCOMP_POLICY_H_
