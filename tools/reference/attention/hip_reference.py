"""Golden values for the 'hip-attention' mixer, written in PyTorch from the paper.

HiP (Lee et al. 2024, sec. 3.1, Algorithm 1): the earlier key blocks start as k coarse chunks; at
each level every chunk longer than one block is split in two, each half scored by its first key
as max over the query block (its queries up to the current one) of q . k_rep, the top k kept
(ties to the earlier chunk), until single blocks remain. Each query attends to its own block
(causal) and the kept blocks; computed here as a mask on full softmax attention.
Run: /usr/bin/python3 tools/reference/attention/hip_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/hip.json')


def prune(n, take, score):
    if n <= take:
        return list(range(n))
    chunks = [(i * n // take, (i + 1) * n // take) for i in range(take)]
    while any(hi - lo > 1 for lo, hi in chunks):
        halves = []
        for lo, hi in chunks:
            if hi - lo == 1:
                halves.append((lo, hi))
            else:
                mid = lo + (hi - lo + 1) // 2
                halves += [(lo, mid), (mid, hi)]
        halves.sort(key=lambda c: (-score(c[0]), c[0]))
        chunks = halves[:take]
    return sorted(lo for lo, _ in chunks)


def hip(x, w, H, KVH, block, top_k):
    B, T, D = x.shape
    hd = D // H
    q = (x @ w['q']).reshape(B, T, H, hd).transpose(1, 2)
    k = (x @ w['k']).reshape(B, T, KVH, hd).transpose(1, 2).repeat_interleave(H // KVH, 1)
    v = (x @ w['v']).reshape(B, T, KVH, hd).transpose(1, 2).repeat_interleave(H // KVH, 1)
    keep = torch.zeros(B, H, T, T, dtype=torch.bool)
    qd, kd = q.detach(), k.detach()
    for t in range(T):
        own = t // block
        keep[:, :, t, own * block: t + 1] = True
        for bi in range(B):
            for hi in range(H):
                qs = qd[bi, hi, own * block: t + 1]

                def score(j):
                    return float((qs @ kd[bi, hi, j * block]).max())

                for j in prune(own, top_k - 1, score) if top_k > 1 else []:
                    keep[bi, hi, t, j * block:(j + 1) * block] = True
    logits = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    weights = torch.softmax(logits.masked_fill(~keep, float('-inf')), -1)
    out = (weights @ v).transpose(1, 2).reshape(B, T, D)
    return out @ w['o']


def flat(t):
    return [round(float(a), 8) for a in t.detach().reshape(-1).tolist()]


cases = []
for name, B, T, D, H, KVH, block, top_k in [
    ('mha-three-levels', 2, 20, 8, 2, 2, 2, 3),
    ('gqa-ragged', 1, 17, 8, 2, 1, 3, 3),
    ('odd-chunks', 1, 16, 8, 2, 2, 2, 4),
]:
    hd = D // H
    w = {'q': torch.randn(D, D) * 0.5, 'k': torch.randn(D, KVH * hd) * 0.5,
         'v': torch.randn(D, KVH * hd) * 0.5, 'o': torch.randn(D, D) * 0.5}
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = hip(x, w, H, KVH, block, top_k)
    (y * probe).sum().backward()
    cases.append({
        'name': name,
        'config': {'type': 'hip-attention', 'dModel': D, 'numHeads': H, 'numKvHeads': KVH,
                   'blockSize': block, 'topK': top_k},
        'weights': {f'{n}.weight': {'shape': list(w[n].shape), 'values': flat(w[n])} for n in w},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print('wrote', OUT)
