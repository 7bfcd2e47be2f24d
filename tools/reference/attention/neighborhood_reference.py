"""Golden values for neighborhood attention, written out in PyTorch from the papers.

Neighborhood Attention (Hassani et al. 2023, NAT, eq. 2) with dilation (Hassani & Shi 2022,
DiNAT, sec. 3.1): out_i = softmax(q_i K_rho(i)^T / sqrt(d) + B[i, rho(i)]) V_rho(i). The window of
each query is found here with NATTEN's start rules (window start and bias start per axis, a
different formulation from attnkit's clamp), then applied as a dense mask and a dense bias to
full attention. 2-D neighbourhoods are the product of the two axes'. Causal 1-D: keys
i - (k-1-j)*dilation >= 0. Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/neighborhood_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/neighborhood.json')


def window_start(i, length, k, dil):
    nh = k // 2
    if dil <= 1:
        return max(i - nh, 0) + (i + nh >= length) * (length - i - nh - 1)
    if i - nh * dil < 0:
        return i % dil
    if i + nh * dil >= length:
        imodd = i % dil
        a = (length // dil) * dil
        b = length - a
        if imodd < b:
            return length - b + imodd - 2 * nh * dil
        return a + imodd - k * dil
    return i - nh * dil


def bias_start(i, length, k, dil):
    nh = k // 2
    if dil <= 1:
        return nh + (i < nh) * (nh - i) + (i + nh >= length) * (length - i - 1 - nh)
    if i - nh * dil < 0:
        return k - 1 - (i // dil)
    if i + nh * dil >= length:
        return (length - i - 1) // dil
    return nh


def axis(length, k, dil, causal):
    """For each position: list of (key, table index) of its window."""
    out = []
    for i in range(length):
        if causal:
            out.append([(i - (k - 1 - j) * dil, j) for j in range(k) if i - (k - 1 - j) * dil >= 0])
        else:
            s, p = window_start(i, length, k, dil), bias_start(i, length, k, dil)
            out.append([(s + j * dil, p + j) for j in range(k)])
    return out


def dense_mask_and_bias(grid, kernel, dil, causal, rpb):
    h, w = grid
    kh, kw = kernel
    T, H = h * w, rpb.shape[0]
    rows, cols = axis(h, kh, dil[0], False), axis(w, kw, dil[1], causal)
    mask = torch.zeros(T, T, dtype=torch.bool)
    bias = torch.zeros(H, T, T)
    for r in range(h):
        for c in range(w):
            for kr, br in rows[r]:
                for kc, bc in cols[c]:
                    mask[r * w + c, kr * w + kc] = True
                    bias[:, r * w + c, kr * w + kc] = rpb[:, br * (2 * kw - 1) + bc]
    return mask, bias


def na(x, wts, cfg):
    B, T, D = x.shape
    H = cfg['numHeads']
    hd = D // H
    heads = lambda y: y.reshape(B, T, H, hd).transpose(1, 2)
    q, k, v = (heads(x @ wts[n]) for n in ('q.weight', 'k.weight', 'v.weight'))
    grid = cfg.get('grid', [1, T])
    kern = [cfg['kernelSize']] * 2 if 'grid' in cfg else [1, cfg['kernelSize']]
    dil = [cfg.get('dilation', 1)] * 2 if 'grid' in cfg else [1, cfg.get('dilation', 1)]
    mask, bias = dense_mask_and_bias(grid, kern, dil, cfg.get('causal', False), wts['rpb'])
    logits = q @ k.transpose(-1, -2) / hd ** 0.5 + bias
    logits = logits.masked_fill(~mask, float('-inf'))
    out = torch.softmax(logits, -1) @ v
    return out.transpose(1, 2).reshape(B, T, D) @ wts['o.weight']


def flat(t):
    return [float('%.7g' % a) for a in t.detach().reshape(-1).tolist()]


D, H = 8, 2
configs = [
    ('1-D, kernel 3, dilation 2', 9, {'kernelSize': 3, 'dilation': 2}),
    ('1-D, kernel 5, dilation 1', 7, {'kernelSize': 5}),
    ('1-D causal, kernel 3, dilation 2', 8, {'kernelSize': 3, 'dilation': 2, 'causal': True}),
    ('2-D 4x5, kernel 3', 20, {'kernelSize': 3, 'grid': [4, 5]}),
    ('2-D 6x7, kernel 3, dilation 2', 42, {'kernelSize': 3, 'dilation': 2, 'grid': [6, 7]}),
]
cases = []
for name, T, extra in configs:
    cfg = {'type': 'neighborhood-attention', 'dModel': D, 'numHeads': H, **extra}
    B = 1 if T > 20 else 2
    wts = {n: torch.randn(D, D) * 0.5 for n in ('q.weight', 'k.weight', 'v.weight', 'o.weight')}
    table = (2 * extra['kernelSize'] - 1) * ((2 * extra['kernelSize'] - 1) if 'grid' in extra else 1)
    wts['rpb'] = torch.randn(H, table) * 0.5
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = na(x, wts, cfg)
    (y * probe).sum().backward()
    cases.append({
        'name': name, 'config': cfg,
        'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in wts.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad), 'shape': [B, T, D],
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
