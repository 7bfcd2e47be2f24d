"""Golden values for BiFormer's bi-level routing attention, written out in PyTorch from the paper.

Zhu et al. 2023, BiFormer, sec. 3.2, eqs. 2-5: the image (or sequence) is cut into S x S (or S)
regions; A^r = Q^r (K^r)^T of the region-mean queries and keys; I^r = topkIndex(A^r); K^g, V^g
gather the routed regions' tokens (torch.gather over a region axis, as the authors' code);
O = Attention(Q, K^g, V^g) + LCE(V), LCE a depthwise Conv2d on V (padding k//2, groups = dim).
Heads split the channels; logits are scaled by 1/sqrt(headDim). Weights are [in, out] as
attnkit's Linear stores them; lceWeight [kh, kw, D] is Conv2d's [D, 1, kh, kw] permuted.
Run: /usr/bin/python3 tools/reference/attention/biformer_reference.py
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/biformer.json')


def biformer(x, w, cfg):
    B, T, D = x.shape
    H = cfg['numHeads']
    hd = D // H
    gh, gw = cfg.get('grid', [1, T])
    S = cfg['regions']
    nh, nw = (S, S) if 'grid' in cfg else (1, S)
    bh, bw = gh // nh, gw // nw
    R, blk, k = nh * nw, bh * bw, cfg['topk']
    img = x.reshape(B, gh, gw, D)
    q, kk, v = (img @ w[n] for n in ('q.weight', 'k.weight', 'v.weight'))

    def part(t):  # [B, gh, gw, D] -> [B, R, blk, D]
        return t.reshape(B, nh, bh, nw, bw, D).permute(0, 1, 3, 2, 4, 5).reshape(B, R, blk, D)

    qr, kr, vr = part(q), part(kk), part(v)
    affinity = qr.mean(2) @ kr.mean(2).transpose(-1, -2)  # [B, R, R]
    top = torch.topk(affinity, k + 1 if k < R else k, -1).values
    gap = (top[..., k - 1] - top[..., k]).min().item() if k < R else float('inf')
    idx = torch.topk(affinity, k, -1).indices  # [B, R, k]

    def gather(t):  # [B, R, blk, D] -> [B, R, k*blk, D]
        src = t.unsqueeze(1).expand(B, R, R, blk, D)
        return torch.gather(src, 2, idx[..., None, None].expand(B, R, k, blk, D)).reshape(B, R, k * blk, D)

    kg, vg = gather(kr), gather(vr)
    heads = lambda t: t.reshape(B, R, t.shape[2], H, hd).transpose(2, 3)  # [B, R, H, n, hd]
    attn = torch.softmax(heads(qr) @ heads(kg).transpose(-1, -2) / hd ** 0.5, -1) @ heads(vg)
    out = attn.transpose(2, 3).reshape(B, nh, nw, bh, bw, D).permute(0, 1, 3, 2, 4, 5).reshape(B, gh, gw, D)
    if 'lceWeight' in w:
        kh, kw, _ = w['lceWeight'].shape
        weight = w['lceWeight'].permute(2, 0, 1).unsqueeze(1)
        lepe = F.conv2d(v.permute(0, 3, 1, 2), weight, w['lceBias'], padding=(kh // 2, kw // 2), groups=D)
        out = out + lepe.permute(0, 2, 3, 1)
    return out.reshape(B, T, D) @ w['o.weight'], gap


def flat(t):
    return [float('%.7g' % a) for a in t.detach().reshape(-1).tolist()]


D, H = 8, 2
configs = [
    ('1-D, 4 segments, top-2, LCE 3', 2, 12, {'regions': 4, 'topk': 2, 'lceKernel': 3}),
    ('2-D 4x6, 2x2 regions, top-2, LCE 3', 2, 24, {'regions': 2, 'topk': 2, 'lceKernel': 3, 'grid': [4, 6]}),
    ('2-D 6x6, 3x3 regions, top-3, LCE 5', 1, 36, {'regions': 3, 'topk': 3, 'lceKernel': 5, 'grid': [6, 6]}),
    ('1-D, 3 segments, top-1, no LCE', 2, 9, {'regions': 3, 'topk': 1, 'lceKernel': 0}),
]
cases = []
for name, B, T, extra in configs:
    cfg = {'type': 'biformer', 'dModel': D, 'numHeads': H, **extra}
    while True:  # a routing with a clear margin, so float32 picks the same regions
        w = {n: torch.randn(D, D) * 0.5 for n in ('q.weight', 'k.weight', 'v.weight', 'o.weight')}
        taps = extra['lceKernel']
        if taps:
            w['lceWeight'] = torch.randn(taps if 'grid' in extra else 1, taps, D) * 0.3
            w['lceBias'] = torch.randn(D) * 0.3
        x = torch.randn(B, T, D, requires_grad=True)
        y, gap = biformer(x, w, cfg)
        if gap > 1e-2:
            break
    probe = torch.randn(B, T, D)
    (y * probe).sum().backward()
    cases.append({
        'name': name, 'config': cfg,
        'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad), 'shape': [B, T, D],
    })
    print(name, 'routing margin', round(gap, 4))

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
