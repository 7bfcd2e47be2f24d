"""Golden values for landmark attention's grouped softmax, written out in PyTorch from the paper.

Mohtashami & Jaggi 2023, "Landmark Attention: Random-Access Infinite Context Length for
Transformers", sec. 3.1: a landmark after every block_size tokens; p_j is the index of token j's
landmark (j itself for a landmark, the sequence length for a block without one); the groups of
query i are G_ij = p_j for a regular token, -1 (ignored) for i's own landmark, p_i for the other
landmarks; S = grouped softmax of q_i·K/√d (eq. 1-2); weights (eq. 3): 0 for landmarks, S_ij in
i's own group, S_ij · S_{i,p_j} otherwise. A landmark query attends its own block directly (its
own landmark ignored), as the authors' implementation does. Written per query with explicit
groups and loops, independently of the TypeScript masks.

Op cases: q, k, v, options, output, and gradients of sum(output * probe). Mixer cases: the
landmark-attention mixer's weights, x, y and the gradient of sum(y * probe) for x, in training
(grouped softmax) and at inference with top-k retrieval (sec. 3.2: each query keeps the k earlier
blocks whose landmark it scores highest, q·k_L, and the grouped softmax runs over those and its
own block).
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


def attend(q, k, v, i, block_size, tk, blocks=None):
    """One query (position i) over keys 0..i; `blocks`: the earlier blocks it may read (all if None)."""
    p_i = landmark_index(i, block_size, tk)
    keys = []
    for j in range(i + 1):
        own = landmark_index(j, block_size, tk) == p_i
        if blocks is None or own or j // (block_size + 1) in blocks:
            keys.append(j)  # causal, restricted to the retrieved blocks and i's own
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
    logits = {j: (q @ k[j]) / math.sqrt(q.shape[-1]) for j in keys}
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
        out = out + w * v[j]
    return out


def retrieved_blocks(q, k, i, block_size, top_k, local=0):
    """Sec. 3.2: the `local` blocks before i's, and the top_k earlier ones by landmark score q·k_L."""
    period = block_size + 1
    own = i // period
    near = set(range(max(0, own - local), own))
    scores = [(float(q @ k[b * period + block_size]), b) for b in range(own) if b not in near]
    return near | {b for _, b in sorted(scores, reverse=True)[:top_k]}


def grouped_attention(q, k, v, block_size, top_k=None, local=0):
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
                blocks = None
                if top_k is not None:
                    with torch.no_grad():
                        blocks = retrieved_blocks(q[b, h, qi], k[b, h], i, block_size, top_k, local)
                per_query.append(attend(q[b, h, qi], k[b, h], v[b, h], i, block_size, tk, blocks))
            per_head.append(torch.stack(per_query))
        rows.append(torch.stack(per_head))
    return torch.stack(rows)


def mixer(x, w, heads, kv_heads, block_size, top_k, local):
    """landmark-attention: q/k/v projections (no bias), heads, landmark attention, o projection."""
    b, t, _ = x.shape
    split = lambda y, n: y.reshape(b, t, n, -1).transpose(1, 2)
    q, k, v = split(x @ w['q'], heads), split(x @ w['k'], kv_heads), split(x @ w['v'], kv_heads)
    o = grouped_attention(q, k, v, block_size, top_k, local)
    return o.transpose(1, 2).reshape(b, t, -1) @ w['o']


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

mixers = []
for name, batch, t, d_model, heads, kv_heads, block_size, top_k, local in [
    # training: the grouped softmax over every block; grouped-query heads
    ('grouped-gqa', 1, 10, 8, 2, 1, 2, None, 0),
    # inference: each query retrieves its top block only
    ('retrieval-top1', 2, 12, 8, 2, 2, 2, 1, 0),
    # inference: the block before a query's own always, and the top one of the others
    ('retrieval-top1-local1', 1, 15, 8, 2, 2, 2, 1, 1),
]:
    head_dim = d_model // heads
    shapes = {'q': (d_model, heads * head_dim), 'k': (d_model, kv_heads * head_dim),
              'v': (d_model, kv_heads * head_dim), 'o': (heads * head_dim, d_model)}
    w = {n: (torch.randn(*s, dtype=torch.float64) / math.sqrt(s[0])) for n, s in shapes.items()}
    x = torch.randn(batch, t, d_model, dtype=torch.float64, requires_grad=True)
    y = mixer(x, w, heads, kv_heads, block_size, top_k, local)
    probe = torch.randn_like(y)
    (y * probe).sum().backward()
    config = {'type': 'landmark-attention', 'dModel': d_model, 'numHeads': heads,
              'numKvHeads': kv_heads, 'blockSize': block_size}
    if top_k is not None:
        config['topK'] = top_k
    if local:
        config['localBlocks'] = local
    mixers.append({
        'name': name,
        'config': config,
        'training': top_k is None,
        'weights': {f'{n}.weight': {'shape': list(w[n].shape), 'values': flat(w[n])} for n in w},
        'shape': [batch, t, d_model],
        'x': flat(x),
        'probe': flat(probe),
        'y': flat(y),
        'gradX': flat(x.grad),
    })

with open(OUT, 'w') as f:
    json.dump({'source': 'tools/reference/memory/landmark_reference.py', 'cases': cases,
               'mixers': mixers}, f)
print(f'wrote {len(cases)} op cases and {len(mixers)} mixer cases to {os.path.normpath(OUT)}')
