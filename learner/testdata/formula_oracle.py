"""Formula-level reference for the learner variants TRL does not implement, for
learner/oracle_test.cc: k1/k2 KL, KL folded into rewards, RLOO, std ddof/epsilon choices,
global normalisers across micro-batches, entropy bonus under every aggregation, GSPO with
token-mean, and our metrics (dual-clip and IS statistics).

Written from the papers' formulas, token by token in plain Python loops over torch
scalars (autograd gives the gradients), independently of the C++ code.

Usage: python formula_oracle.py OUT.json
"""

import json
import math
import sys

import torch

torch.set_default_dtype(torch.float64)
B, T, G = 12, 7, 4


def make_inputs():
    g = torch.Generator().manual_seed(99)
    logprobs = -torch.rand(B, T, generator=g) * 2.0 - 0.05
    lengths = torch.randint(2, T + 1, (B,), generator=g)
    mask = [[1 if t < lengths[b] else 0 for t in range(T)] for b in range(B)]
    rewards = torch.randint(0, 3, (B,), generator=g).double() / 2.0
    rewards[G:2 * G] = 1.0  # a zero-variance group
    return {
        "logprobs": logprobs,
        "old_logprobs": logprobs + 0.4 * torch.randn(B, T, generator=g),
        "behaviour_logprobs": logprobs + 0.4 * torch.randn(B, T, generator=g),
        "ref_logprobs": logprobs + 0.3 * torch.randn(B, T, generator=g),
        "entropy": 3.0 * torch.rand(B, T, generator=g),
        "advantages": torch.randn(B, generator=g),
        "mask": torch.tensor(mask),
        "rewards": rewards,
        "scores": torch.rand(B, generator=g),
    }


def kl(lp, ref, estimator):
    x = lp - ref  # log pi/pi_ref
    if estimator == "k1":
        return x
    if estimator == "k2":
        return x * x / 2
    return torch.exp(ref - lp) - (ref - lp) - 1


def aggregate(per_token, mask, mode, normaliser):
    """per_token: function (b, t) -> scalar."""
    if mode == "seq-mean-token-mean":
        total = 0.0
        for b in range(B):
            n = sum(mask[b])
            if n:
                total = total + sum(per_token(b, t) for t in range(T) if mask[b][t]) / n
        return total / (normaliser or B)
    total = sum(per_token(b, t) for b in range(B) for t in range(T) if mask[b][t])
    return total / (normaliser or sum(map(sum, mask)))


def reference_loss(inp, o):
    mask = inp["mask"].tolist()
    lp = inp["logprobs"].clone().requires_grad_(True)
    ent = inp["entropy"].clone().requires_grad_(True)
    old, beh, ref, adv = inp["old_logprobs"], inp["behaviour_logprobs"], inp["ref_logprobs"], inp["advantages"]
    lo, hi, dual = o.get("clip_low", 0.2), o.get("clip_high", 0.2), o.get("dual_clip", 0.0)
    stats = {"low": 0, "high": 0, "dual": 0, "ratio": []}

    def ratio(b, t):
        if o["objective"] == "gspo":  # geometric mean of the token ratios of sequence b
            n = sum(mask[b])
            return torch.exp(sum(lp[b, s] - old[b, s] for s in range(T) if mask[b][s]) / n)
        return torch.exp(lp[b, t] - old[b, t])

    def is_weight(b, t):
        mode = o.get("is_mode", "none")
        if mode == "none":
            return 1.0
        if mode.startswith("sequence"):
            w = math.exp(sum(float(old[b, s] - beh[b, s]) for s in range(T) if mask[b][s]))
        else:
            w = math.exp(float(old[b, t] - beh[b, t]))
        lo_w, hi_w = o.get("is_min", 0.0), o.get("is_max", 3.0) or math.inf
        if mode.endswith("truncate"):
            return min(max(w, lo_w) if lo_w > 0 else w, hi_w)
        return 0.0 if (w > hi_w or (lo_w > 0 and w < lo_w)) else w

    def objective(b, t):
        a, r = float(adv[b]), ratio(b, t)
        if o["objective"] == "cispo":
            w = min(float(r.detach()), o["cispo_max_weight"])
            return -w * a * lp[b, t]
        surrogate = torch.minimum(r * a, torch.clamp(r, 1 - lo, 1 + hi) * a)
        if dual and a < 0:
            surrogate = torch.maximum(surrogate, torch.tensor(dual * a))
        return -surrogate

    def policy_term(b, t):
        return objective(b, t) * is_weight(b, t)

    def total(b, t):
        v = policy_term(b, t)
        if o.get("kl_coef", 0.0):
            v = v + o["kl_coef"] * kl(lp[b, t], ref[b, t], o.get("kl_estimator", "k3"))
        return v

    mode, norm = o["aggregation"], o.get("normaliser", 0.0)
    loss = aggregate(total, mask, mode, norm)
    if o.get("entropy_coef", 0.0):
        loss = loss - o["entropy_coef"] * aggregate(lambda b, t: ent[b, t], mask, mode, norm)
    loss.backward()

    # Metrics: means over masked tokens (over sequences for the GSPO ratio and clip flags).
    tokens = [(b, t) for b in range(B) for t in range(T) if mask[b][t]]
    seq_level = o["objective"] == "gspo"
    units = [(b, 0) for b in range(B)] if seq_level else tokens
    with torch.no_grad():
        r = {u: float(ratio(*u)) for u in units}
        a = {u: float(adv[u[0]]) for u in units}
        cap = o.get("cispo_max_weight")
        high = (lambda u: r[u] > cap) if o["objective"] == "cispo" else (lambda u: r[u] > 1 + hi)
        mean = lambda xs: sum(xs) / len(xs)
        metrics = {
            "policy_loss": float(aggregate(policy_term, mask, mode, norm)),
            "clip_frac_low": 0.0 if o["objective"] == "cispo" else mean([a[u] < 0 and r[u] < 1 - lo for u in units]),
            "clip_frac_high": mean([a[u] > 0 and high(u) for u in units]),
            "dual_clip_frac": mean([dual > 0 and a[u] < 0 and r[u] > dual for u in units]),
            "ratio_mean": mean(list(r.values())),
            "entropy_mean": mean([float(ent[u]) for u in tokens]),
            "tokens": float(len(tokens)),
        }
        if o.get("kl_coef", 0.0):
            metrics["kl_mean"] = mean([float(kl(lp[u], ref[u], o.get("kl_estimator", "k3"))) for u in tokens])
        if o.get("is_mode", "none") != "none":
            w_units = [(b, 0) for b in range(B)] if o["is_mode"].startswith("sequence") else tokens
            ws = [is_weight(*u) for u in w_units]
            metrics.update(is_weight_mean=mean(ws), is_weight_max=max(ws), is_zeroed_frac=mean([w == 0 for w in ws]))
    return {"loss": float(loss.detach()), "grad_logprobs": lp.grad.tolist(),
            "grad_entropy": ent.grad.tolist() if ent.grad is not None else None, "metrics": metrics}


def reference_advantages(rewards, estimator, epsilon, ddof):
    r = rewards.tolist()
    groups = [r[i:i + G] for i in range(0, B, G)]

    def std(xs):
        m = sum(xs) / len(xs)
        return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - ddof))

    out, zero = [], 0
    batch_std = std(r)
    for xs in groups:
        if max(xs) == min(xs):
            zero += 1
            out += [0.0] * G
            continue
        m = sum(xs) / G
        for i, x in enumerate(xs):
            if estimator == "rloo":
                out.append(x - (sum(xs) - x) / (G - 1))
            elif estimator == "dr_grpo":
                out.append(x - m)
            elif estimator == "grpo":
                out.append((x - m) / (std(xs) + epsilon))
            else:  # grpo_batch_std
                out.append((x - m) / (batch_std + epsilon))
    return out, zero


TOKENS = None  # filled with the batch's token count
LOSS_CASES = [
    ("ppo_kl_k1_token_mean", {"objective": "ppo_clip", "aggregation": "token-mean", "kl_coef": 0.1,
                              "kl_estimator": "k1"}),
    ("ppo_kl_k2_seq_mean_global", {"objective": "ppo_clip", "aggregation": "seq-mean-token-mean",
                                   "normaliser": 3.0 * B, "kl_coef": 0.2, "kl_estimator": "k2"}),
    ("ppo_token_mean_global_dual_clip", {"objective": "ppo_clip", "aggregation": "token-mean", "normaliser": 500.0,
                                         "clip_low": 0.1, "clip_high": 0.3, "dual_clip": 1.4}),
    ("ppo_constant_entropy_k3", {"objective": "ppo_clip", "aggregation": "constant", "normaliser": 2.0 * B * T,
                                 "entropy_coef": 0.05, "kl_coef": 0.05, "kl_estimator": "k3"}),
    ("ppo_seq_mean_entropy", {"objective": "ppo_clip", "aggregation": "seq-mean-token-mean", "entropy_coef": 0.03}),
    ("gspo_token_mean_k2", {"objective": "gspo", "aggregation": "token-mean", "clip_low": 0.02, "clip_high": 0.03,
                            "kl_coef": 0.1, "kl_estimator": "k2"}),
    ("gspo_dual_clip_is_seq_mask", {"objective": "gspo", "aggregation": "seq-mean-token-mean", "clip_low": 0.02,
                                    "clip_high": 0.03, "dual_clip": 1.1, "is_mode": "sequence_mask",
                                    "is_min": 0.5, "is_max": 2.5}),
    ("ppo_is_token_mask_min_only", {"objective": "ppo_clip", "aggregation": "token-mean", "is_mode": "token_mask",
                                    "is_min": 0.8, "is_max": 0.0}),
    ("cispo_seq_mean_is_sequence_truncate", {"objective": "cispo", "aggregation": "seq-mean-token-mean",
                                             "cispo_max_weight": 1.25, "is_mode": "sequence_truncate",
                                             "is_min": 0.5, "is_max": 1.5}),
]
ADVANTAGE_CASES = [("rloo", 1e-6, 1), ("grpo", 1e-6, 0), ("grpo", 0.1, 1), ("dr_grpo", 1e-6, 1),
                   ("grpo_batch_std", 1e-3, 0)]


def main():
    inp = make_inputs()
    out = {"inputs": {k: v.tolist() for k, v in inp.items()}, "loss_cases": [], "advantage_cases": [],
           "kl_reward_cases": []}
    for name, options in LOSS_CASES:
        case = {"name": name, "options": options}
        case.update(reference_loss(inp, options))
        out["loss_cases"].append(case)
    for estimator, eps, ddof in ADVANTAGE_CASES:
        adv, zero = reference_advantages(inp["rewards"], estimator, eps, ddof)
        out["advantage_cases"].append({"name": f"{estimator}_eps{eps}_ddof{ddof}", "estimator": estimator,
                                       "epsilon": eps, "std_ddof": ddof, "group_size": G, "advantages": adv,
                                       "zero_variance_groups": zero})
    mask = inp["mask"].tolist()
    for estimator, coef in [("k1", 0.1), ("k2", 0.5), ("k3", 0.05)]:
        rewards = [float(inp["scores"][b]) - coef * sum(
            float(kl(inp["logprobs"][b, t], inp["ref_logprobs"][b, t], estimator)) for t in range(T) if mask[b][t])
            for b in range(B)]
        out["kl_reward_cases"].append({"estimator": estimator, "kl_coef": coef, "rewards": rewards})
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
