// Small helpers shared by the test binaries (header-only; tests only).
#ifndef RLVR_TESTS_TEST_UTIL_H_
#define RLVR_TESTS_TEST_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/model_config.h"

namespace rlvr::test_util {

// The whole file as bytes; "" when it cannot be read.
inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A loopback TCP port that was free a moment ago (for servers that cannot report a
// port they chose, e.g. Prometheus or a c10d store); 0 if none could be bound.
inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  close(fd);
  return ok ? ntohs(a.sin_port) : 0;
}

// A tiny random-weight Qwen3 shape for service tests: vocab 97, hidden 32, 2 layers.
inline ModelConfig TinyQwen3Config() {
  ModelConfig c;
  c.model_type = "qwen3";
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 1024;
  c.qk_norm = true;
  c.tie_word_embeddings = true;
  return c;
}

}  // namespace rlvr::test_util

#endif  // RLVR_TESTS_TEST_UTIL_H_
