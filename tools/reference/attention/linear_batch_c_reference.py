"""Golden values for the 'based' and 'lln' mixers, written out in PyTorch from the papers.

based (Arora et al. 2024, sec. 4): q, k of width F per head, Taylor map
phi(x) = [1, x / F^(1/4), vec(x x^T) / (sqrt(2) sqrt(F))], causal normalised linear attention
phi(q_i).sum_{j<=i} phi(k_j) v_j / phi(q_i).sum_{j<=i} phi(k_j), output projection; plus softmax
attention over keys j with i - W < j <= i (scale 1/sqrt(head width)) with its own q/k/v/o;
the layer returns the sum of the two branches. Both are computed in the quadratic form here.

lln (Nahshan et al. 2023, sec. 4): sigma_q, sigma_k = std of all q / k entries (unbiased, no
gradient), s2 = (sigma_q^2 sigma_k^2 - b) / (2a), alpha = sqrt(s2)/sigma_q, beta = sqrt(s2)/sigma_k,
phi_q = exp(alpha q - max_d(alpha q)), phi_k = exp(beta k), causal normalised linear attention.
Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/linear_batch_c_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/linear-batch-c.json')

B, T, D, H = 2, 7, 8, 2
HD = D // H
F, W = 3, 3
EPS = 1e-6


def heads(x, width):  # [B, T, H*width] -> [B, H, T, width]
    return x.reshape(B, T, H, width).transpose(1, 2)


def merge(x):
    return x.transpose(1, 2).reshape(B, T, -1)


def causal_linear(fq, fk, v):
    sim = (fq @ fk.transpose(-1, -2)) * torch.tril(torch.ones(T, T))
    return (sim @ v) / (sim.sum(-1, keepdim=True) + EPS)


def taylor(x):
    d = x.shape[-1]
    outer = (x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2) / (math.sqrt(2) * math.sqrt(d))
    return torch.cat([torch.ones_like(x[..., :1]), x / d ** 0.25, outer], -1)


def based(x, w):
    q, k = heads(x @ w['q.weight'], F), heads(x @ w['k.weight'], F)
    v = heads(x @ w['v.weight'], HD)
    glob = merge(causal_linear(taylor(q), taylor(k), v)) @ w['o.weight']
    q, k, v = (heads(x @ w[f'window.{n}.weight'], HD) for n in 'qkv')
    i = torch.arange(T).unsqueeze(1)
    j = torch.arange(T).unsqueeze(0)
    visible = (j <= i) & (i - j < W)
    logits = (q @ k.transpose(-1, -2)) / math.sqrt(HD)
    p = torch.softmax(logits.masked_fill(~visible, float('-inf')), -1)
    local = merge(p @ v) @ w['window.o.weight']
    return glob + local


A_FIT, B_FIT = 0.14855178144710912, -0.35487039130661086


def lln(x, w):
    q, k, v = (heads(x @ w[f'{n}.weight'], HD) for n in 'qkv')
    with torch.no_grad():
        sq, sk = q.std(), k.std()
        s = ((sq ** 2 * sk ** 2 - B_FIT) / (2 * A_FIT)) ** 0.5
        alpha, beta = s / sq, s / sk
    aq = alpha * q
    fq = torch.exp(aq - aq.amax(-1, keepdim=True))
    fk = torch.exp(beta * k)
    out = merge(causal_linear(fq, fk, v)) @ w['o.weight']
    return out, float(sq), float(sk)


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


cases = []
w = {
    'q.weight': torch.randn(D, H * F) * 0.5, 'k.weight': torch.randn(D, H * F) * 0.5,
    'v.weight': torch.randn(D, D) * 0.4, 'o.weight': torch.randn(D, D) * 0.4,
}
w.update({f'window.{n}.weight': torch.randn(D, D) * 0.4 for n in 'qkvo'})
x = torch.randn(B, T, D, requires_grad=True)
probe = torch.randn(B, T, D)
y = based(x, w)
(y * probe).sum().backward()
cases.append({
    'name': 'based',
    'config': {'type': 'based', 'dModel': D, 'numHeads': H, 'featureDim': F, 'window': W, 'chunkSize': 3},
    'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
    'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad), 'shape': [B, T, D],
})

w = {f'{n}.weight': torch.randn(D, D) * 0.5 for n in 'qkvo'}
x = torch.randn(B, T, D, requires_grad=True)
probe = torch.randn(B, T, D)
y, sq, sk = lln(x, w)
(y * probe).sum().backward()
cases.append({
    'name': 'lln',
    'config': {'type': 'lln', 'dModel': D, 'numHeads': H, 'chunkSize': 3},
    'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
    'sigma': [sq, sk],
    'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad), 'shape': [B, T, D],
})

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
