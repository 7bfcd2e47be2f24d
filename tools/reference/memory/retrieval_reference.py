"""Golden values for the retrieval-memory mixers of @attnkit/memory, written out in PyTorch.

knn-memory (Wu et al. 2022, Memorizing Transformers, sec. 3.2): the input is cut into segments
of L tokens; each query attends causally to its local context (the previous segment as a
Transformer-XL cache through a sliding window of L, or its own segment only) and to its top-k memories
by inner product q.k (softmax over the k retrieved); V_a = V_m * g + V_c * (1 - g), g = sigmoid(b_g)
per head. After a segment its keys and values are appended to the memory, which keeps the newest
`capacity` entries (FIFO). The memory starts with a fixed content here and is not differentiable.
retrieval-attention (Liu et al. 2024): one softmax over local and retrieved keys; with nprobe = nlist
its IVF search is exact, so this script searches exactly.
prototype-memory (Barraco et al. 2023): see the prototype part below (forward and refresh rule).
Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/memory/retrieval_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/memory/test/fixtures/retrieval.json')

B, T, D, H = 2, 7, 8, 2
HD = D // H
L, TOPK, CAP, M0 = 3, 3, 6, 4  # T = 7: segments [0, 3), [3, 6), [6, 7); FIFO evicts


def heads(x):  # [B, T, D] -> [B, H, T, HD]
    return x.reshape(B, -1, H, HD).transpose(1, 2)


def retrieval_mixer(x, w, mem_k, mem_v, combine, xl):
    q, k, v = (heads(x @ w[n]) for n in ('q', 'k', 'v'))
    mem_k = [[mem_k[b, h].clone() for h in range(H)] for b in range(B)]
    mem_v = [[mem_v[b, h].clone() for h in range(H)] for b in range(B)]
    outs = []
    scale = 1 / math.sqrt(HD)
    for s in range(0, T, L):
        e = min(s + L, T)
        # Local keys: the segment, plus the previous one (Transformer-XL cache) seen through a
        # sliding window of L tokens when xl is set.
        s0 = max(0, s - L) if xl else s
        qs, ks, vs = q[:, :, s:e], k[:, :, s:e], v[:, :, s:e]
        lk, lv = k[:, :, s0:e], v[:, :, s0:e]
        n, nk = e - s, e - s0
        logits = qs @ lk.transpose(-1, -2) * scale
        qpos = torch.arange(s, e)[:, None]
        kpos = torch.arange(s0, e)[None, :]
        keep = (kpos <= qpos) & (qpos - kpos < L)
        logits = logits.masked_fill(~keep, -math.inf)
        rows = []
        for b in range(B):
            per_head = []
            for h in range(H):
                lq = logits[b, h]  # [n, n]
                mk, mv = mem_k[b][h], mem_v[b][h]
                idx = (qs[b, h].detach() @ mk.T).topk(min(TOPK, mk.shape[0]), dim=-1).indices
                rk, rv = mk[idx], mv[idx]  # [n, k, HD]
                ml = (qs[b, h][:, None, :] * rk).sum(-1) * scale  # [n, k]
                if combine == 'gate':
                    local = torch.softmax(lq, -1) @ lv[b, h]
                    mem = (torch.softmax(ml, -1)[..., None] * rv).sum(1)
                    g = torch.sigmoid(w['gate'][h])
                    per_head.append(mem * g + local * (1 - g))
                else:  # one softmax over local and retrieved keys
                    wts = torch.softmax(torch.cat([lq, ml], -1), -1)
                    per_head.append(wts[:, :nk] @ lv[b, h] + (wts[:, nk:, None] * rv).sum(1))
            rows.append(torch.stack(per_head))
        outs.append(torch.stack(rows))  # [B, H, n, HD]
        for b in range(B):  # write the segment, keep the newest CAP entries (FIFO)
            for h in range(H):
                mem_k[b][h] = torch.cat([mem_k[b][h], ks[b, h].detach()])[-CAP:]
                mem_v[b][h] = torch.cat([mem_v[b][h], vs[b, h].detach()])[-CAP:]
    out = torch.cat(outs, 2).transpose(1, 2).reshape(B, T, D)
    return out @ w['o']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


cases = []
for name, combine, xl in (
    ('knn-memory', 'gate', True),
    ('knn-memory-no-xl-cache', 'gate', False),
    ('retrieval-attention', 'merge', False),
):
    mixer = name if name != 'knn-memory-no-xl-cache' else 'knn-memory'
    w = {n: torch.randn(D, D) * 0.4 for n in ('q', 'k', 'v', 'o')}
    if combine == 'gate':
        w['gate'] = torch.randn(H)
    mem_k, mem_v = torch.randn(B, H, M0, HD), torch.randn(B, H, M0, HD)
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = retrieval_mixer(x, w, mem_k, mem_v, combine, xl)
    (y * probe).sum().backward()
    config = {'type': mixer, 'dModel': D, 'numHeads': H, 'segmentLength': L, 'topK': TOPK, 'capacity': CAP}
    if mixer == 'retrieval-attention':
        config.update({'nlist': 2, 'nprobe': 2})
    if name == 'knn-memory-no-xl-cache':
        config['xlCache'] = False
    cases.append({
        'name': name,
        'config': config,
        'weights': {(n if n == 'gate' else f'{n}.weight'): flat(w[n]) for n in w},
        'memoryKeys': flat(mem_k), 'memoryValues': flat(mem_v), 'memoryShape': [B, H, M0, HD],
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    })



# prototype-memory (Barraco et al. 2023, sec. 3): softmax(q [K; P_K + s]^T / sqrt(d)) [V; P_V], causal
# among the input keys, prototypes seen by every query. Refresh rule: P_K = k-means (Lloyd, L2) of the
# bank from evenly spaced entries; P_V[c] = mean value of the `neighbours` bank keys nearest to P_K[c].
P, N, NB, ITERS = 3, 24, 4, 5


def prototype_mixer(x, w, pk, pv, seg):
    q, k, v = (heads(x @ w[n]) for n in ('q', 'k', 'v'))
    keys = torch.cat([(pk + seg).expand(B, H, P, HD), k], 2)
    values = torch.cat([pv.expand(B, H, P, HD), v], 2)
    logits = q @ keys.transpose(-1, -2) / math.sqrt(HD)
    keep = torch.cat([torch.ones(T, P, dtype=torch.bool), torch.tril(torch.ones(T, T, dtype=torch.bool))], 1)
    logits = logits.masked_fill(~keep, -math.inf)
    out = torch.softmax(logits, -1) @ values
    return out.transpose(1, 2).reshape(B, T, D) @ w['o']


def refresh(bank_k, bank_v):
    n = bank_k.shape[0]
    cent = bank_k[[c * n // P for c in range(P)]].clone()
    for _ in range(ITERS):
        assign = torch.cdist(bank_k, cent).argmin(1)
        for c in range(P):
            if (assign == c).any():
                cent[c] = bank_k[assign == c].mean(0)
    near = torch.cdist(cent, bank_k).topk(NB, largest=False).indices  # [P, NB]
    return cent, bank_v[near].mean(1)


w = {n: torch.randn(D, D) * 0.4 for n in ('q', 'k', 'v', 'o')}
pk, pv, seg = torch.randn(H, P, HD), torch.randn(H, P, HD), torch.randn(H, 1, HD).requires_grad_()
x = torch.randn(B, T, D, requires_grad=True)
probe = torch.randn(B, T, D)
y = prototype_mixer(x, w, pk, pv, seg)
(y * probe).sum().backward()
centres = torch.randn(4, HD) * 2
bank_k = torch.stack([centres[torch.randint(0, 4, (N,))] + 0.3 * torch.randn(N, HD) for _ in range(H)])
bank_v = torch.randn(H, N, HD)
refreshed = [refresh(bank_k[h], bank_v[h]) for h in range(H)]
prototype = {
    'config': {'type': 'prototype-memory', 'dModel': D, 'numHeads': H, 'numPrototypes': P, 'bankSize': N,
               'neighbours': NB, 'kmeansIterations': ITERS},
    'weights': {**{f'{n}.weight': flat(w[n]) for n in w}, 'prototypeKeys': flat(pk),
                'prototypeValues': flat(pv), 'memorySegment': flat(seg)},
    'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad), 'gradSegment': flat(seg.grad),
    'shape': [B, T, D],
    'bankKeys': flat(bank_k), 'bankValues': flat(bank_v), 'bankShape': [H, N, HD],
    'refreshedKeys': flat(torch.stack([r[0] for r in refreshed])),
    'refreshedValues': flat(torch.stack([r[1] for r in refreshed])),
}

with open(OUT, 'w') as f:
    json.dump({'cases': cases, 'prototype': prototype}, f)
print(f'wrote {OUT}')
