"""Test oracle: runs each generated code task's reference solution on its test cases.

usage: check_code_tasks.py TASKS.jsonl
Each line is a Task (canonical JSON). Prints one line per failing case and exits 1 if
any case fails; prints "ok N" (cases checked) otherwise.
"""
import json
import sys


def main():
    failures = 0
    checked = 0
    with open(sys.argv[1]) as f:
        for line in f:
            task = json.loads(line)
            tests = task["spec"]["tests"]
            namespace = {}
            exec(task["gold"], namespace)
            fn = namespace[tests["fn"]]
            for case in tests["cases"]:
                got = fn(*case["args"])
                checked += 1
                if got != case["expected"] or type(got) is not type(case["expected"]):
                    failures += 1
                    print("%s %s%r: got %r, expected %r"
                          % (task["id"], tests["fn"], tuple(case["args"]), got, case["expected"]))
    if failures:
        sys.exit(1)
    print("ok", checked)


if __name__ == "__main__":
    main()
