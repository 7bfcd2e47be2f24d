"""PyTorch side of `npm run bench`: reads the cases from stdin as JSON (the same shapes the
JavaScript workloads run), times each, prints JSON. Run with Debian's /usr/bin/python3."""
import json
import os
import platform
import sys
import time
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


def blas_library():
    """The BLAS library torch's matmul loaded (Linux), or None where it cannot be told."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() or "mkl" in line.lower()}
    except OSError:
        return None
    optimised = sorted(p for p in paths if "openblas" in p or "mkl" in p or "blis" in p)
    return optimised[0] if optimised else (sorted(paths)[0] if paths else None)


# Debian's torch falls back to the reference BLAS (libblas3) when no optimised one is installed:
# its matmul is then ~40x slower and every ratio against it would flatter attnkit.
BLAS = blas_library()
if BLAS and "/blas/libblas" in BLAS and not os.environ.get("ATTNKIT_BENCH_ALLOW_REFERENCE_BLAS"):
    print(json.dumps({"skipped": f"PyTorch would run on the reference BLAS ({BLAS}): apt-get install libopenblas0-pthread (ATTNKIT_BENCH_ALLOW_REFERENCE_BLAS=1 times it anyway)"}))
    sys.exit(0)

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
    limit = spec.get("limitMs")
    last = {}  # series -> (x, median ms, model FLOP) of its previous size
    cases = spec["cases"]
    for i, case in enumerate(cases):
        params = case["torch"]
        series, x = case.get("series"), case.get("x")
        own = min(filter(None, [limit, case.get("limitMs")]), default=None)
        if own and series in last and x:
            prev_x, prev_ms, prev_flops = last[series]
            flops = case.get("modelFlops")
            if flops and prev_flops:  # train: llama-small follows llama-tiny by model FLOP
                estimate = prev_ms * flops / prev_flops
            else:
                estimate = prev_ms * (x / prev_x) ** case.get("growth", 2)
            if estimate > own:
                results[case["id"]] = {
                    "skipped": f"estimated >= {estimate / 1e3:.0f} s per run (--no-limit runs it)"
                }
                print(f"  PyTorch [{i + 1}/{len(cases)}] {case['id']}: skipped", file=sys.stderr)
                continue
        start = time.perf_counter()
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
            if series and x:
                last[series] = (x, results[case["id"]]["medianMs"], case.get("modelFlops"))
        except llama.UnsupportedConfig as err:
            results[case["id"]] = {"skipped": str(err)}
        except Exception:  # reported per case; the harness fails the run
            results[case["id"]] = {"error": traceback.format_exc(limit=3)}
        took = time.perf_counter() - start
        print(f"  PyTorch [{i + 1}/{len(cases)}] {case['id']}: {took:.1f} s", file=sys.stderr)
    out = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "blas": BLAS,
        "threads": torch.get_num_threads(),
        "results": results,
    }
    if spec.get("matmulPeak"):
        out["matmulPeak"] = matmul.peak(spec["matmulPeak"], spec["warmup"], spec["warmupMs"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
