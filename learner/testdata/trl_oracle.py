"""Reference outputs from TRL's own GRPO code for learner/oracle_test.cc.

Runs trl.GRPOTrainer's loss (`_compute_loss`, called on a stub trainer that carries only
the attributes it reads) and the advantage and vLLM importance-sampling blocks of
`_generate_and_score_completions` (executed verbatim from TRL's installed source), on fixed
random float64 tensors. Writes one JSON file: the inputs, and per case our option names,
the loss, its gradients w.r.t. logprobs and entropy, and TRL's logged metrics.

Usage: python trl_oracle.py OUT.json
"""

import collections
import inspect
import json
import math
import sys
import textwrap
import types

import torch
import trl
from trl.trainer import grpo_trainer
from trl.trainer.grpo_trainer import GRPOTrainer
from trl.trainer.utils import nanstd

torch.set_default_dtype(torch.float64)

B, T, G = 16, 10, 4


def make_inputs():
    g = torch.Generator().manual_seed(1234)
    logprobs = -torch.rand(B, T, generator=g) * 2.0 - 0.05
    lengths = torch.randint(3, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).to(torch.int64)
    # Rewards: group 0 has identical rewards (zero variance), the rest vary.
    rewards = torch.randint(0, 2, (B,), generator=g).double() + 0.25 * torch.rand(B, generator=g)
    rewards[:G] = 0.7
    return {
        "logprobs": logprobs,
        "old_logprobs": logprobs + 0.4 * torch.randn(B, T, generator=g),
        "behaviour_logprobs": logprobs + 0.4 * torch.randn(B, T, generator=g),
        "ref_logprobs": logprobs + 0.3 * torch.randn(B, T, generator=g),
        "entropy": 3.0 * torch.rand(B, T, generator=g),
        "advantages": torch.randn(B, generator=g),
        "mask": mask,
        "rewards": rewards,
    }


def source_block(method, start, end):
    """The lines of `method` from the line containing `start` up to (excluding) `end`."""
    src = inspect.getsource(method)
    i = src.index(start)
    i = src.rindex("\n", 0, i) + 1
    j = src.index(end, i)
    return textwrap.dedent(src[i:j])


ADV_BLOCK = source_block(
    GRPOTrainer._generate_and_score_completions,
    'if self.multi_objective_aggregation == "sum_then_normalize":',
    "# Slice to keep only the local part of the data",
)
IS_BLOCK = source_block(
    GRPOTrainer._generate_and_score_completions,
    "per_token_logps_diff = (old_per_token_logps - sampling_per_token_logps) * mask",
    "# Compute the per-token log probabilities for the reference model",
)


def trl_advantages(rewards, scale_rewards):
    stub = types.SimpleNamespace(
        multi_objective_aggregation="sum_then_normalize",
        reward_weights=torch.ones(1),
        scale_rewards=scale_rewards,
    )
    scope = {"self": stub, "torch": torch, "nanstd": nanstd, "device": "cpu",
             "num_generations": G, "rewards_per_func": rewards[:, None].clone(),
             "unscorable_mask": torch.zeros(B, dtype=torch.bool)}
    exec(ADV_BLOCK, dict(scope), scope)
    return scope["advantages"], scope["is_std_zero"]


def trl_is_ratio(inp, mode, clip_min, clip_max):
    stub = types.SimpleNamespace(vllm_importance_sampling_mode=mode,
                                 vllm_importance_sampling_clip_min=clip_min,
                                 vllm_importance_sampling_clip_max=clip_max)
    scope = {"self": stub, "torch": torch, "math": math,
             "mask": inp["mask"], "old_per_token_logps": inp["old_logprobs"],
             "sampling_per_token_logps": inp["behaviour_logprobs"]}
    # The block starts inside an `if`: run it at its own indentation.
    exec(textwrap.dedent(IS_BLOCK), dict(scope), scope)
    return scope["vllm_importance_sampling_ratio"]


class Accelerator:
    num_processes = 1
    sync_gradients = True

    def gather(self, x):
        return x

    def gather_for_metrics(self, x):
        return x

    def reduce(self, x, reduction="sum"):
        return x


def trl_loss(inp, trl_args):
    """Calls GRPOTrainer._compute_loss on a stub; returns loss, grads and metrics."""
    a = dict(loss_type="grpo", epsilon=0.2, epsilon_high=None, delta=None, beta=0.0,
             importance_sampling_level="token", use_bias_correction_kl=False, entropy_coef=0.0,
             is_mode=None, is_min=None, is_max=None)
    a.update(trl_args)
    logprobs = inp["logprobs"].clone().requires_grad_(True)
    entropy = inp["entropy"].clone().requires_grad_(True)
    args = types.SimpleNamespace(delta=a["delta"], use_bias_correction_kl=a["use_bias_correction_kl"],
                                 steps_per_generation=1)
    stub = types.SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *p, **k: (logprobs, entropy, None),
        top_entropy_quantile=1.0, off_policy_mask_threshold=None,
        importance_sampling_level=a["importance_sampling_level"], beta=a["beta"], args=args,
        loss_type=a["loss_type"], epsilon_low=a["epsilon"],
        epsilon_high=a["epsilon_high"] if a["epsilon_high"] is not None else a["epsilon"],
        use_vllm=a["is_mode"] is not None, vllm_importance_sampling_correction=a["is_mode"] is not None,
        model=types.SimpleNamespace(training=True), current_gradient_accumulation_steps=1,
        max_completion_length=T, accelerator=Accelerator(),
        _entropy_bonus_enabled=a["entropy_coef"] != 0.0, entropy_coef=a["entropy_coef"],
        use_adaptive_entropy=False, aux_loss_enabled=False,
        _metrics=collections.defaultdict(lambda: collections.defaultdict(list)),
    )
    stub.get_off_policy_mask = GRPOTrainer.get_off_policy_mask
    mask = inp["mask"]
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask,
        "advantages": inp["advantages"], "old_per_token_logps": inp["old_logprobs"],
        "ref_per_token_logps": inp["ref_logprobs"], "num_items_in_batch": mask.sum().double(),
    }
    if a["is_mode"] is not None:
        inputs["sampling_per_token_logps"] = inp["behaviour_logprobs"]
        inputs["importance_sampling_ratio"] = trl_is_ratio(inp, a["is_mode"], a["is_min"], a["is_max"])
    loss = GRPOTrainer._compute_loss(stub, None, inputs)
    loss.backward()
    metrics = {k: v[-1] for k, v in stub._metrics["train"].items()}
    return {
        "loss": loss.item(),
        "grad_logprobs": logprobs.grad.tolist(),
        "grad_entropy": entropy.grad.tolist() if entropy.grad is not None else None,
        "trl_metrics": metrics,
    }


# name, TRL arguments, our options (names as in learner/losses.h PolicyLossOptions).
DAPO = {"loss_type": "dapo", "epsilon": 0.2, "epsilon_high": 0.28}
OURS_DAPO = {"objective": "ppo_clip", "clip_low": 0.2, "clip_high": 0.28, "aggregation": "token-mean"}
LOSS_CASES = [
    ("grpo", {"loss_type": "grpo"},
     {"objective": "ppo_clip", "aggregation": "seq-mean-token-mean"}),
    ("bnpo", {"loss_type": "bnpo"}, {"objective": "ppo_clip", "aggregation": "token-mean"}),
    ("dr_grpo", {"loss_type": "dr_grpo"},
     {"objective": "ppo_clip", "aggregation": "constant", "normaliser": B * T}),
    ("dapo_clip_higher", DAPO, OURS_DAPO),
    ("dapo_global_normaliser", dict(DAPO), dict(OURS_DAPO, normaliser="tokens")),
    ("dapo_dual_clip", dict(DAPO, delta=1.5), dict(OURS_DAPO, dual_clip=1.5)),
    ("grpo_kl_k3", {"loss_type": "grpo", "beta": 0.04},
     {"objective": "ppo_clip", "aggregation": "seq-mean-token-mean", "kl_coef": 0.04, "kl_estimator": "k3"}),
    ("dapo_kl_k3_ratio_weighted", dict(DAPO, beta=0.1, use_bias_correction_kl=True),
     dict(OURS_DAPO, kl_coef=0.1, kl_estimator="k3", kl_ratio_weighted=True)),
    ("dr_grpo_kl_k3", {"loss_type": "dr_grpo", "beta": 0.05},
     {"objective": "ppo_clip", "aggregation": "constant", "normaliser": B * T, "kl_coef": 0.05}),
    ("gspo", {"loss_type": "grpo", "importance_sampling_level": "sequence", "epsilon": 3e-4,
              "epsilon_high": 4e-4},
     {"objective": "gspo", "clip_low": 3e-4, "clip_high": 4e-4, "aggregation": "seq-mean-token-mean"}),
    ("gspo_wide_clip_kl", {"loss_type": "grpo", "importance_sampling_level": "sequence", "epsilon": 0.05,
                           "epsilon_high": 0.08, "beta": 0.02},
     {"objective": "gspo", "clip_low": 0.05, "clip_high": 0.08, "aggregation": "seq-mean-token-mean",
      "kl_coef": 0.02}),
    ("cispo", {"loss_type": "cispo", "epsilon_high": 1.3},
     {"objective": "cispo", "cispo_max_weight": 1.3, "aggregation": "token-mean"}),
    ("dapo_entropy_bonus", dict(DAPO, entropy_coef=0.01), dict(OURS_DAPO, entropy_coef=0.01)),
    ("bnpo_entropy_bonus_kl", {"loss_type": "bnpo", "entropy_coef": 0.02, "beta": 0.03},
     {"objective": "ppo_clip", "aggregation": "token-mean", "entropy_coef": 0.02, "kl_coef": 0.03}),
    ("dapo_is_token_truncate", dict(DAPO, is_mode="token_truncate", is_max=1.5),
     dict(OURS_DAPO, is_mode="token_truncate", is_max=1.5)),
    ("dapo_is_token_mask", dict(DAPO, is_mode="token_mask", is_min=0.6, is_max=1.6),
     dict(OURS_DAPO, is_mode="token_mask", is_min=0.6, is_max=1.6)),
    ("grpo_is_sequence_truncate", {"loss_type": "grpo", "is_mode": "sequence_truncate", "is_max": 2.0},
     {"objective": "ppo_clip", "aggregation": "seq-mean-token-mean", "is_mode": "sequence_truncate",
      "is_max": 2.0}),
    ("dapo_is_sequence_mask", dict(DAPO, is_mode="sequence_mask", is_min=0.3, is_max=3.0),
     dict(OURS_DAPO, is_mode="sequence_mask", is_min=0.3, is_max=3.0)),
    ("cispo_is_token_truncate_kl", {"loss_type": "cispo", "epsilon_high": 1.2, "is_mode": "token_truncate",
                                    "is_max": 2.0, "beta": 0.04},
     {"objective": "cispo", "cispo_max_weight": 1.2, "aggregation": "token-mean",
      "is_mode": "token_truncate", "is_max": 2.0, "kl_coef": 0.04}),
]

# scale_rewards -> our estimator; TRL adds 1e-4 to the unbiased std.
ADVANTAGE_CASES = [("group", "grpo"), ("none", "dr_grpo"), ("batch", "grpo_batch_std")]


def main():
    inp = make_inputs()
    out = {"trl_version": trl.__version__, "trl_source": grpo_trainer.__file__,
           "inputs": {k: v.tolist() for k, v in inp.items()}, "loss_cases": [], "advantage_cases": []}
    for name, trl_args, ours in LOSS_CASES:
        ours = dict(ours)
        if ours.get("normaliser") == "tokens":
            ours["normaliser"] = float(inp["mask"].sum())
        case = {"name": name, "options": ours, "trl_args": trl_args}
        case.update(trl_loss(inp, trl_args))
        out["loss_cases"].append(case)
    for scale, estimator in ADVANTAGE_CASES:
        adv, is_std_zero = trl_advantages(inp["rewards"], scale)
        out["advantage_cases"].append({
            "name": f"scale_rewards_{scale}", "estimator": estimator, "epsilon": 1e-4, "std_ddof": 1,
            "group_size": G, "advantages": adv.tolist(),
            "zero_variance_groups": int(is_std_zero.sum()) // G if scale != "batch" else None})
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
