"""Square float32 matmul C = A @ B (2 n^3 FLOP), as tools/bench/workloads/matmul.mjs."""
import torch

from common import time_step


def prepare(case):
    n = case["n"]
    g = torch.Generator().manual_seed(1)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    return lambda: torch.matmul(a, b)


def peak(n, warmup, warmup_ms):
    """GFLOP/s of an n×n matmul (median of 5 timed runs, as the matmul workload reports), for the
    model FLOP utilisation of a run whose matmul workload did not run (tools/bench/lib/peak.mjs
    measures the same in tfjs)."""
    timing = time_step(prepare({"n": n}), warmup, 5, 4000.0, warmup_ms)
    return {"n": n, "gflops": 2 * n**3 / (timing["medianMs"] / 1e3) / 1e9, "source": "inline"}
