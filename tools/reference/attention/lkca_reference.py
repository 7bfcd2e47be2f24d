"""Golden values for LKCA (large kernel convolutional attention), written out in PyTorch.

Li et al. 2024, "LKCA: Large Kernel Convolutional Attention", sec. 3: attention replaced by a
large-kernel depthwise convolution; the kernel decomposed as VAN's large kernel attention
(Guo et al. 2022, eqs. 1-2): u = GELU(x W_in); a = Conv1x1(DW-D-Conv(DW-Conv(u))); y = (u * a) W_out.
DW-Conv: 2d-1 taps, padding d-1; DW-D-Conv: ceil(K/d) taps at dilation d, padding d*(taps-1)/2
(nn.functional.conv2d, groups = channels; a sequence is an image of height 1). Weights are [in,
out] as attnkit's Linear stores them; depthwise kernels [kh, kw, C] are Conv2d's [C, 1, kh, kw]
permuted. Run: /usr/bin/python3 tools/reference/attention/lkca_reference.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/lkca.json')


def dwconv(img, w, b, dilation):  # img [B, C, h, w]; w [kh, kw, C]
    kh, kw, c = w.shape
    weight = w.permute(2, 0, 1).unsqueeze(1)
    pad = (dilation * (kh - 1) // 2, dilation * (kw - 1) // 2)
    return F.conv2d(img, weight, b, padding=pad, dilation=dilation, groups=c)


def lkca(x, w, cfg):
    B, T, D = x.shape
    gh, gw = cfg.get('grid', [1, T])
    d = cfg['dilation']
    u = F.gelu(x @ w['inProj.weight'] + w['inProj.bias'])
    a = u.reshape(B, gh, gw, D).permute(0, 3, 1, 2)
    if 'localWeight' in w:
        a = dwconv(a, w['localWeight'], w['localBias'], 1)
    a = dwconv(a, w['dilatedWeight'], w['dilatedBias'], d)
    a = a.permute(0, 2, 3, 1).reshape(B, T, D) @ w['pointwise.weight'] + w['pointwise.bias']
    return (u * a) @ w['outProj.weight'] + w['outProj.bias']


def flat(t):
    return [float('%.7g' % a) for a in t.detach().reshape(-1).tolist()]


D = 8
configs = [
    ('1-D, K=7, d=3 (5 + 3 taps at dilation 3)', 2, 10, {'kernelSize': 7, 'dilation': 3}),
    ('1-D, K=5, d=1 (one 5-tap kernel)', 2, 7, {'kernelSize': 5, 'dilation': 1}),
    ('2-D 4x5, K=5, d=2 (3x3 + 3x3 at dilation 2)', 1, 20, {'kernelSize': 5, 'dilation': 2, 'grid': [4, 5]}),
]
cases = []
for name, B, T, extra in configs:
    cfg = {'type': 'lkca', 'dModel': D, **extra}
    K, d, two = extra['kernelSize'], extra['dilation'], 'grid' in extra
    w = {}
    for n in ('inProj', 'pointwise', 'outProj'):
        w[n + '.weight'] = torch.randn(D, D) * 0.4
        w[n + '.bias'] = torch.randn(D) * 0.2
    kernels = [('dilated', math.ceil(K / d))] + ([('local', 2 * d - 1)] if d > 1 else [])
    for n, k in kernels:
        w[n + 'Weight'] = torch.randn(k if two else 1, k, D) * 0.4
        w[n + 'Bias'] = torch.randn(D) * 0.2
    x = torch.randn(B, T, D, requires_grad=True)
    y = lkca(x, w, cfg)
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
