"""Golden values for W.A.L.T window attention, written out in PyTorch from the paper.

Gupta et al. 2023, "Photorealistic Video Generation with Diffusion Models", sec. 3 (window
attention): the [frames, h, w] latent is cut into non-overlapping windows, 1 x p_h x p_w
(spatial) or t x p_h x p_w (spatiotemporal), and multi-head self-attention runs inside each.
Windows are cut with view/permute (no masks, no index lists), so this checks attnkit's
gather-based blocked path and its mask independently. Weights are [in, out] as attnkit's
Linear stores them. Run: /usr/bin/python3 tools/reference/attention/walt_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/walt.json')


def walt(x, w, cfg):
    B, T, D = x.shape
    H = cfg['numHeads']
    hd = D // H
    F, Gh, Gw = cfg['grid']
    ph, pw = cfg['windowSize']
    t = cfg.get('temporalWindow', F) if cfg.get('mode') == 'spatiotemporal' else 1
    q, k, v = (x @ w[n] for n in ('q.weight', 'k.weight', 'v.weight'))

    def cut(z):  # [B, T, D] -> [B * windows, H, size, hd]
        z = z.reshape(B, F // t, t, Gh // ph, ph, Gw // pw, pw, D).permute(0, 1, 3, 5, 2, 4, 6, 7)
        return z.reshape(-1, t * ph * pw, H, hd).transpose(1, 2)

    o = torch.softmax(cut(q) @ cut(k).transpose(-1, -2) / hd ** 0.5, -1) @ cut(v)
    o = o.transpose(1, 2).reshape(B, F // t, Gh // ph, Gw // pw, t, ph, pw, D)
    o = o.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(B, T, D)
    return o @ w['o.weight']


def flat(t):
    return [float('%.7g' % a) for a in t.detach().reshape(-1).tolist()]


D, H = 8, 2
configs = [
    ('spatial, 2 frames of 4x4, 2x2 windows', {'grid': [2, 4, 4], 'windowSize': [2, 2], 'mode': 'spatial'}),
    ('spatiotemporal, 4 frames of 2x2, 2x2x2 windows', {'grid': [4, 2, 2], 'windowSize': [2, 2], 'mode': 'spatiotemporal', 'temporalWindow': 2}),
    ('spatiotemporal, 3 frames of 1x3, all frames x 1x3 windows', {'grid': [3, 1, 3], 'windowSize': [1, 3], 'mode': 'spatiotemporal'}),
]
cases = []
for name, extra in configs:
    cfg = {'type': 'walt-attention', 'dModel': D, 'numHeads': H, **extra}
    B, T = 1 if extra['grid'][1] > 2 else 2, extra['grid'][0] * extra['grid'][1] * extra['grid'][2]
    w = {n: torch.randn(D, D) * 0.5 for n in ('q.weight', 'k.weight', 'v.weight', 'o.weight')}
    x = torch.randn(B, T, D, requires_grad=True)
    y = walt(x, w, cfg)
    probe = torch.randn(B, T, D)
    (y * probe).sum().backward()
    cases.append({
        'name': name, 'config': cfg,
        'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad), 'shape': [B, T, D],
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
