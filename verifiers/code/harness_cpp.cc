#include "verifiers/code/harness.h"

namespace rlvr::code {

const char kCppHarness[] = R"CPP(
#undef main
#include <fcntl.h>
#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <string>

  int rlvr_user_main() __attribute__((weak));
  int rlvr_user_main(int, char**) __attribute__((weak));

  static void rlvr_report(const std::string& line) {
    ssize_t n = write(3, line.data(), line.size());
    (void)n;
  }

  int main(int argc, char** argv) {
    std::string nonce;
    for (char c; read(0, &c, 1) == 1 && c != '\n';) nonce += c;
    int fd = open("/dev/null", O_RDONLY);
    dup2(fd, 0);
    close(fd);
    rlvr_report(nonce + " count 1\n");
    int rc;
    if (static_cast<int (*)()>(rlvr_user_main) != nullptr) {
      rc = rlvr_user_main();
    } else if (static_cast<int (*)(int, char**)>(rlvr_user_main) != nullptr) {
      rc = rlvr_user_main(argc, argv);
    } else {
      std::fprintf(stderr, "rlvr: the test code defines no main()\n");
      return 2;
    }
    std::fflush(stdout);
    if (rc == 0) rlvr_report(nonce + " test 0 passed 0\n" + nonce + " done\n");
    return rc;
  }
)CPP";

}  // namespace rlvr::code
