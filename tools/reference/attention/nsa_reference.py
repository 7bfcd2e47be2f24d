"""Golden values for the 'nsa' mixer, written in PyTorch from the paper, token by token.

NSA (Yuan et al. 2025, eq. 5-12): compressed keys/values phi(block + position) by a 2-layer SiLU
MLP over blocks [i*d, i*d + l), attention over the complete ones; selection blocks of l' scored by
the compressed scores times the overlap (in strides d) of each compressed block with them (eq. 9),
summed over the GQA group; the top (n - 1) earlier blocks plus the own block (causal); a sliding
window of w; a sigmoid gate per head and branch.
Run: /usr/bin/python3 tools/reference/attention/nsa_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/nsa.json')


def phi(block, p):  # block [B, hd] -> [hd]
    h = (block + p['position']).reshape(-1) @ p['w1.weight'] + p['w1.bias']
    return (h * torch.sigmoid(h)) @ p['w2.weight'] + p['w2.bias']


def attend(q, keys, values):  # q [hd], keys [m, hd]
    if keys.shape[0] == 0:
        return torch.zeros_like(q), None
    p = torch.softmax(keys @ q / math.sqrt(q.shape[0]), 0)
    return p @ values, p


def nsa(x, w, H, KVH, B, n_sel, window, L, S):
    Bt, T, D = x.shape
    hd = D // H
    group = H // KVH
    heads = lambda name, nh: (x @ w[name]).reshape(Bt, T, nh, hd)
    q = heads('q', H)
    k = {c: heads('k' + c, KVH) for c in ('Cmp', 'Slc', 'Win')}
    v = {c: heads('v' + c, KVH) for c in ('Cmp', 'Slc', 'Win')}
    gates = torch.sigmoid(x @ w['gate.weight'] + w['gate.bias']).reshape(Bt, T, 3, H)
    pk = {n[len('compressKey.'):]: w[n] for n in w if n.startswith('compressKey.')}
    pv = {n[len('compressValue.'):]: w[n] for n in w if n.startswith('compressValue.')}
    out = torch.zeros(Bt, T, H, hd)
    for b in range(Bt):
        nb = (T - L) // S + 1 if T >= L else 0
        ck = [[phi(k['Cmp'][b, i * S:i * S + L, g], pk) for i in range(nb)] for g in range(KVH)]
        cv = [[phi(v['Cmp'][b, i * S:i * S + L, g], pv) for i in range(nb)] for g in range(KVH)]
        for t in range(T):
            visible = [i for i in range(nb) if i * S + L - 1 <= t]
            own = t // B
            scores, o_cmp = {}, {}
            for hh in range(H):
                g = hh // group
                keys = torch.stack([ck[g][i] for i in visible]) if visible else torch.zeros(0, hd)
                vals = torch.stack([cv[g][i] for i in visible]) if visible else torch.zeros(0, hd)
                o_cmp[hh], scores[hh] = attend(q[b, t, hh], keys, vals)
            for hh in range(H):
                g = hh // group
                chosen = []
                if n_sel > 1 and own > 0:
                    cmp = sum(scores[g * group + m] for m in range(group))  # over visible
                    imp = torch.stack([sum(cmp[a] * len(set(range(i * S, i * S + L)) & set(range(j * B, (j + 1) * B))) / S
                                           for a, i in enumerate(visible)) for j in range(own)])
                    chosen = imp.topk(min(n_sel - 1, own)).indices.tolist()
                pos = [j for c in chosen for j in range(c * B, (c + 1) * B)] + list(range(own * B, t + 1))
                o_slc, _ = attend(q[b, t, hh], k['Slc'][b, pos, g], v['Slc'][b, pos, g])
                win = list(range(max(0, t - window + 1), t + 1))
                o_win, _ = attend(q[b, t, hh], k['Win'][b, win, g], v['Win'][b, win, g])
                gt = gates[b, t, :, hh]
                out[b, t, hh] = gt[0] * o_cmp[hh] + gt[1] * o_slc + gt[2] * o_win
    return out.reshape(Bt, T, D) @ w['o.weight']


def flat(t):
    return [round(float(a), 8) for a in t.detach().reshape(-1).tolist()]


cases = []
for name, Bt, T, D, H, KVH, B, n_sel, window, L, S in [
    ('mha', 2, 9, 8, 2, 2, 2, 3, 3, 2, 2),
    ('gqa', 1, 8, 8, 4, 2, 2, 2, 2, 2, 2),
    ('overlapping', 1, 13, 8, 2, 1, 4, 3, 3, 4, 2),
    ('paper-ratio', 1, 11, 8, 2, 2, 4, 2, 2, 2, 1),
]:
    hd = D // H
    kv = KVH * hd
    w = {'q': torch.randn(D, D) * 0.5, 'o.weight': torch.randn(D, D) * 0.5,
         'gate.weight': torch.randn(D, 3 * H) * 0.5, 'gate.bias': torch.randn(3 * H) * 0.5}
    for c in ('Cmp', 'Slc', 'Win'):
        w['k' + c] = torch.randn(D, kv) * 0.5
        w['v' + c] = torch.randn(D, kv) * 0.5
    for m in ('compressKey', 'compressValue'):
        w[m + '.position'] = torch.randn(L, hd) * 0.3
        w[m + '.w1.weight'] = torch.randn(L * hd, hd) * 0.4
        w[m + '.w1.bias'] = torch.randn(hd) * 0.2
        w[m + '.w2.weight'] = torch.randn(hd, hd) * 0.4
        w[m + '.w2.bias'] = torch.randn(hd) * 0.2
    x = torch.randn(Bt, T, D, requires_grad=True)
    probe = torch.randn(Bt, T, D)
    y = nsa(x, w, H, KVH, B, n_sel, window, L, S)
    (y * probe).sum().backward()
    names = {n: (n if '.' in n else n + '.weight') for n in w}
    cases.append({
        'name': name,
        'config': {'type': 'nsa', 'dModel': D, 'numHeads': H, 'numKvHeads': KVH, 'blockSize': B,
                   'numSelected': n_sel, 'window': window, 'compressBlock': L, 'compressStride': S},
        'weights': {names[n]: {'shape': list(w[n].shape), 'values': flat(w[n])} for n in w},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [Bt, T, D],
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print('wrote', OUT)
