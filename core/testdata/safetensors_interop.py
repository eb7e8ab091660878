"""Oracle for safetensors_test: reads a file written by rlvr with the python
`safetensors` package, reports what it sees as JSON, and writes the same
tensors back with safetensors' own writer.

usage: safetensors_interop.py IN.safetensors OUT.json OUT.safetensors
"""
import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file


def main():
    src, report_path, dst = sys.argv[1:4]
    report = {"tensors": {}}
    tensors = {}
    with safe_open(src, framework="pt") as f:
        report["metadata"] = f.metadata() or {}
        for name in f.keys():
            t = f.get_tensor(name)
            tensors[name] = t
            values = t.to(torch.float64) if t.dtype not in (torch.uint16, torch.uint32, torch.uint64) \
                else t.to(torch.int64).to(torch.float64)
            report["tensors"][name] = {
                "dtype": str(t.dtype).replace("torch.", ""),
                "shape": list(t.shape),
                "values": values.flatten().tolist(),
            }
    with open(report_path, "w") as out:
        json.dump(report, out)
    save_file(tensors, dst, metadata={"writer": "python"})


if __name__ == "__main__":
    main()
