"""Golden values for Sparsifiner (Wei et al. 2023), written out in PyTorch from the method.

Per head: q' = q Wq + bq, k' = k Wk + bk (headDim -> c); C = softmax(q' (k'^T W_down) / sqrt(c));
A_approx = C W_up^T [N, N]; M = top-k of each row of A_approx (a binary mask); the output is the
dense attention softmax(q k^T / sqrt(d)) with every unselected entry set to -inf (the mask on
full attention, computed here over the whole map, unlike attnkit's gather), then the o projection.
The loss is mean((A_approx - softmax(q k^T / sqrt(d)))^2) + sparsity * mean|W_up|, its teacher
detached. Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/sparsifiner_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/sparsifiner.json')


def heads(t, H):
    B, N, D = t.shape
    return t.reshape(B, N, H, D // H).transpose(1, 2)


def predictor(q, k, w):
    c = w['predictQWeight'].shape[1]
    qc = q @ w['predictQWeight'] + w['predictQBias']
    kc = k @ w['predictKWeight'] + w['predictKBias']
    pooled = kc.transpose(-1, -2) @ w['tokenDown']  # [B, H, c, n_down]
    coef = torch.softmax(qc @ pooled / c ** 0.5, -1)
    return coef @ w['tokenUp'].T  # [B, H, N, N]


def sparsifiner(x, w, cfg):
    H, K = cfg['numHeads'], cfg['topK']
    q, k, v = (heads(x @ w[n], H) for n in ('q.weight', 'k.weight', 'v.weight'))
    approx = predictor(q, k, w)
    top = torch.topk(approx, min(K + 1, approx.shape[-1]), -1).values
    gap = (top[..., K - 1] - top[..., K]).min().item() if K < approx.shape[-1] else float('inf')
    idx = torch.topk(approx, K, -1).indices
    mask = torch.zeros_like(approx, dtype=torch.bool).scatter_(-1, idx, True)
    d = q.shape[-1]
    logits = (q @ k.transpose(-1, -2) / d ** 0.5).masked_fill(~mask, float('-inf'))
    out = torch.softmax(logits, -1) @ v
    B, _, N, _ = out.shape
    return out.transpose(1, 2).reshape(B, N, -1) @ w['o.weight'], gap


def loss(x, w, cfg, sparsity):
    H = cfg['numHeads']
    q, k = (heads(x @ w[n], H) for n in ('q.weight', 'k.weight'))
    d = q.shape[-1]
    teacher = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, -1).detach()
    approx = predictor(q, k, w)
    return ((approx - teacher) ** 2).mean() + sparsity * w['tokenUp'].abs().mean()


def flat(t):
    return [float('%.7g' % a) for a in t.detach().reshape(-1).tolist()]


D, H = 8, 2
configs = [
    ('N=8, top-3, n_down 2, c 2', 2, {'numTokens': 8, 'topK': 3, 'reducedTokens': 2, 'reducedDim': 2}),
    ('N=9, top-4, n_down 3, c 4', 1, {'numTokens': 9, 'topK': 4, 'reducedTokens': 3, 'reducedDim': 4}),
]
cases = []
for name, B, extra in configs:
    cfg = {'type': 'sparsifiner', 'dModel': D, 'numHeads': H, **extra}
    N, nd, c, hd = extra['numTokens'], extra['reducedTokens'], extra['reducedDim'], D // H
    while True:  # a selection with a clear margin, so float32 picks the same keys
        w = {n: torch.randn(D, D) * 0.5 for n in ('q.weight', 'k.weight', 'v.weight', 'o.weight')}
        w['predictQWeight'] = torch.randn(hd, c) * 0.5
        w['predictQBias'] = torch.randn(c) * 0.5
        w['predictKWeight'] = torch.randn(hd, c) * 0.5
        w['predictKBias'] = torch.randn(c) * 0.5
        w['tokenDown'] = torch.randn(N, nd)
        w['tokenUp'] = torch.randn(N, nd)
        x = torch.randn(B, N, D, requires_grad=True)
        y, gap = sparsifiner(x, w, cfg)
        if gap > 1e-3:
            break
    probe = torch.randn(B, N, D)
    (gx,) = torch.autograd.grad((y * probe).sum(), x)
    up = w['tokenUp'].clone().requires_grad_(True)
    lw = {**w, 'tokenUp': up}
    value = loss(x.detach(), lw, cfg, 0.1)
    (gup,) = torch.autograd.grad(value, up)
    cases.append({
        'name': name,
        'config': cfg,
        'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(gx),
        'loss': float('%.9g' % value.item()), 'lossSparsity': 0.1, 'gradTokenUp': flat(gup),
        'shape': [B, N, D],
    })
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print('wrote', OUT, os.path.getsize(OUT), 'bytes')
