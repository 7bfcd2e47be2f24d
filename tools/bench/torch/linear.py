"""Chunked causal linear attention in plain PyTorch ops, the same math as attnkit's
`linearAttention` chunk form (tools/bench/workloads/long.mjs): within a chunk the masked
quadratic form, across chunks the running state S = Σ decay·kᵀv (Katharopoulos et al. 2020
sec. 3.2; the chunkwise form of Hua et al. 2022; a log decay per step as in RetNet / Mamba-2).
Autograd gives the backward; memory O(T·chunk) plus one state per chunk."""
import math

import torch
import torch.nn.functional as F

from attention import run_fn


def chunked_linear(q, k, v, log_decay, chunk, normalize, scale):
    """q, k [b, h, T, dk]; v [b, h, T, dv]; log_decay [b, h, T] (<= 0) or None."""
    b, h, t, dk = q.shape
    q = q * scale
    if normalize:
        v = torch.cat([v, torch.ones(b, h, t, 1)], dim=-1)
    dv = v.shape[-1]
    state = q.new_zeros(b, h, dk, dv)
    outputs = []
    for start in range(0, t, chunk):
        qc, kc, vc = (x[:, :, start:start + chunk] for x in (q, k, v))
        n = qc.shape[2]
        scores = qc @ kc.transpose(-1, -2)
        if log_decay is None:
            mask = torch.ones(n, n).tril()
            inner = (scores * mask) @ vc
            outputs.append(inner + qc @ state)
            state = state + kc.transpose(-1, -2) @ vc
        else:
            g = log_decay[:, :, start:start + n].cumsum(-1)  # log decay from chunk start
            rel = g.unsqueeze(-1) - g.unsqueeze(-2)           # decay from s to t
            mask = torch.ones(n, n, dtype=torch.bool).tril()
            weights = torch.where(mask, torch.exp(rel.masked_fill(~mask, 0.0)), torch.zeros(()))
            inner = (scores * weights) @ vc
            cross = (qc * torch.exp(g).unsqueeze(-1)) @ state
            outputs.append(inner + cross)
            tail = torch.exp(g[:, :, -1:] - g).unsqueeze(-1)  # decay from s to chunk end
            state = torch.exp(g[:, :, -1]).unsqueeze(-1).unsqueeze(-1) * state + (
                kc * tail).transpose(-1, -2) @ vc
    out = torch.cat(outputs, dim=2)
    if normalize:
        out = out[..., :-1] / (out[..., -1:] + 1e-6)
    return out


def prepare_linear_chunked(case):
    g = torch.Generator().manual_seed(1)
    shape = (case["batch"], case["heads"], case["T"], case["d"])
    backward = case["backward"]
    q, k, v = (torch.randn(*shape, generator=g).requires_grad_(backward) for _ in range(3))
    if case["decay"]:
        log_decay = torch.rand(case["batch"], case["heads"], case["T"], generator=g) * -0.1
        fn = lambda: chunked_linear(q, k, v, log_decay, case["chunk"], False,
                                    1 / math.sqrt(case["d"]))
    else:
        fn = lambda: chunked_linear(F.elu(q) + 1, F.elu(k) + 1, v, None, case["chunk"], True, 1.0)
    return run_fn(fn, [q, k, v], backward)
