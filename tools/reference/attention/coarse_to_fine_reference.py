"""Golden values for coarse-to-fine attention, written out in PyTorch from the paper.

Deng et al. 2017, "Image-to-Markup Generation with Coarse-to-Fine Attention", sec. 3: attention
factorises as p(j) = a'_r * a_{j|r}: a coarse softmax over region summaries (here the mean key
of each region of B tokens) restricted to the top-k regions, and a fine softmax inside each
selected region (1-D: regions of B consecutive tokens; over a grid: B x B squares). Causal: the own region (summarised by the mean of its keys up to the query,
attended up to the query) plus the top-(k-1) completed earlier regions.
Written per query with Python loops (no masks, no gathers), independent of attnkit's paths.
Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/coarse_to_fine_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/coarse-to-fine.json')


def c2f(x, w, cfg):
    B_, T, D = x.shape
    H = cfg['numHeads']
    hd = D // H
    R, k, causal = cfg['regionSize'], cfg['topk'], cfg.get('causal', False)
    if 'grid' in cfg:  # R x R squares of the [gh, gw] grid, as lists of raster token indices
        gh, gw = cfg['grid']
        squares = [[(a * R + i) * gw + c * R + j for i in range(R) for j in range(R)]
                   for a in range(gh // R) for c in range(gw // R)]
    else:
        squares = [list(range(r * R, (r + 1) * R)) for r in range(T // R)]
    q, kk, v = ((x @ w[n]).reshape(B_, T, H, hd) for n in ('q.weight', 'k.weight', 'v.weight'))
    out = torch.zeros(B_, T, H, hd)
    margin = float('inf')
    rows = []
    for b in range(B_):
        for h in range(H):
            for i in range(T):
                qi = q[b, i, h]
                own = i // R
                if causal:
                    cands = list(range(own))  # completed regions
                else:
                    cands = list(range(len(squares)))
                summ = {r: kk[b, squares[r], h].mean(0) for r in cands}
                score = {r: (qi @ summ[r]).item() for r in cands}
                n = k - 1 if causal else k
                ranked = sorted(cands, key=lambda r: -score[r])
                chosen = ranked[:n]
                if len(ranked) > n and n > 0:
                    margin = min(margin, score[ranked[n - 1]] - score[ranked[n]])
                regions = []  # (the region's key indices, its summary)
                if causal:
                    mine = list(range(own * R, i + 1))
                    regions.append((mine, kk[b, mine, h].mean(0)))
                for r in chosen:
                    regions.append((squares[r], summ[r]))
                coarse = torch.softmax(torch.stack([qi @ s for _, s in regions]) / hd ** 0.5, 0)
                o = 0
                for a, (keys, _) in zip(coarse, regions):
                    fine = torch.softmax(kk[b, keys, h] @ qi / hd ** 0.5, 0)
                    o = o + a * (fine @ v[b, keys, h])
                out[b, i, h] = o
    return out.reshape(B_, T, D) @ w['o.weight'], margin


def flat(t):
    return [float('%.7g' % a) for a in t.detach().reshape(-1).tolist()]


D, H = 8, 2
configs = [
    ('encoder, 12 tokens, regions of 3, top-2', 2, 12, {'regionSize': 3, 'topk': 2}),
    ('encoder, 8 tokens, regions of 2, top-1', 1, 8, {'regionSize': 2, 'topk': 1}),
    ('encoder, 4x6 grid, 2x2 regions, top-2', 1, 24, {'regionSize': 2, 'topk': 2, 'grid': [4, 6]}),
    ('causal, 11 tokens, regions of 3, top-3', 2, 11, {'regionSize': 3, 'topk': 3, 'causal': True}),
    ('causal, 8 tokens, regions of 2, top-2', 1, 8, {'regionSize': 2, 'topk': 2, 'causal': True}),
]
cases = []
for name, B_, T, extra in configs:
    cfg = {'type': 'coarse-to-fine-attention', 'dModel': D, 'numHeads': H, **extra}
    while True:  # a selection with a clear margin, so float32 picks the same regions
        w = {n: torch.randn(D, D) * 0.5 for n in ('q.weight', 'k.weight', 'v.weight', 'o.weight')}
        x = torch.randn(B_, T, D, requires_grad=True)
        y, margin = c2f(x, w, cfg)
        if margin > 1e-2:
            break
    probe = torch.randn(B_, T, D)
    (y * probe).sum().backward()
    cases.append({
        'name': name, 'config': cfg,
        'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad), 'shape': [B_, T, D],
    })
    print(name, 'selection margin', round(margin, 4))

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
