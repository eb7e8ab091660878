"""Oracle for model_test: tiny random-weight models made and run by transformers.

  model_oracle.py make OUT_DIR
      For each FAMILY in llama, qwen2, qwen3, writes OUT_DIR/FAMILY/model (a transformers checkpoint of a tiny FAMILY model:
      llama = untied + llama3 RoPE scaling, qwen2 = q/k/v bias + linear RoPE
      scaling, qwen3 = q/k norm + tied embeddings, saved in shards) and
      OUT_DIR/FAMILY/ref.safetensors with input_ids (B, T), logits (B, T, V) float32,
      logits_bf16 (B, T, V) from a bfloat16 forward, and for packing two
      separate sequences seq_a / seq_b with their logits logits_a / logits_b.

  model_oracle.py run MODEL_DIR IDS.safetensors OUT.safetensors [MODEL_DIR IDS OUT ...]
      Loads each MODEL_DIR with transformers (as saved by rlvr) and writes the
      logits (B, T, V) float32 of IDS.safetensors' input_ids.
"""
import os
import sys

import torch
from safetensors.torch import load_file, save_file
import transformers

torch.use_deterministic_algorithms(False)

COMMON = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
              max_position_embeddings=64, attn_implementation="eager")


def make_config(family):
    if family == "llama":
        return transformers.LlamaConfig(
            **COMMON, tie_word_embeddings=False, rope_theta=100.0,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 32})
    if family == "qwen2":
        return transformers.Qwen2Config(
            **COMMON, tie_word_embeddings=False, rope_theta=1000.0,
            rope_scaling={"rope_type": "linear", "factor": 2.0})
    if family == "qwen3":
        return transformers.Qwen3Config(**COMMON, head_dim=16, tie_word_embeddings=True,
                                        rope_theta=1000000.0)
    raise SystemExit(f"unknown family {family}")


def forward(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def make(family, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed({"llama": 1, "qwen2": 2, "qwen3": 3}[family])
    config = make_config(family)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    # Randomise every parameter (norm weights and biases too) so that each one matters.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    shard = "20KB" if family == "qwen3" else "1GB"
    model.save_pretrained(f"{out_dir}/model", max_shard_size=shard)
    ids = torch.randint(0, config.vocab_size, (2, 11))
    seq_a = torch.randint(0, config.vocab_size, (1, 6))
    seq_b = torch.randint(0, config.vocab_size, (1, 4))
    ref = {
        "input_ids": ids,
        "logits": forward(model, ids),
        "seq_a": seq_a,
        "logits_a": forward(model, seq_a),
        "seq_b": seq_b,
        "logits_b": forward(model, seq_b),
    }
    ref["logits_bf16"] = forward(model.to(torch.bfloat16), ids)
    save_file({k: v.contiguous() for k, v in ref.items()}, f"{out_dir}/ref.safetensors")


def run(model_dir, ids_path, out_path):
    model = transformers.AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    ids = load_file(ids_path)["input_ids"]
    save_file({"logits": forward(model, ids).contiguous()}, out_path)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        for family in ("llama", "qwen2", "qwen3"):
            make(family, os.path.join(sys.argv[2], family))
    elif sys.argv[1] == "run":
        args = sys.argv[2:]
        for i in range(0, len(args), 3):
            run(*args[i:i + 3])
    else:
        raise SystemExit(__doc__)
