"""The TRL side of `rlvr bench e2e-trl`: GRPO with TRL's GRPOTrainer on CPU.

Usage: python trl_grpo.py SPEC.json

SPEC.json (written by `rlvr bench e2e-trl`) names the Hugging Face model directory
(the same warm-started weights and tokenizer the rlvr side trains), a JSONL of tasks
({"prompt", "gold"}, in the order rlvr draws them: step k uses rows
[k * prompts_per_step, (k + 1) * prompts_per_step)), the hyperparameters, and the path
of the JSON result this script writes: per-step wall and CPU seconds, mean reward, mean
completion length, and the number of optimizer steps TRL ran.

The reward is computed here, independently of rlvr: 1.0 when the last \\boxed{...} of
the completion holds the gold integer, else 0.0.
"""

import json
import re
import sys
import time

import torch
import trl
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def boxed_integer_reward(completions, gold, **kwargs):
    rewards = []
    for text, answer in zip(completions, gold):
        found = BOXED.findall(text)
        value = found[-1].replace(",", "").replace(" ", "") if found else None
        try:
            rewards.append(1.0 if value is not None and int(value) == int(answer) else 0.0)
        except ValueError:
            rewards.append(0.0)
    return rewards


class StepLog(TrainerCallback):
    """Wall and CPU time between optimizer steps and the reward TRL logs for each step."""

    def __init__(self):
        self.last = None
        self.seconds = []
        self.cpu_seconds = []
        self.rewards = []
        self.lengths = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.last = (time.perf_counter(), time.process_time())

    def on_step_end(self, args, state, control, **kwargs):
        now = (time.perf_counter(), time.process_time())
        self.seconds.append(now[0] - self.last[0])
        self.cpu_seconds.append(now[1] - self.last[1])
        self.last = now

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "reward" in logs:
            self.rewards.append(float(logs["reward"]))
            self.lengths.append(float(logs.get("completions/mean_length", 0.0)))


def main():
    spec = json.load(open(sys.argv[1]))
    if spec.get("threads", 0) > 0:
        torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    rows = [json.loads(line) for line in open(spec["tasks"])]
    dataset = Dataset.from_list([{"prompt": r["prompt"], "gold": r["gold"]} for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(spec["model"])
    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32)
    # The prompts must tokenize to the ids rlvr generates from.
    for r in rows[: spec["prompts_per_step"]]:
        ids = tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]
        if ids != r["prompt_ids"]:
            raise SystemExit(f"tokenizer mismatch on {r['prompt']!r}: {ids} != {r['prompt_ids']}")

    group = spec["num_generations"]
    config = GRPOConfig(
        output_dir=spec["output_dir"],
        max_steps=spec["steps"],
        per_device_train_batch_size=spec["prompts_per_step"] * group,
        gradient_accumulation_steps=1,
        num_generations=group,
        num_iterations=1,
        shuffle_dataset=False,
        max_completion_length=spec["max_completion_length"],
        temperature=spec["temperature"],
        top_p=spec["top_p"],
        top_k=spec["top_k"],
        learning_rate=spec["lr"],
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=spec["weight_decay"],
        max_grad_norm=spec["max_grad_norm"],
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        beta=0.0,
        epsilon=spec["clip_low"],
        epsilon_high=spec["clip_high"],
        loss_type=spec["loss_type"],
        scale_rewards="group",
        use_vllm=False,
        use_cpu=True,
        bf16=False,
        fp16=False,
        seed=spec["seed"],
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    log = StepLog()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=boxed_integer_reward,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[log],
    )
    trainer.train()
    result = {
        "trl_version": trl.__version__,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "global_step": trainer.state.global_step,
        "step_seconds": log.seconds,
        "step_cpu_seconds": log.cpu_seconds,
        "reward": log.rewards,
        "mean_completion_tokens": log.lengths,
    }
    with open(spec["result"], "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
