"""PyTorch side of `npm run bench`: reads the cases from stdin as JSON (the same shapes the
JavaScript workloads run), times each, prints JSON. Run with Debian's /usr/bin/python3."""
import json
import platform
import sys
import traceback

try:
    import torch
except ImportError as err:  # the harness reports this as a skip
    print(json.dumps({"skipped": f"PyTorch is not installed for {sys.executable}: {err}"}))
    sys.exit(0)

import attention
import linear
import llama
import matmul
from common import time_step

PREPARE = {
    "matmul": matmul.prepare,
    "sdpa": attention.prepare_sdpa,
    "mha": attention.prepare_mha,
    "linear-chunked": linear.prepare_linear_chunked,
    "train": llama.prepare_train,
    "generate": llama.prepare_generate,
}


def main():
    spec = json.load(sys.stdin)
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    results = {}
    for case in spec["cases"]:
        params = case["torch"]
        try:
            step = PREPARE[params["kind"]](params)
            results[case["id"]] = {
                **time_step(
                    step,
                    spec["warmup"],
                    spec["repeats"],
                    spec.get("budgetMs", 4000.0),
                    spec.get("warmupMs", 0.0),
                ),
                **getattr(step, "info", {}),
            }
        except llama.UnsupportedConfig as err:
            results[case["id"]] = {"skipped": str(err)}
        except Exception:  # reported per case; the harness fails the run
            results[case["id"]] = {"error": traceback.format_exc(limit=3)}
    out = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "results": results,
    }
    if spec.get("matmulPeak"):
        out["matmulPeak"] = matmul.peak(spec["matmulPeak"], spec["warmup"], spec["warmupMs"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
