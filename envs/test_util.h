// Helpers shared by the envs tests.
#ifndef RLVR_ENVS_TEST_UTIL_H_
#define RLVR_ENVS_TEST_UTIL_H_

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace rlvr::testing_util {

// A fresh directory under the gtest temp dir.
inline std::string MakeTempDir(const std::string& name) {
  static int counter = 0;
  std::string dir = ::testing::TempDir() + "/rlvr_envs_" + name + "_" + std::to_string(::getpid()) +
                    "_" + std::to_string(counter++);
  std::string cmd = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "cannot create " << dir;
  return dir;
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string JsonLines(const std::vector<nlohmann::json>& records) {
  std::string out;
  for (const auto& r : records) out += r.dump() + "\n";
  return out;
}

inline bool FileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Runs a shell command; returns its exit status (0 = success).
inline int RunCommand(const std::string& command) {
  int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

}  // namespace rlvr::testing_util

#endif  // RLVR_ENVS_TEST_UTIL_H_
