"""Attention baselines: naive scaled dot-product attention (torch 1.13 has no fused SDPA on CPU,
so this is the math a PyTorch user would write) and multi-head attention with projections, the
baseline for every attnkit mixer (see tools/bench/workloads/mixers.mjs)."""
import math

import torch


def sdpa(q, k, v, causal):
    d = q.shape[-1]
    logits = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
    if causal:
        t_q, t_k = logits.shape[-2], logits.shape[-1]
        mask = torch.ones(t_q, t_k, dtype=torch.bool).triu(1 + t_k - t_q)
        logits = logits.masked_fill(mask, float("-inf"))
    return torch.matmul(torch.softmax(logits, dim=-1), v)


def run_fn(fn, inputs, backward):
    """Forward only under no_grad, or forward + backward of sum(y) into the inputs' .grad."""
    if not backward:
        def step():
            with torch.no_grad():
                fn()
        return step

    def step():
        for t in inputs:
            t.grad = None
        fn().sum().backward()
    return step


def prepare_sdpa(case):
    g = torch.Generator().manual_seed(1)
    shape = (case["batch"], case["heads"], case["T"], case["d"])
    backward = case["backward"]
    q, k, v = (torch.randn(*shape, generator=g).requires_grad_(backward) for _ in range(3))
    return run_fn(lambda: sdpa(q, k, v, case["causal"]), [q, k, v], backward)


class MultiHeadAttention(torch.nn.Module):
    """Causal MHA with separate Q, K, V, O projections; K/V heads shared in groups (GQA) when
    num_kv_heads < num_heads."""

    def __init__(self, d_model, num_heads, num_kv_heads):
        super().__init__()
        self.h, self.kv = num_heads, num_kv_heads
        self.hd = d_model // num_heads
        self.q = torch.nn.Linear(d_model, num_heads * self.hd, bias=False)
        self.k = torch.nn.Linear(d_model, num_kv_heads * self.hd, bias=False)
        self.v = torch.nn.Linear(d_model, num_kv_heads * self.hd, bias=False)
        self.o = torch.nn.Linear(num_heads * self.hd, d_model, bias=False)

    def forward(self, x):
        b, t, _ = x.shape
        q = self.q(x).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        if self.kv != self.h:
            k = k.repeat_interleave(self.h // self.kv, dim=1)
            v = v.repeat_interleave(self.h // self.kv, dim=1)
        y = sdpa(q, k, v, causal=True)
        return self.o(y.transpose(1, 2).reshape(b, t, self.h * self.hd))


def prepare_mha(case):
    torch.manual_seed(0)
    module = MultiHeadAttention(case["dModel"], case["numHeads"], case["numKvHeads"])
    backward = case["backward"]
    x = torch.randn(case["batch"], case["T"], case["dModel"]).requires_grad_(backward)
    inputs = [x] + list(module.parameters())
    return run_fn(lambda: module(x), inputs, backward)
