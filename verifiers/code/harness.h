// Internal: the test harnesses that run inside the sandbox next to the model's program.
// Their protocol (on fd 3) is described in harness_py.cc; the C++ one speaks a subset.
#ifndef RLVR_VERIFIERS_CODE_HARNESS_H_
#define RLVR_VERIFIERS_CODE_HARNESS_H_

namespace rlvr::code {

// harness.py (modes stdio, assert, call).
extern const char kPythonHarness[];

// rlvr_harness.cpp: main() for C++ assert-style tests. The program and test code are
// compiled with -Dmain=rlvr_user_main; this main reads the nonce, runs the user's main
// and prints "<nonce> count 1", then "<nonce> test 0 passed 0" and "<nonce> done" only
// if it returned 0.
extern const char kCppHarness[];

}  // namespace rlvr::code

#endif  // RLVR_VERIFIERS_CODE_HARNESS_H_
