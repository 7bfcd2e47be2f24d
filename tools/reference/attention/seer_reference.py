"""Golden values for the 'seer-attention' mixer, written in PyTorch from the paper.

SeerAttention (Gao et al. 2024, sec. 3.1-3.2, eq. 1-3). AttnGate: pooled q (mean) times W_q,
pooled k (cat[max, min, mean] per block) times W_k, scores / sqrt(d_g). Causal form: the query at
t pools its block's queries up to t, keeps its own block (causal inside) and the top (k - 1)
earlier full blocks; computed here as a mask on full softmax attention. Gate loss (eq. 3):
KL(G || softmax(gate)), G = dense causal map max-pooled over B x B tiles, rows normalised.
Run: /usr/bin/python3 tools/reference/attention/seer_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/seer.json')


def heads(x, w, H, KVH):
    B, T, D = x.shape
    hd = D // H
    q = (x @ w['q']).reshape(B, T, H, hd).transpose(1, 2)
    k = (x @ w['k']).reshape(B, T, KVH, hd).transpose(1, 2).repeat_interleave(H // KVH, 1)
    v = (x @ w['v']).reshape(B, T, KVH, hd).transpose(1, 2).repeat_interleave(H // KVH, 1)
    return q, k, v, hd


def pool_keys(k, block, n):
    B, H, T, hd = k.shape
    blocks = k[:, :, : n * block].reshape(B, H, n, block, hd)
    return torch.cat([blocks.max(3).values, blocks.min(3).values, blocks.mean(3)], -1)


def seer(x, w, H, KVH, block, top_k):
    B, T, D = x.shape
    q, k, v, hd = heads(x, w, H, KVH)
    dg = w['gateQ'].shape[1]
    nfull = T // block
    gk = pool_keys(k, block, nfull) @ w['gateK']  # [B, H, nfull, dg]
    keep = torch.zeros(B, H, T, T, dtype=torch.bool)
    for t in range(T):
        own = t // block
        keep[:, :, t, own * block: t + 1] = True
        if own == 0 or top_k == 1:
            continue
        pq = q[:, :, own * block: t + 1].mean(2) @ w['gateQ']  # [B, H, dg]
        scores = torch.einsum('bhd,bhnd->bhn', pq, gk[:, :, :own]) / math.sqrt(dg)
        chosen = scores.topk(min(top_k - 1, own), -1).indices
        for bi in range(B):
            for hi in range(H):
                for j in chosen[bi, hi].tolist():
                    keep[bi, hi, t, j * block:(j + 1) * block] = True
    logits = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    weights = torch.softmax(logits.masked_fill(~keep, float('-inf')), -1)
    out = (weights @ v).transpose(1, 2).reshape(B, T, D)
    return out @ w['o']


def gate_loss(x, w, H, KVH, block):
    B, T, D = x.shape
    with torch.no_grad():
        q, k, _, hd = heads(x, w, H, KVH)
    n = T // block
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    attn = torch.softmax(((q @ k.transpose(-1, -2)) / math.sqrt(hd)).masked_fill(~causal, float('-inf')), -1)
    tiles = attn.reshape(B, H, n, block, n, block).amax(dim=(3, 5))
    target = tiles / tiles.sum(-1, keepdim=True)
    dg = w['gateQ'].shape[1]
    pq = q.reshape(B, H, n, block, hd).mean(3) @ w['gateQ']
    pk = pool_keys(k, block, n) @ w['gateK']
    s = (pq @ pk.transpose(-1, -2)) / math.sqrt(dg)
    s = s.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float('-inf'))
    log_s = torch.log_softmax(s, -1)
    pos = target > 0
    kl = (target[pos] * (target[pos].log() - log_s[pos])).sum()
    return kl / (B * H * n)


def flat(t):
    return [round(float(a), 8) for a in t.detach().reshape(-1).tolist()]


cases = []
for name, B, T, D, H, KVH, block, top_k, dg in [
    ('mha', 2, 8, 8, 2, 2, 2, 3, 4),
    ('gqa-ragged', 1, 9, 8, 2, 1, 3, 2, 4),
    ('wide-topk', 1, 8, 12, 3, 3, 2, 5, 3),
]:
    hd = D // H
    w = {'q': torch.randn(D, D) * 0.5, 'k': torch.randn(D, KVH * hd) * 0.5,
         'v': torch.randn(D, KVH * hd) * 0.5, 'o': torch.randn(D, D) * 0.5,
         'gateQ': torch.randn(hd, dg) * 0.5, 'gateK': torch.randn(3 * hd, dg) * 0.5}
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = seer(x, w, H, KVH, block, top_k)
    (y * probe).sum().backward()
    case = {
        'name': name,
        'config': {'type': 'seer-attention', 'dModel': D, 'numHeads': H, 'numKvHeads': KVH,
                   'blockSize': block, 'topK': top_k, 'gateDim': dg},
        'weights': {(f'{n}.weight' if n in 'qkvo' else n): {'shape': list(w[n].shape), 'values': flat(w[n])}
                    for n in w},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    }
    if T % block == 0:
        gq = w['gateQ'].clone().requires_grad_(True)
        gk = w['gateK'].clone().requires_grad_(True)
        loss = gate_loss(x.detach(), {**w, 'gateQ': gq, 'gateK': gk}, H, KVH, block)
        loss.backward()
        case['gateLoss'] = round(float(loss), 8)
        case['gradGateQ'] = flat(gq.grad)
        case['gradGateK'] = flat(gk.grad)
    cases.append(case)

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print('wrote', OUT)
