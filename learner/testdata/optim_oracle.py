"""Reference optimisation for learner/optim_test.cc: torch.optim.AdamW with
torch.nn.utils.clip_grad_norm_ and transformers' warmup schedules (LambdaLR), on fixed
float64 parameters and gradients. Also the learning-rate tables of the schedules, and
verl's cosine-with-floor formula (min_lr_ratio), written out here.

Usage: python optim_oracle.py OUT.json
"""

import json
import math
import sys

import torch
from transformers import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup

torch.set_default_dtype(torch.float64)
STEPS, WARMUP, LR = 8, 3, 0.05
OPT = dict(lr=LR, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
MAX_NORM = 1.5


def lr_table(make_schedule, steps):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=LR)
    sched = make_schedule(opt)
    table = []
    for _ in range(steps):
        table.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return table


def verl_cosine(step, warmup, total, min_ratio):
    if step < warmup:
        return LR * step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    x = math.cos(math.pi * progress)
    return LR * max(min_ratio, x * (1 - min_ratio) * 0.5 + (1 + min_ratio) * 0.5)


def main():
    g = torch.Generator().manual_seed(5)
    shapes = [(3, 4), (4,), (2, 2)]
    init = [torch.randn(s, generator=g) for s in shapes]
    grads = [[3.0 * torch.randn(s, generator=g) for s in shapes] for _ in range(STEPS)]
    params = [p.clone().requires_grad_(True) for p in init]
    opt = torch.optim.AdamW(params, **OPT)
    sched = get_cosine_schedule_with_warmup(opt, WARMUP, STEPS)
    trajectory, norms, lrs = [], [], []
    for step in range(STEPS):
        for p, gr in zip(params, grads[step]):
            p.grad = gr.clone()
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, MAX_NORM)))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        opt.zero_grad()
        trajectory.append([p.detach().tolist() for p in params])
    total = 20
    out = {
        "options": dict(OPT, betas=list(OPT["betas"]), max_grad_norm=MAX_NORM, warmup=WARMUP, steps=STEPS),
        "init": [p.tolist() for p in init],
        "grads": [[gr.tolist() for gr in step] for step in grads],
        "trajectory": trajectory, "grad_norms": norms, "lrs": lrs,
        "tables": [
            {"decay": "constant", "warmup": 4, "total": total, "min_lr_ratio": 0.0,
             "lrs": lr_table(lambda o: get_constant_schedule_with_warmup(o, 4), total)},
            {"decay": "cosine", "warmup": 5, "total": total, "min_lr_ratio": 0.0,
             "lrs": lr_table(lambda o: get_cosine_schedule_with_warmup(o, 5, total), total + 1)},
            {"decay": "cosine", "warmup": 0, "total": total, "min_lr_ratio": 0.0,
             "lrs": lr_table(lambda o: get_cosine_schedule_with_warmup(o, 0, total), total + 1)},
            {"decay": "cosine", "warmup": 2, "total": total, "min_lr_ratio": 0.1,
             "lrs": [verl_cosine(s, 2, total, 0.1) for s in range(total + 1)]},
        ],
    }
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
