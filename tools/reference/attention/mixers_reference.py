"""Golden fixtures for the attention mixers beyond plain MHA, written in PyTorch (float64)
from the papers and the authors' published formulations, independently of the TypeScript.

  multi-token   Golovneva et al. 2025 (MTA): key-query conv via F.conv2d, head-mixing conv,
                per-head RMSNorm/GroupNorm with depth scaling
  selective     Leviathan et al. 2024: ReLU(head-0 logits), strictly-earlier cumsum, subtract
  gaam          Ioannides et al. 2024 (GAAM): Gaussian weights from the data mean/variance
  talking-heads Shazeer et al. 2020: einsum J·P_l, softmax, W·P_w
  differential  Ye et al. 2024 (DIFF Transformer): two softmaxes, lambda reparameterisation

Each case stores the attnkit config, the parameters under attnkit's names (Linear weights
[in, out], y = x W), an input x, the output and the gradients of sum(output * probe) for x
and every parameter. Run: /usr/bin/python3 tools/reference/attention/mixers_reference.py
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/mixers.json')
rng = np.random.default_rng(11)
NEG = -1e9  # attnkit masks with a finite large negative


def randn(*shape, scale=1.0):
    return torch.tensor(rng.standard_normal(shape) * scale, requires_grad=True)


def flat(t):
    return np.round(t.detach().numpy().reshape(-1), 7).tolist()


def causal_keep(t):
    return torch.tril(torch.ones(t, t, dtype=torch.bool))


def heads(x, n, d):
    """[b, t, n*d] -> [b, n, t, d]"""
    b, t, _ = x.shape
    return x.reshape(b, t, n, d).transpose(1, 2)


def merge(x):
    b, n, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, n * d)


def repeat_kv(x, n_rep):
    return x.repeat_interleave(n_rep, dim=1)


def rms(x, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def head_norm(x, kind, p, eps=1e-5):
    """x [b, h, t, d]: RMSNorm per head with a shared gain, or GroupNorm(h groups)."""
    if kind == 'rms':
        return rms(x, eps) * p['norm.weight']
    b, h, t, d = x.shape
    g = x.transpose(1, 2).reshape(b * t, h * d)
    w = p['norm.weight'].reshape(-1)
    bias = p['norm.bias'].reshape(-1)
    y = F.group_norm(g, h, w, bias, eps)
    return y.reshape(b, t, h, d).transpose(1, 2)


def lambda_init(layer):
    return 0.8 - 0.6 * math.exp(-0.3 * layer)


# ---------------------------------------------------------------- multi-token (MTA)
def mta(x, p, c):
    h, d = c['numHeads'], c['dModel'] // c['numHeads']
    kvh = c.get('numKvHeads', h)
    q = heads(x @ p['q.weight'], h, d)
    k = repeat_kv(heads(x @ p['k.weight'], kvh, d), h // kvh)
    v = repeat_kv(heads(x @ p['v.weight'], kvh, d), h // kvh)
    t = x.shape[1]
    keep = causal_keep(t)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)

    def conv(m):
        kern = p['kernel']  # [h, cq, ck]; tap [cq-1, (ck-1)/2] is the identity
        cq, ck = kern.shape[1:]
        padded = F.pad(m, ((ck - 1) // 2, (ck - 1) // 2, cq - 1, 0))
        return F.conv2d(padded, kern[:, None], groups=h)

    def head_mix(m):
        ch = p['headKernel'].shape[1]
        b = m.shape[0]
        g = m.reshape(b, h // ch, ch, t, t)
        out = torch.einsum('bgitk,gio->bgotk', g, p['headKernel'])
        return out.reshape(b, h, t, t)

    if c.get('keyQueryConv', 'pre') == 'pre':
        scores = conv(scores.masked_fill(~keep, 0.0))  # Mask_0 then convolve
    if c.get('headMix', 'post') == 'pre':
        scores = head_mix(scores)
    w = torch.softmax(scores.masked_fill(~keep, NEG), -1)
    if c.get('keyQueryConv', 'pre') == 'post':
        w = conv(w).masked_fill(~keep, 0.0)
    if c.get('headMix', 'post') == 'post':
        w = head_mix(w)
    out = w @ v
    kind = c.get('headNorm', 'rms')
    if kind != 'none':
        out = head_norm(out, kind, p)
        if c.get('depthScaling', True):
            out = out * (1 - lambda_init(c.get('layerIndex', 0)))
    return merge(out) @ p['o.weight']


def mta_params(c):
    dm, h = c['dModel'], c['numHeads']
    d = dm // h
    kvh = c.get('numKvHeads', h)
    cq, ck, ch = c['queryKernel'], c['keyKernel'], c.get('headKernel', 2)
    p = {
        'q.weight': randn(dm, h * d, scale=0.4),
        'k.weight': randn(dm, kvh * d, scale=0.4),
        'v.weight': randn(dm, kvh * d, scale=0.4),
        'o.weight': randn(h * d, dm, scale=0.4),
    }
    if c.get('keyQueryConv', 'pre') != 'none':
        p['kernel'] = randn(h, cq, ck, scale=0.5)
    if c.get('headMix', 'post') != 'none':
        p['headKernel'] = randn(h // ch, ch, ch, scale=0.6)
    kind = c.get('headNorm', 'rms')
    if kind == 'rms':
        p['norm.weight'] = randn(d, scale=0.3)
    elif kind == 'group':
        p['norm.weight'] = randn(h, 1, d, scale=0.3)
        p['norm.bias'] = randn(h, 1, d, scale=0.3)
    return p


# ---------------------------------------------------------------- selective attention
def selective(x, p, c):
    h, d = c['numHeads'], c['dModel'] // c['numHeads']
    kvh = c.get('numKvHeads', h)
    q = heads(x @ p['q.weight'], h, d)
    k = repeat_kv(heads(x @ p['k.weight'], kvh, d), h // kvh)
    v = repeat_kv(heads(x @ p['v.weight'], kvh, d), h // kvh)
    n = x.shape[1]
    logits = q @ k.transpose(-1, -2) / math.sqrt(d)
    logits = torch.where(causal_keep(n), logits, torch.tensor(float('-inf')))
    s = F.relu(logits[:, 0])  # head 0 selects
    s = s.clone()
    s[..., 0] = 0  # never mask the first token
    s = (1 - torch.eye(n)) * s  # nor the token itself
    s = torch.roll(s, 1, -2)
    s[..., 0, :] = 0  # only strictly earlier queries count
    f = torch.cumsum(s, -2)
    w = torch.softmax(logits - f[:, None], -1)
    return merge(w @ v) @ p['o.weight']


def plain_params(c, q_heads, kv_heads, d, v_heads=None, v_dim=None, out_in=None):
    dm = c['dModel']
    return {
        'q.weight': randn(dm, q_heads * d, scale=0.4),
        'k.weight': randn(dm, kv_heads * d, scale=0.4),
        'v.weight': randn(dm, (v_heads or kv_heads) * (v_dim or d), scale=0.4),
        'o.weight': randn(out_in or q_heads * d, dm, scale=0.4),
    }


# ---------------------------------------------------------------- GAAM
def gaam(x, p, c):
    h = c['numHeads']
    b, t, dm = x.shape
    hd = dm // h
    xh = x.reshape(b, t, h, hd)  # head chunks of channels
    axis = 3 if c.get('axis', 'feature') == 'feature' else 1  # channel axis or time axis
    outs = []
    for i in range(h):
        xi = xh[:, :, i, :] if axis == 3 else xh[:, :, i, :]
        ax = -1 if axis == 3 else 1
        mean = xi.mean(dim=ax, keepdim=True)
        var = xi.var(dim=ax, keepdim=True) + c.get('eps', 1e-8)  # unbiased, as torch.var
        eps = c.get('eps', 1e-8)
        if c.get('mixture', 'product') == 'product':
            mixture = 1
            for g in range(p['meanOffset'].shape[1]):
                y = (xi - (mean + p['meanOffset'][i, g])) / torch.sqrt(var)
                cg = p['scale'][i, g]
                mixture = mixture * torch.exp(-(y**2) / (2.0 * cg**2)) / torch.sqrt(2 * torch.pi * cg**2)
        else:
            wts = torch.softmax(p['mixLogits'][i], 0)
            mixture = 0
            for g in range(p['meanOffset'].shape[1]):
                y = (xi - (mean + p['meanOffset'][i, g])) / torch.sqrt(var)
                mixture = mixture + wts[g] * torch.exp(-(y**2) / (2.0 * p['scale'][i, g] ** 2))
        weights = mixture / mixture.sum(dim=ax, keepdim=True).clamp(min=eps)
        outs.append(xi * weights)
    return torch.stack(outs, 2).reshape(b, t, dm)


def gaam_params(c):
    h, g = c['numHeads'], c.get('numGaussians', 1)
    p = {
        'meanOffset': randn(h, g, scale=0.3),
        'scale': torch.tensor(1.5 + rng.random((h, g)), requires_grad=True),
    }
    if c.get('mixture') == 'sum':
        p['mixLogits'] = randn(h, g, scale=0.5)
    return p


# ---------------------------------------------------------------- talking heads
def talking(x, p, c):
    h = c['numHeads']
    hk, hv = c.get('numKeyHeads', h), c.get('numValueHeads', h)
    d = c['dModel'] // h
    b, n, _ = x.shape
    q = (x @ p['q.weight']).reshape(b, n, hk, d)
    k = (x @ p['k.weight']).reshape(b, n, hk, d)
    v = (x @ p['v.weight']).reshape(b, n, hv, d)
    j = torch.einsum('bnkd,bmkd->bnmk', q, k) / math.sqrt(d)  # J[n, m, h_k]
    l = torch.einsum('bnmk,kh->bnmh', j, p['preSoftmax'])  # L = J P_l
    keep = causal_keep(n)[None, :, :, None]
    if c.get('window'):
        i = torch.arange(n)
        keep = keep & ((i[:, None] - i[None, :]) < c['window'])[None, :, :, None]
    w = torch.softmax(l.masked_fill(~keep, NEG), dim=2)  # over m
    u = torch.einsum('bnmh,hv->bnmv', w, p['postSoftmax'])  # U = W P_w
    o = torch.einsum('bnmv,bmvd->bnvd', u, v)
    return o.reshape(b, n, hv * d) @ p['o.weight']


# ---------------------------------------------------------------- differential
def differential(x, p, c):
    hh = c['numHeads']
    kvh = c.get('numKvHeads', hh)
    n_rep = hh // kvh
    d = c['dModel'] // hh // 2
    b, n, _ = x.shape
    q = (x @ p['q.weight']).view(b, n, 2 * hh, d).transpose(1, 2)
    k = repeat_kv((x @ p['k.weight']).view(b, n, 2 * kvh, d).transpose(1, 2), n_rep)
    v = repeat_kv((x @ p['v.weight']).view(b, n, kvh, 2 * d).transpose(1, 2), n_rep)
    a = (q * d**-0.5) @ k.transpose(-1, -2)
    a = torch.softmax(a.masked_fill(~causal_keep(n), NEG), -1)
    lam_init = c['lambdaInit'] if 'lambdaInit' in c else lambda_init(c.get('layerIndex', 0))
    lam = (torch.exp(torch.sum(p['lambdaQ1'] * p['lambdaK1'])) - torch.exp(torch.sum(p['lambdaQ2'] * p['lambdaK2']))
           + lam_init)
    a = a.view(b, hh, 2, n, n)
    a = a[:, :, 0] - lam * a[:, :, 1]
    out = head_norm(a @ v, c.get('headNorm', 'rms'), p) * (1 - lam_init)
    return merge(out) @ p['o.weight']


def diff_params(c):
    hh = c['numHeads']
    kvh = c.get('numKvHeads', hh)
    d = c['dModel'] // hh // 2
    dm = c['dModel']
    p = {
        'q.weight': randn(dm, 2 * hh * d, scale=0.4),
        'k.weight': randn(dm, 2 * kvh * d, scale=0.4),
        'v.weight': randn(dm, 2 * kvh * d, scale=0.4),
        'o.weight': randn(2 * hh * d, dm, scale=0.4),
    }
    for name in ['lambdaQ1', 'lambdaK1', 'lambdaQ2', 'lambdaK2']:
        p[name] = randn(d, scale=0.3)
    if c.get('headNorm', 'rms') == 'rms':
        p['norm.weight'] = randn(2 * d, scale=0.3)
    else:
        p['norm.weight'] = randn(hh, 1, 2 * d, scale=0.3)
        p['norm.bias'] = randn(hh, 1, 2 * d, scale=0.3)
    return p


def case(name, config, fn, params, t=6, batch=2):
    x = randn(batch, t, config['dModel'])
    y = fn(x, params, config)
    probe = torch.tensor(np.linspace(-1, 1, y.numel())).reshape(y.shape)
    (y * probe).sum().backward()
    return {
        'name': name,
        'config': config,
        'params': {k: {'shape': list(v.shape), 'values': flat(v)} for k, v in params.items()},
        'x': {'shape': list(x.shape), 'values': flat(x)},
        'probe': flat(probe),
        'output': flat(y),
        'grads': {'x': flat(x.grad), **{k: flat(v.grad) for k, v in params.items()}},
    }


cases = []
for name, extra in [
    ('mta pre-conv, post head-mix, rms', {}),
    ('mta post-conv, pre head-mix, group norm, layer 3', {'keyQueryConv': 'post', 'headMix': 'pre',
                                                          'headNorm': 'group', 'layerIndex': 3}),
    ('mta gqa, no norm', {'numKvHeads': 2, 'headNorm': 'none', 'headKernel': 4}),
]:
    c = {'type': 'multi-token', 'dModel': 16, 'numHeads': 4, 'queryKernel': 3, 'keyKernel': 3, **extra}
    cases.append(case(name, c, mta, mta_params(c)))

for name, extra in [('selective', {}), ('selective gqa', {'numKvHeads': 2})]:
    c = {'type': 'selective', 'dModel': 16, 'numHeads': 4, **extra}
    kv = c.get('numKvHeads', 4)
    cases.append(case(name, c, selective, plain_params(c, 4, kv, 4), t=7))

for name, extra in [
    ('gaam feature axis, 2 gaussians', {'numGaussians': 2}),
    ('gaam feature axis, sum mixture', {'numGaussians': 3, 'mixture': 'sum'}),
    ('gaam time axis', {'axis': 'time', 'numGaussians': 2}),
]:
    c = {'type': 'gaam', 'dModel': 12, 'numHeads': 3, **extra}
    cases.append(case(name, c, gaam, gaam_params(c)))

for name, extra in [
    ('talking heads', {}),
    ('talking heads, 3 key / 2 value heads, window 3', {'numKeyHeads': 3, 'numValueHeads': 2, 'window': 3}),
]:
    c = {'type': 'talking-heads', 'dModel': 16, 'numHeads': 4, **extra}
    hk, hv = c.get('numKeyHeads', 4), c.get('numValueHeads', 4)
    p = plain_params(c, hk, hk, 4, v_heads=hv, out_in=hv * 4)
    p['preSoftmax'] = randn(hk, 4, scale=0.6)
    p['postSoftmax'] = randn(4, hv, scale=0.6)
    cases.append(case(name, c, talking, p))

for name, extra in [
    ('differential', {}),
    ('differential gqa, group norm, layer 5', {'numKvHeads': 1, 'headNorm': 'group', 'layerIndex': 5}),
    ('differential lambdaInit 0.5', {'lambdaInit': 0.5}),
]:
    c = {'type': 'differential', 'dModel': 16, 'numHeads': 2, **extra}
    cases.append(case(name, c, differential, diff_params(c)))

with open(OUT, 'w') as f:
    json.dump(cases, f)
print('wrote', len(cases), 'cases to', os.path.normpath(OUT))
