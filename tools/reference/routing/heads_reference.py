"""Golden fixtures for the head-routing mixers, computed independently in PyTorch (float64):
`moh` (Mixture-of-Head attention, Jin et al. 2024, eqs. 3-6) and `moa` (Mixture of Attention
heads, Zhang et al. 2022, sec. 3) and `mosa` (Mixture of Sparse Attention, Piękos et al. 2025,
sec. 3).

Run: /usr/bin/python3 tools/reference/routing/heads_reference.py
Writes packages/routing/test/fixtures/{moh,moa,mosa}.json.
Linear weights are stored [in, out] as attnkit's Linear uses them (y = x W). moh: grouped-query
attention (6 query heads, 2 key/value heads), causal, a key padding mask and rotate-half RoPE
(base 10000) on queries and keys. moa: 5 attention experts sharing one key/value head, top-2.
mosa: 3 heads each choosing 4 of 7 tokens (sparsity 2), RoPE at the tokens' positions.
"""
import json
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/routing/test/fixtures')
rng = np.random.default_rng(11)


def arr(t):
    return np.round(np.asarray(t.detach(), dtype=np.float64), 10).tolist()


def randn(*shape, scale=1.0):
    return torch.tensor(rng.standard_normal(shape) * scale)


def rope(x, positions, base=10000.0):
    """Rotate-half RoPE over the last axis of x [b, h, t, d]."""
    d = x.shape[-1]
    inv = base ** (-torch.arange(0, d // 2, dtype=torch.float64) * 2 / d)
    ang = positions[:, None].double() * inv[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


def attend(q, k, v, allowed, g):
    """Causal grouped-query attention per head; head h's output scaled by g[:, :, h]."""
    H, HKV, HD = q.shape[1], k.shape[1], q.shape[3]
    heads = []
    for h in range(H):
        kv = h // (H // HKV)
        logits = q[:, h] @ k[:, kv].transpose(1, 2) / np.sqrt(HD)
        logits = logits.masked_fill(~allowed, float('-inf'))
        out = torch.softmax(logits, -1) @ v[:, kv]  # [B, T, HD]
        heads.append(g[:, :, h:h + 1] * out)
    return torch.cat(heads, -1)


def moh_case():
    B, T, D, H, HKV, HD, HS, K = 2, 5, 12, 6, 2, 4, 2, 2
    x = randn(B, T, D).requires_grad_(True)
    names = ['q.weight', 'k.weight', 'v.weight', 'o.weight',
             'gating.shared.weight', 'gating.routed.gate.weight', 'gating.mix.weight']
    shapes = [(D, H * HD), (D, HKV * HD), (D, HKV * HD), (H * HD, D), (D, HS), (D, H - HS), (D, 2)]
    params = [randn(*s, scale=0.5).requires_grad_(True) for s in shapes]
    wq, wk, wv, wo, ws, wr, wh = params
    # key padding: the second sequence may not attend to its token 2
    keep = torch.ones(B, T, dtype=torch.bool)
    keep[1, 2] = False

    def forward(x):
        flat = x.reshape(-1, D)
        # two-stage head weights, eqs. 4-5
        alpha = torch.softmax(flat @ wh, 1)
        shared = alpha[:, :1] * torch.softmax(flat @ ws, 1)
        pr = torch.softmax(flat @ wr, 1)
        idx = np.argsort(-pr.detach().numpy(), axis=1, kind='stable')[:, :K]
        chosen = torch.zeros_like(pr).scatter(1, torch.tensor(idx), 1.0)
        routed = alpha[:, 1:] * pr * chosen
        g = torch.cat([shared, routed], 1).reshape(B, T, H)
        loss = torch.sum(chosen.mean(0) * pr.mean(0))  # eq. 6
        # grouped-query attention, one head at a time
        pos = torch.arange(T)
        q = rope((x @ wq).reshape(B, T, H, HD).transpose(1, 2), pos)
        k = rope((x @ wk).reshape(B, T, HKV, HD).transpose(1, 2), pos)
        v = (x @ wv).reshape(B, T, HKV, HD).transpose(1, 2)
        allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None] & keep[:, None, :]
        y = attend(q, k, v, allowed, g) @ wo  # eq. 3: Σ g_i H^i W_O^i
        return y, loss, chosen

    y, loss, chosen = forward(x)
    r = randn(B, T, D)
    grads = torch.autograd.grad(torch.sum(y * r) + loss, [x] + params)
    return {
        'config': {'type': 'moh', 'dModel': D, 'numHeads': H, 'numKvHeads': HKV, 'headDim': HD,
                   'numSharedHeads': HS, 'topK': K},
        'x': arr(x), 'keyMask': keep.int().tolist(),
        'params': {n: arr(p) for n, p in zip(names, params)},
        'y': arr(y), 'loss': float(loss),
        'headLoad': [B * T] * HS + chosen.sum(0).int().tolist(),
        'objectiveWeights': arr(r),
        'gradX': arr(grads[0]),
        'grads': {n: arr(g) for n, g in zip(names, grads[1:])},
    }


def moa_case():
    """Experts = query heads with their own W_q/W_o slices, one shared key/value head."""
    B, T, D, E, HD, K = 2, 4, 8, 5, 4, 2
    x = randn(B, T, D).requires_grad_(True)
    names = ['q.weight', 'k.weight', 'v.weight', 'o.weight', 'router.gate.weight']
    shapes = [(D, E * HD), (D, HD), (D, HD), (E * HD, D), (D, E)]
    params = [randn(*s, scale=0.5).requires_grad_(True) for s in shapes]
    wq, wk, wv, wo, wg = params
    flat = x.reshape(-1, D)
    logits = flat @ wg
    probs = torch.softmax(logits, 1)
    idx = np.argsort(-probs.detach().numpy(), axis=1, kind='stable')[:, :K]
    chosen = torch.zeros_like(probs).scatter(1, torch.tensor(idx), 1.0)
    # w = softmax over the chosen experts' logits
    top = torch.where(chosen > 0, logits, torch.full_like(logits, float('-inf')))
    g = torch.softmax(top, 1).reshape(B, T, E)
    demand = chosen.sum(0)
    lb = E * torch.sum(demand / demand.sum() * probs.mean(0))
    z = torch.mean(torch.logsumexp(logits, 1) ** 2)
    q = (x @ wq).reshape(B, T, E, HD).transpose(1, 2)
    k = (x @ wk).reshape(B, T, 1, HD).transpose(1, 2)
    v = (x @ wv).reshape(B, T, 1, HD).transpose(1, 2)
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None]
    y = attend(q, k, v, allowed, g) @ wo
    r = randn(B, T, D)
    grads = torch.autograd.grad(torch.sum(y * r) + lb + z, [x] + params)
    return {
        'config': {'type': 'moa', 'dModel': D, 'numHeads': E, 'headDim': HD, 'topK': K},
        'x': arr(x), 'params': {n: arr(p) for n, p in zip(names, params)},
        'y': arr(y), 'loadBalance': float(lb), 'zLoss': float(z),
        'load': demand.int().tolist(), 'objectiveWeights': arr(r),
        'gradX': arr(grads[0]),
        'grads': {n: arr(g) for n, g in zip(names, grads[1:])},
    }


def mosa_case():
    """Expert-choice token selection per head, attention among the chosen, scatter back."""
    B, T, D, H, HD, RHO = 2, 7, 8, 3, 4, 2
    k = -(-T // RHO)
    x = randn(B, T, D).requires_grad_(True)
    names = ['router.weight', 'q.weight', 'k.weight', 'v.weight', 'o.weight']
    shapes = [(D, H), (D, H * HD), (D, H * HD), (D, H * HD), (H * HD, D)]
    params = [randn(*s, scale=0.5).requires_grad_(True) for s in shapes]
    wr, wq, wk, wv, wo = params
    r = torch.sigmoid(x @ wr)  # [B, T, H]
    y = torch.zeros(B, T, D)
    picked = []
    for b in range(B):
        for h in range(H):
            idx = torch.sort(torch.topk(r[b, :, h], k).indices).values
            picked.append(idx.tolist())
            cols = slice(h * HD, (h + 1) * HD)
            xs = x[b, idx]
            pos = idx
            q = rope((xs @ wq[:, cols])[None, None], pos)[0, 0]
            kk = rope((xs @ wk[:, cols])[None, None], pos)[0, 0]
            v = xs @ wv[:, cols]
            logits = q @ kk.T / np.sqrt(HD)
            logits = logits.masked_fill(~(idx[None, :] <= idx[:, None]), float('-inf'))
            a = torch.softmax(logits, -1) @ v * r[b, idx, h][:, None]
            y[b] = y[b].index_add(0, idx, a @ wo[cols])
    w = randn(B, T, D)
    grads = torch.autograd.grad(torch.sum(y * w), [x] + params)
    return {
        'config': {'type': 'mosa', 'dModel': D, 'numHeads': H, 'headDim': HD, 'sparsity': RHO},
        'x': arr(x), 'params': {n: arr(p) for n, p in zip(names, params)},
        'y': arr(y), 'picked': picked, 'objectiveWeights': arr(w),
        'gradX': arr(grads[0]),
        'grads': {n: arr(g) for n, g in zip(names, grads[1:])},
    }


os.makedirs(OUT, exist_ok=True)
case = moh_case()
with open(os.path.join(OUT, 'moh.json'), 'w') as f:
    json.dump(case, f)
print('moh headLoad', case['headLoad'], 'loss', case['loss'])
case = moa_case()
with open(os.path.join(OUT, 'moa.json'), 'w') as f:
    json.dump(case, f)
print('moa load', case['load'], 'loadBalance', case['loadBalance'], 'zLoss', case['zLoss'])
case = mosa_case()
with open(os.path.join(OUT, 'mosa.json'), 'w') as f:
    json.dump(case, f)
print('mosa picked', case['picked'])
