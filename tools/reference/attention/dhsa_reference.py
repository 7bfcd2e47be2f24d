"""Golden values for dynamic hierarchical sparse attention (Xiong et al. 2025, DHSA), in PyTorch.

Written from the method as attnkit states it (packages/attention/src/sparse/dhsa.ts header):
boundary logit z_i = MLP([l, r, l - r, l * r, cos(l, r)]) with l the mean of the `window` keys
before token i and r = k_i (keys averaged over heads); token i > 0 opens a chunk when z_i > 0 or
the open chunk holds maxChunkSize tokens. Kbar_c = sqrt(|C|) mean_{j in C} k_j; Qbar_i =
sqrt(n) mean of the n queries of i's chunk up to i; S_ij = Qbar_i . Kbar_c(j) for earlier chunks.
Query i keeps its own chunk's keys up to i, then the keys of earlier chunks by S (stable sort:
ties to the lower index) up to topK. The output is full causal attention with every unselected
entry masked (no gather), then o. Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/dhsa_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/dhsa.json')


def heads(t, H):
    B, N, D = t.shape
    return t.reshape(B, N, H, D // H).transpose(1, 2)


def boundaries(k, w, cfg):
    """k [T, d] (head mean) -> chunk ids, and the smallest |logit| that decided a boundary."""
    T = k.shape[0]
    ids, cid, open_, margin = [], 0, 0, float('inf')
    for i in range(T):
        if i > 0:
            left = k[max(0, i - cfg['window']):i].mean(0)
            r = k[i]
            cos = (left @ r) / (left.norm() * r.norm() + 1e-6)
            f = torch.cat([left, r, left - r, left * r, cos.reshape(1)])
            z = (torch.relu(f @ w['boundaryW1'] + w['boundaryB1']) @ w['boundaryW2'] + w['boundaryB2']).item()
            if open_ < cfg['maxChunkSize']:
                margin = min(margin, abs(z))
            if z > 0 or open_ == cfg['maxChunkSize']:
                cid += 1
                open_ = 0
        ids.append(cid)
        open_ += 1
    return ids, margin


def dhsa(x, w, cfg):
    H, K = cfg['numHeads'], cfg['topK']
    q, k, v = (heads(x @ w[n], H) for n in ('q.weight', 'k.weight', 'v.weight'))
    B, _, T, d = q.shape
    mask = torch.zeros(B, H, T, T, dtype=torch.bool)
    margin = float('inf')
    for b in range(B):
        ids, m = boundaries(k[b].mean(0).detach(), w, cfg)
        margin = min(margin, m)
        ids = torch.tensor(ids)
        nc = int(ids[-1]) + 1
        for h in range(H):
            kb = torch.stack([k[b, h][ids == c].mean(0) * (ids == c).sum() ** 0.5 for c in range(nc)]).detach()
            for i in range(T):
                own = int(ids[i])
                members = torch.nonzero(ids[: i + 1] == own).flatten()
                qb = q[b, h, members].mean(0).detach() * len(members) ** 0.5
                keep = members.tolist()
                scores = torch.stack([qb @ kb[c] for c in range(own)]) if own else torch.zeros(0)
                if own > 1:
                    s = scores.sort().values
                    margin = min(margin, (s[1:] - s[:-1]).min().item())
                order = sorted(range(own), key=lambda c: (-scores[c].item(), c))
                for c in order:
                    for j in torch.nonzero(ids == c).flatten().tolist():
                        if len(keep) < K:
                            keep.append(j)
                mask[b, h, i, keep] = True
    logits = (q @ k.transpose(-1, -2) / d ** 0.5).masked_fill(~mask, float('-inf'))
    out = torch.softmax(logits, -1) @ v
    return out.transpose(1, 2).reshape(B, T, -1) @ w['o.weight'], margin


def flat(t):
    return [float('%.7g' % a) for a in t.detach().reshape(-1).tolist()]


D, H = 8, 2
configs = [
    ('T=10, top-4, chunks <= 3, window 2', 2, 10, {'topK': 4, 'maxChunkSize': 3, 'window': 2, 'boundaryHidden': 6}),
    ('T=12, top-5, chunks <= 2, window 3', 1, 12, {'topK': 5, 'maxChunkSize': 2, 'window': 3, 'boundaryHidden': 4}),
]
cases = []
for name, B, T, extra in configs:
    cfg = {'type': 'dhsa', 'dModel': D, 'numHeads': H, **extra}
    hd, hid = D // H, extra['boundaryHidden']
    while True:  # boundaries and chunk orders with a clear margin, so float32 decides the same
        w = {n: torch.randn(D, D) * 0.5 for n in ('q.weight', 'k.weight', 'v.weight', 'o.weight')}
        w['boundaryW1'] = torch.randn(4 * hd + 1, hid)
        w['boundaryB1'] = torch.randn(hid) * 0.5
        w['boundaryW2'] = torch.randn(hid, 1)
        w['boundaryB2'] = torch.randn(1) * 0.5
        x = torch.randn(B, T, D, requires_grad=True)
        y, margin = dhsa(x, w, cfg)
        if margin > 1e-3:
            break
    probe = torch.randn(B, T, D)
    (gx,) = torch.autograd.grad((y * probe).sum(), x)
    cases.append({
        'name': name,
        'config': cfg,
        'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(gx),
        'shape': [B, T, D],
    })
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print('wrote', OUT, os.path.getsize(OUT), 'bytes')
