"""Golden values for the 'moba' mixer, written in PyTorch from the paper.

MoBA (Lu et al. 2025, sec. 2.2, eq. 2-5): per query token, gate s_i = <q, mean_pool(K[block i])>
over the blocks strictly before its own; the top (k - 1) of them plus its own block (causal inside)
form the keys it attends to. Computed here as a mask on full softmax attention.
Run: /usr/bin/python3 tools/reference/attention/moba_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/moba.json')


def moba(x, w, H, KVH, block, top_k):
    B, T, D = x.shape
    hd = D // H
    q = (x @ w['q']).reshape(B, T, H, hd).transpose(1, 2)
    k = (x @ w['k']).reshape(B, T, KVH, hd).transpose(1, 2).repeat_interleave(H // KVH, 1)
    v = (x @ w['v']).reshape(B, T, KVH, hd).transpose(1, 2).repeat_interleave(H // KVH, 1)
    nfull = T // block
    means = k[:, :, : nfull * block].reshape(B, H, nfull, block, hd).mean(3)
    keep = torch.zeros(B, H, T, T, dtype=torch.bool)
    for t in range(T):
        own = t // block
        keep[:, :, t, own * block: t + 1] = True  # own block, causal
        if own == 0 or top_k == 1:
            continue
        scores = torch.einsum('bhd,bhnd->bhn', q[:, :, t], means[:, :, :own])
        chosen = scores.topk(min(top_k - 1, own), -1).indices  # [B, H, n]
        for bi in range(B):
            for hi in range(H):
                for j in chosen[bi, hi].tolist():
                    keep[bi, hi, t, j * block:(j + 1) * block] = True
    logits = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    weights = torch.softmax(logits.masked_fill(~keep, float('-inf')), -1)
    out = (weights @ v).transpose(1, 2).reshape(B, T, D)
    return out @ w['o']


def flat(t):
    return [round(float(a), 8) for a in t.detach().reshape(-1).tolist()]


cases = []
for name, B, T, D, H, KVH, block, top_k in [
    ('mha-ragged', 2, 9, 8, 2, 2, 2, 3),
    ('gqa', 1, 8, 8, 2, 1, 2, 2),
    ('wide-topk', 1, 7, 8, 2, 2, 3, 5),
]:
    hd = D // H
    w = {'q': torch.randn(D, D) * 0.5, 'k': torch.randn(D, KVH * hd) * 0.5,
         'v': torch.randn(D, KVH * hd) * 0.5, 'o': torch.randn(D, D) * 0.5}
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = moba(x, w, H, KVH, block, top_k)
    (y * probe).sum().backward()
    cases.append({
        'name': name,
        'config': {'type': 'moba', 'dModel': D, 'numHeads': H, 'numKvHeads': KVH,
                   'blockSize': block, 'topK': top_k},
        'weights': {f'{n}.weight': {'shape': list(w[n].shape), 'values': flat(w[n])} for n in w},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print('wrote', OUT)
