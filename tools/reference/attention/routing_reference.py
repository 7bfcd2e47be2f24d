"""Golden values for the 'routing-transformer' mixer with fixed centroids (evaluation mode).

Routing Transformer (Roy et al. 2021, sec. 4.1): shared q = k = x W_qk per head, routed on unit
vectors; balanced routing: every centroid takes the t / c tokens with the highest affinity; a query
attends (softmax, j <= i when causal) to the keys of each cluster it belongs to, averaged over its
clusters, 0 in none. Written as per-cluster masks on full attention.
Run: /usr/bin/python3 tools/reference/attention/routing_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/routing.json')


def unit(x):
    return x / (x.norm(dim=-1, keepdim=True) + 1e-6)


def routing(x, w, centroids, H, causal):
    B, T, D = x.shape
    hd = D // H
    C = centroids.shape[1]
    size = T // C
    qk = (x @ w['qk']).reshape(B, T, H, hd).transpose(1, 2)
    v = (x @ w['v']).reshape(B, T, H, hd).transpose(1, 2)
    affinity = torch.einsum('bhtd,hcd->bhct', unit(qk), centroids)
    chosen = affinity.topk(size, -1).indices  # [B, H, C, size]
    logits = qk @ qk.transpose(-1, -2) / math.sqrt(hd)
    total = torch.zeros(B, H, T, hd)
    count = torch.zeros(B, H, T, 1)
    for c in range(C):
        inside = torch.zeros(B, H, T, dtype=torch.bool)
        inside.scatter_(2, chosen[:, :, c], True)
        keep = inside[..., :, None] & inside[..., None, :]
        if causal:
            keep = keep & torch.ones(T, T, dtype=torch.bool).tril()
        weights = torch.softmax(logits.masked_fill(~keep, -1e9), -1)
        total = total + (weights @ v) * inside[..., None]
        count = count + inside[..., None]
    out = total / count.clamp(min=1)
    return out.transpose(1, 2).reshape(B, T, D) @ w['o']


def flat(t):
    return [round(float(a), 8) for a in t.detach().reshape(-1).tolist()]


cases = []
for name, B, T, D, H, C, causal in [
    ('causal', 2, 8, 8, 2, 2, True),
    ('bidirectional', 1, 9, 8, 2, 3, False),
]:
    hd = D // H
    w = {n: torch.randn(D, D) * 0.5 for n in ('qk', 'v', 'o')}
    centroids = unit(torch.randn(H, C, hd))
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = routing(x, w, centroids, H, causal)
    (y * probe).sum().backward()
    weights = {f'{n}.weight': {'shape': [D, D], 'values': flat(w[n])} for n in w}
    weights['centroids'] = {'shape': [H, C, hd], 'values': flat(centroids)}
    cases.append({
        'name': name,
        'config': {'type': 'routing-transformer', 'dModel': D, 'numHeads': H, 'numClusters': C,
                   'causal': causal},
        'weights': weights,
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print('wrote', OUT)
