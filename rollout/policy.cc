#include "rollout/policy.h"

#include <filesystem>

#include "core/status_macros.h"

namespace rlvr {

absl::StatusOr<Policy> LoadPolicy(const std::string& dir, const ModelOptions& options) {
  if (dir == "builtin") {
    Tokenizer tokenizer = Tokenizer::Builtin();
    ModelConfig config = BuiltinTinyConfig(tokenizer.vocab_size());
    ASSIGN_OR_RETURN(Transformer model, Transformer::RandomInit(config, 0, options));
    return Policy{std::move(model), tokenizer};
  }
  ASSIGN_OR_RETURN(Transformer model, Transformer::Load(dir, options));
  std::optional<Tokenizer> tokenizer;
  if (std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json")) {
    ASSIGN_OR_RETURN(tokenizer, Tokenizer::FromFile(dir));
  }
  return Policy{std::move(model), std::move(tokenizer)};
}

}  // namespace rlvr
