"""Benchmark peer for `rlvr bench verify-math`: grades the same inputs with
math-verify (PyPI) in one thread and reports its results and throughput.

Input: JSONL lines {"gold": str, "completion": str}.
Output (JSON, to --output): {"version", "results": [true|false|null per input],
"seconds", "calls", "per_second"}; null means math-verify raised.
Each call is what a grader does per sample: parse(gold), parse(completion), verify().
A bare gold answer ("\\frac{1}{2}", no $, \\boxed or ####) is wrapped in $...$, as
math-verify's LaTeX extraction expects; "median_ms" is the median per-call latency of
the timed passes (math-verify's own 5 s timeouts on pathological inputs weigh on
"per_second" but not on it).
"""
import argparse
import importlib.metadata
import json
import statistics
import time

from math_verify import parse, verify


def gold_text(gold):
    if "$" in gold or "\\boxed" in gold or "####" in gold:
        return gold
    return "$" + gold + "$"


def grade(gold, completion):
    try:
        return bool(verify(parse(gold_text(gold)), parse(completion)))
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
    latencies = []
    start = time.perf_counter()
    while True:
        for it in items:
            t = time.perf_counter()
            grade(it["gold"], it["completion"])
            latencies.append(time.perf_counter() - t)
        calls += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= args.min_seconds:
            break
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump({"version": importlib.metadata.version("math-verify"), "results": results,
                   "seconds": elapsed, "calls": calls, "per_second": calls / elapsed,
                   "median_ms": 1000 * statistics.median(latencies)}, f)


if __name__ == "__main__":
    main()
