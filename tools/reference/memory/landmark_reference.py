"""Golden values for landmark attention's grouped softmax, written out in PyTorch from the paper.

Mohtashami & Jaggi 2023, "Landmark Attention: Random-Access Infinite Context Length for
Transformers", sec. 3.1: a landmark after every block_size tokens; p_j is the index of token j's
landmark (j itself for a landmark, the sequence length for a block without one); the groups of
query i are G_ij = p_j for a regular token, -1 (ignored) for i's own landmark, p_i for the other
landmarks; S = grouped softmax of q_i·K/√d (eq. 1-2); weights (eq. 3): 0 for landmarks, S_ij in
i's own group, S_ij · S_{i,p_j} otherwise. A landmark query attends its own block directly (its
own landmark ignored), as the authors' implementation does. Written per query with explicit
groups and loops, independently of the TypeScript masks.

Each case: q, k, v, options, output, and gradients of sum(output * probe).
Run: /usr/bin/python3 tools/reference/memory/landmark_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/memory/test/fixtures/landmark.json')


def landmark_index(j, block_size, length):
    """p_j: the position of the landmark closing j's block (j for a landmark, length if none)."""
    period = block_size + 1
    p = (j // period) * period + block_size
    return p if p < length else length


def grouped_attention(q, k, v, block_size):
    batch, heads, tq, d = q.shape
    tk = k.shape[2]
    k = k.repeat_interleave(heads // k.shape[1], dim=1)
    v = v.repeat_interleave(heads // v.shape[1], dim=1)
    rows = []
    for b in range(batch):
        per_head = []
        for h in range(heads):
            per_query = []
            for qi in range(tq):
                i = tk - tq + qi  # end-aligned
                p_i = landmark_index(i, block_size, tk)
                keys = list(range(i + 1))  # causal
                groups = {}
                for j in keys:
                    p_j = landmark_index(j, block_size, tk)
                    if j == p_i:
                        g = -1  # i's own landmark: ignored
                    elif p_j != j:
                        g = p_j  # a regular token: its block
                    else:
                        g = p_i  # another landmark: i's group
                    groups[j] = g
                logits = {j: (q[b, h, qi] @ k[b, h, j]) / math.sqrt(d) for j in keys}
                s = {}
                for j in keys:
                    if groups[j] == -1:
                        continue
                    members = [y for y in keys if groups[y] == groups[j]]
                    den = torch.logsumexp(torch.stack([logits[y] for y in members]), 0)
                    s[j] = torch.exp(logits[j] - den)
                out = torch.zeros(v.shape[-1], dtype=torch.float64)
                for j in keys:
                    p_j = landmark_index(j, block_size, tk)
                    if groups[j] == -1 or p_j == j:
                        continue  # landmarks carry no value
                    w = s[j] if groups[j] == p_i else s[j] * s[p_j]
                    out = out + w * v[b, h, j]
                per_query.append(out)
            per_head.append(torch.stack(per_query))
        rows.append(torch.stack(per_head))
    return torch.stack(rows)


def flat(t):
    return [round(x, 8) for x in t.detach().reshape(-1).tolist()]


cases = []
for name, batch, heads, kv_heads, tq, tk, d, dv, block_size in [
    # landmarks at 3 and 7; the last block (8-10) has none yet
    ('blocks-of-3', 1, 2, 2, 11, 11, 4, 4, 3),
    # decoding-like: 3 end-aligned queries, the last a landmark; grouped-query heads
    ('end-aligned-gqa', 2, 2, 1, 3, 9, 3, 2, 2),
    # one regular token per block: every other position a landmark
    ('blocks-of-1', 1, 1, 1, 7, 7, 2, 3, 1),
]:
    q = torch.randn(batch, heads, tq, d, dtype=torch.float64, requires_grad=True)
    k = torch.randn(batch, kv_heads, tk, d, dtype=torch.float64, requires_grad=True)
    v = torch.randn(batch, kv_heads, tk, dv, dtype=torch.float64, requires_grad=True)
    out = grouped_attention(q, k, v, block_size)
    probe = torch.randn_like(out)
    (out * probe).sum().backward()
    cases.append({
        'name': name,
        'blockSize': block_size,
        'q': {'shape': list(q.shape), 'data': flat(q)},
        'k': {'shape': list(k.shape), 'data': flat(k)},
        'v': {'shape': list(v.shape), 'data': flat(v)},
        'probe': {'shape': list(probe.shape), 'data': flat(probe)},
        'output': {'shape': list(out.shape), 'data': flat(out)},
        'dq': flat(q.grad),
        'dk': flat(k.grad),
        'dv': flat(v.grad),
    })

with open(OUT, 'w') as f:
    json.dump({'source': 'tools/reference/memory/landmark_reference.py', 'cases': cases}, f)
print(f'wrote {len(cases)} cases to {os.path.normpath(OUT)}')
