"""Oracle for rollout tests and the rollout benchmark: transformers' generate.

  hf_generate.py MODEL_DIR PROMPTS.json OUT.json MAX_NEW_TOKENS [--bench BATCH REPEATS]

PROMPTS.json is a list of token-id lists. Without --bench, writes the greedy
continuations (list of token-id lists, generated part only). With --bench,
times greedy generate on batches of BATCH prompts (all the same length, no
padding, no early stop) and writes {"tokens_per_second": x}.
"""
import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    model_dir, prompts_path, out_path, max_new = sys.argv[1:5]
    max_new = int(max_new)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    prompts = json.load(open(prompts_path))
    kwargs = dict(do_sample=False, max_new_tokens=max_new, min_new_tokens=max_new,
                  pad_token_id=0, eos_token_id=None)
    if len(sys.argv) > 5 and sys.argv[5] == "--bench":
        batch, repeats = int(sys.argv[6]), int(sys.argv[7])
        ids = torch.tensor(prompts[:batch], dtype=torch.long)
        with torch.inference_mode():
            model.generate(ids, do_sample=False, max_new_tokens=2, min_new_tokens=2,
                           pad_token_id=0, eos_token_id=None)  # warm-up
            start = time.perf_counter()
            for _ in range(repeats):
                model.generate(ids, **kwargs)
            secs = time.perf_counter() - start
        json.dump({"tokens_per_second": batch * max_new * repeats / secs}, open(out_path, "w"))
        return
    out = []
    with torch.inference_mode():
        for p in prompts:
            ids = torch.tensor([p], dtype=torch.long)
            gen = model.generate(ids, **kwargs)
            out.append(gen[0, len(p):].tolist())
    json.dump(out, open(out_path, "w"))


if __name__ == "__main__":
    main()
