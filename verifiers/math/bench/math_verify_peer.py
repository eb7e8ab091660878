"""Benchmark peer for `rlvr bench verify-math`: grades the same inputs with
math-verify (PyPI) in one thread and reports its results and throughput.

Input: JSONL lines {"gold": str, "completion": str}.
Output (JSON, to --output): {"version", "results": [true|false|null per input],
"seconds", "calls", "per_second"}; null means math-verify raised.
Each call is what a grader does per sample: parse(gold), parse(completion), verify().
"""
import argparse
import importlib.metadata
import json
import time

from math_verify import parse, verify


def grade(gold, completion):
    try:
        return bool(verify(parse(gold), parse(completion)))
    except Exception:  # a crash counts as "not correct" in a reward, reported as null
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    args = ap.parse_args()
    with open(args.input, encoding="utf-8") as f:
        items = [json.loads(line) for line in f if line.strip()]
    # First pass: the results (and warm-up of sympy/latex2sympy caches).
    results = [grade(it["gold"], it["completion"]) for it in items]
    calls = 0
    start = time.perf_counter()
    while True:
        for it in items:
            grade(it["gold"], it["completion"])
        calls += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= args.min_seconds:
            break
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump({"version": importlib.metadata.version("math-verify"), "results": results,
                   "seconds": elapsed, "calls": calls, "per_second": calls / elapsed}, f)


if __name__ == "__main__":
    main()
