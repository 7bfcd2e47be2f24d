"""Golden values for halo-attention (Vaswani et al. 2021, HaloNet, sec. 2.2), written out in PyTorch.

The paper's way: keys and values zero-padded by the halo h on each spatial side, each b (b x b)
query block attends to its (b + 2h) (squared) window sliced from the padded map; the padding
keys are masked out. Relative logits q . (r_rows[dy] + r_cols[dx]) with dy, dx = key minus query
coordinate (1-D: q . r[dt]), all scaled by 1/sqrt(d). Loops over blocks, independently of
attnkit's index tables.
Weights are [in, out] as attnkit's Linear stores them; no biases.
Run: /usr/bin/python3 tools/reference/attention/halo_reference.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/halo.json')

B, D, H = 2, 8, 2
HD = D // H


def halo(x, w, rel, cfg):
    b, h = cfg['blockSize'], cfg['halo']
    T = x.shape[1]
    rows, cols = cfg.get('grid', [1, T])
    two_d = 'grid' in cfg
    hy = h if two_d else 0  # a 1-D sequence is one row: no halo across rows
    by = b if two_d else 1

    def grid(t):  # [B, T, D] -> [B, H, rows, cols, HD]
        return t.reshape(B, rows, cols, H, HD).permute(0, 3, 1, 2, 4)

    q, k, v = (grid(x @ w[n]) for n in ('q', 'k', 'v'))
    pad = (0, 0, h, h, hy, hy)
    kp, vp = F.pad(k, pad), F.pad(v, pad)
    valid = F.pad(torch.ones(rows, cols), (h, h, hy, hy)).bool()
    out = torch.zeros(B, H, rows, cols, HD)
    for y0 in range(0, rows, by):
        for x0 in range(0, cols, b):
            qb = q[:, :, y0:y0 + by, x0:x0 + b].reshape(B, H, -1, HD)
            # Window in padded coordinates: rows y0 .. y0 + by + 2hy, cols x0 .. x0 + b + 2h.
            kb = kp[:, :, y0:y0 + by + 2 * hy, x0:x0 + b + 2 * h].reshape(B, H, -1, HD)
            vb = vp[:, :, y0:y0 + by + 2 * hy, x0:x0 + b + 2 * h].reshape(B, H, -1, HD)
            ok = valid[y0:y0 + by + 2 * hy, x0:x0 + b + 2 * h].reshape(-1)
            qpos = [(y0 + a, x0 + c) for a in range(by) for c in range(b)]
            kpos = [(y0 - hy + a, x0 - h + c) for a in range(by + 2 * hy) for c in range(b + 2 * h)]
            logits = qb @ kb.transpose(-1, -2)
            if rel:
                off = b - 1 + h
                if two_d:
                    r = torch.stack([torch.stack([rel['relativeRows'][ky - qy + off] + rel['relativeCols'][kx - qx + off]
                                                  for (ky, kx) in kpos]) for (qy, qx) in qpos])
                else:
                    r = torch.stack([torch.stack([rel['relative'][kx - qx + off] for (_, kx) in kpos])
                                     for (_, qx) in qpos])
                logits = logits + torch.einsum('bhqd,qkd->bhqk', qb, r)
            logits = (logits / math.sqrt(HD)).masked_fill(~ok, float('-inf'))
            o = torch.softmax(logits, -1) @ vb
            out[:, :, y0:y0 + by, x0:x0 + b] = o.reshape(B, H, by, b, HD)
    return out.permute(0, 2, 3, 1, 4).reshape(B, T, D) @ w['o']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


configs = [
    ({'type': 'halo-attention', 'dModel': D, 'numHeads': H, 'blockSize': 4, 'halo': 2}, 12),
    ({'type': 'halo-attention', 'dModel': D, 'numHeads': H, 'blockSize': 2, 'halo': 1,
      'grid': [4, 6]}, 24),
    ({'type': 'halo-attention', 'dModel': D, 'numHeads': H, 'blockSize': 3, 'halo': 1,
      'relativePositions': False}, 9),
]
cases = []
for cfg, T in configs:
    w = {n: torch.randn(D, D) * 0.5 for n in ('q', 'k', 'v', 'o')}
    size = 2 * (cfg['blockSize'] + cfg['halo']) - 1
    names = ([] if cfg.get('relativePositions') is False
             else ['relativeRows', 'relativeCols'] if 'grid' in cfg else ['relative'])
    rel = {n: (torch.randn(size, HD) * 0.5).requires_grad_() for n in names}
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = halo(x, w, rel, cfg)
    (y * probe).sum().backward()
    cases.append({
        'name': f"{'2-D' if 'grid' in cfg else '1-D'}, b={cfg['blockSize']}, h={cfg['halo']}"
                + ('' if rel else ', no relative'),
        'config': cfg,
        'weights': {f'{n}.weight': flat(w[n]) for n in w},
        'relative': {n: flat(rel[n]) for n in rel},
        'gradRelative': {n: flat(rel[n].grad) for n in rel},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad), 'shape': [B, T, D],
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
