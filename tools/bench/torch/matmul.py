"""Square float32 matmul C = A @ B (2 n^3 FLOP), as tools/bench/workloads/matmul.mjs."""
import torch


def prepare(case):
    n = case["n"]
    g = torch.Generator().manual_seed(1)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    return lambda: torch.matmul(a, b)
