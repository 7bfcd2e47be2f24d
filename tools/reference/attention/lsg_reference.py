"""Golden values for lsg-attention (Condevaux & Harispe 2023, sec. 3), written out in PyTorch.

One softmax per query i (block m = i // b) over: the G global tokens (learned rows projected by k
and v), every token j with |j // b - m| <= 1, and the sparse groups of f tokens just outside that
window, `s` on each side ('pooling': the group's mean key and value; 'stride': head h reads the
group's token at offset h mod f). Encoder: no causal mask. Written as a dense mask over
[global; tokens; pooled groups], independently of attnkit's slot lists and gather.
Weights are [in, out] as attnkit's Linear stores them; no biases.
Run: /usr/bin/python3 tools/reference/attention/lsg_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/lsg.json')

B, T, D, H = 2, 11, 8, 2
HD = D // H


def heads(x):  # [B, t, D] -> [B, H, t, HD]
    return x.reshape(B, x.shape[1], H, HD).transpose(1, 2)


def sparse_group_ok(p, m, b, f, s):
    """Group p is among the s groups left of block m-1 or the s groups right of block m+1."""
    first, last = p * f, (p + 1) * f - 1  # tokens the group covers (last may lie beyond T)
    lo, hi = (m - 1) * b, (m + 2) * b - 1  # the local window
    if last < lo:
        return (lo - first) // f <= s  # 1 = the group just before the window
    if first > hi:
        return (first - hi - 1) // f < s
    return False


def lsg(x, w, g_tokens, cfg):
    b, f, s, kind = cfg['blockSize'], cfg['sparsityFactor'], cfg['sparseTokens'], cfg['sparsityType']
    G = g_tokens.shape[0]
    q, k, v = (heads(x @ w[n]) for n in ('q', 'k', 'v'))
    gk = (g_tokens @ w['k']).reshape(G, H, HD).transpose(0, 1).expand(B, H, G, HD)
    gv = (g_tokens @ w['v']).reshape(G, H, HD).transpose(0, 1).expand(B, H, G, HD)
    P = (T + f - 1) // f
    pk = torch.stack([k[:, :, p * f:min(T, (p + 1) * f)].mean(2) for p in range(P)], 2)
    pv = torch.stack([v[:, :, p * f:min(T, (p + 1) * f)].mean(2) for p in range(P)], 2)
    keys = torch.cat([gk, k, pk], 2)
    vals = torch.cat([gv, v, pv], 2)
    n = G + T + P
    mask = torch.zeros(H, T, n, dtype=torch.bool)
    for h in range(H):
        for i in range(T):
            m = i // b
            mask[h, i, :G] = True
            for j in range(T):
                if abs(j // b - m) <= 1:
                    mask[h, i, G + j] = True
                elif kind == 'stride' and j % f == h % f and sparse_group_ok(j // f, m, b, f, s):
                    mask[h, i, G + j] = True
            if kind == 'pooling':
                for p in range(P):
                    if sparse_group_ok(p, m, b, f, s):
                        mask[h, i, G + T + p] = True
    logits = (q @ keys.transpose(-1, -2)) / math.sqrt(HD)
    o = torch.softmax(logits.masked_fill(~mask, float('-inf')), -1) @ vals
    return o.transpose(1, 2).reshape(B, T, D) @ w['o']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


configs = [
    {'type': 'lsg-attention', 'dModel': D, 'numHeads': H, 'blockSize': 2, 'sparsityFactor': 2,
     'sparseTokens': 1, 'sparsityType': 'pooling', 'numGlobalTokens': 2},
    {'type': 'lsg-attention', 'dModel': D, 'numHeads': H, 'blockSize': 2, 'sparsityFactor': 2,
     'sparseTokens': 2, 'sparsityType': 'stride', 'numGlobalTokens': 1},
]
cases = []
for cfg in configs:
    w = {n: torch.randn(D, D) * 0.5 for n in ('q', 'k', 'v', 'o')}
    g_tokens = torch.randn(cfg['numGlobalTokens'], D, requires_grad=True)
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = lsg(x, w, g_tokens, cfg)
    (y * probe).sum().backward()
    cases.append({
        'name': cfg['sparsityType'], 'config': cfg,
        'weights': {f'{n}.weight': flat(w[n]) for n in w},
        'global': flat(g_tokens), 'x': flat(x), 'probe': flat(probe), 'y': flat(y),
        'gradX': flat(x.grad), 'gradGlobal': flat(g_tokens.grad), 'shape': [B, T, D],
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
