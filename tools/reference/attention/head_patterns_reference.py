"""Golden values for the head-pattern sparse mixers, written out in PyTorch from the papers.

Each is causal softmax attention over a per-head key set, written here elementwise (a mask or a
loop over queries), independently of attnkit's index lists and gather:
  s2-attention (Lin et al. 2024): head h sees j <= i with j = h (mod numShards) or i - j < window.
  mixture-of-sparse-attention (Fu et al. 2024): head h sees j <= i with j < sinks or
    i - j < S_h(i + 1), S_h(N) = min(N, max(1, floor(alpha_h + beta_h * N))).
  core-context-aware (Chen et al. 2024, eq. 2 and the fused softmax): group m's core key/value is
    softmax(q_last . K_group / sqrt(d)) K_group (V_group); query i sees the first
    c = max(0, floor((i + 1 - window) / g)) core tokens and the keys c*g..i, in one softmax.
  hepos (Huang et al. 2021): cross-attention, head h sees memory positions j = h (mod stride).
Weights are [in, out] as attnkit's Linear stores them; no biases.
Run: /usr/bin/python3 tools/reference/attention/head_patterns_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/head-patterns.json')

B, T, D, H = 2, 10, 8, 2
HD = D // H


def heads(x):  # [B, T, D] -> [B, H, T, HD]
    return x.reshape(B, T, H, HD).transpose(1, 2)


def merge(o):  # [B, H, T, HD] -> [B, T, D]
    return o.transpose(1, 2).reshape(B, T, D)


def masked_attention(q, k, v, allowed):
    mask = torch.tensor([[[allowed(h, i, j) for j in range(T)] for i in range(T)] for h in range(H)])
    logits = (q @ k.transpose(-1, -2)) / math.sqrt(HD)
    logits = logits.masked_fill(~mask, float('-inf'))
    return torch.softmax(logits, -1) @ v


def s2(cfg):
    s, w = cfg['numShards'], cfg['window']
    return lambda h, i, j: j <= i and (i - j < w or j % s == h % s)


def moa(cfg):
    sinks = cfg.get('numSinkTokens', 0)

    def span(rule, n):
        return min(n, max(1, math.floor(rule['alpha'] + rule['beta'] * n)))

    return lambda h, i, j: j <= i and (j < sinks or i - j < span(cfg['rules'][h], i + 1))


def cca(q, k, v, cfg):
    g, s = cfg['groupSize'], cfg['window']
    out = torch.zeros(B, H, T, HD)
    cores_k, cores_v = [], []
    for m in range(T // g):
        kg, vg = k[:, :, m * g:(m + 1) * g], v[:, :, m * g:(m + 1) * g]
        last = q[:, :, (m + 1) * g - 1:(m + 1) * g]  # [B, H, 1, HD]
        w = torch.softmax((last @ kg.transpose(-1, -2)) / math.sqrt(HD), -1)  # [B, H, 1, g]
        cores_k.append(w @ kg)
        cores_v.append(w @ vg)
    rows = []
    for i in range(T):
        c = max(0, (i + 1 - s) // g)
        keys = torch.cat(cores_k[:c] + [k[:, :, c * g:i + 1]], 2)
        vals = torch.cat(cores_v[:c] + [v[:, :, c * g:i + 1]], 2)
        qi = q[:, :, i:i + 1]
        rows.append(torch.softmax((qi @ keys.transpose(-1, -2)) / math.sqrt(HD), -1) @ vals)
    return torch.cat(rows, 2)


TM = 7  # memory length of the hepos case


def hepos(x, memory, w, cfg):
    q = heads(x @ w['q'])
    k, v = ((memory @ w[n]).reshape(B, TM, H, HD).transpose(1, 2) for n in ('k', 'v'))
    mask = torch.tensor([[[j % cfg['stride'] == h % cfg['stride'] for j in range(TM)] for _ in range(T)] for h in range(H)])
    logits = ((q @ k.transpose(-1, -2)) / math.sqrt(HD)).masked_fill(~mask, float('-inf'))
    return merge(torch.softmax(logits, -1) @ v) @ w['o']


def mixer(x, w, cfg):
    q, k, v = (heads(x @ w[n]) for n in ('q', 'k', 'v'))
    if cfg['type'] == 'core-context-aware':
        o = cca(q, k, v, cfg)
    else:
        o = masked_attention(q, k, v, (s2 if cfg['type'] == 's2-attention' else moa)(cfg))
    return merge(o) @ w['o']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


configs = [
    {'type': 's2-attention', 'dModel': D, 'numHeads': H, 'numShards': 2, 'window': 2},
    {'type': 'mixture-of-sparse-attention', 'dModel': D, 'numHeads': H,
     'rules': [{'alpha': 2, 'beta': 0}, {'alpha': 1, 'beta': 0.4}], 'numSinkTokens': 1},
    {'type': 'core-context-aware', 'dModel': D, 'numHeads': H, 'groupSize': 3, 'window': 2},
    {'type': 'hepos', 'dModel': D, 'numHeads': H, 'stride': 2},
]
cases = []
for cfg in configs:
    w = {n: torch.randn(D, D) * 0.5 for n in ('q', 'k', 'v', 'o')}
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    memory = torch.randn(B, TM, D, requires_grad=True) if cfg['type'] == 'hepos' else None
    y = hepos(x, memory, w, cfg) if memory is not None else mixer(x, w, cfg)
    (y * probe).sum().backward()
    case = {
        'name': cfg['type'], 'config': cfg,
        'weights': {f'{n}.weight': flat(w[n]) for n in w},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    }
    if memory is not None:
        case.update({'memory': flat(memory), 'memoryShape': [B, TM, D], 'gradMemory': flat(memory.grad)})
    cases.append(case)

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
