"""Golden values for Mega (Ma et al. 2023), written out in PyTorch from the paper with plain loops
over time and over keys (independently of attnkit's linearRecurrence and its chunked attention).

EMA (eqs. 2-3), per channel j and EMA dimension: u_t = beta_j x_{t,j},
  h_t = alpha_j * u_t + (1 - alpha_j * delta_j) * h_{t-1}, X'_{t,j} = eta_j . h_t,
  alpha = sigmoid(emaAlpha), delta = sigmoid(emaDelta).
Gated attention (sec. 3.3): Z = silu(X' W_z + b_z), Q = kappa_0 Z + mu_0, K = kappa_1 Z + mu_1,
  V = silu(X W_v + b_v); query t sees keys s <= t of its chunk (chunkSize c; the whole prefix
  without chunks); softmax: w = softmax_s(q.k / sqrt(z)); laplace: w = laplace(q.k / n_t) with
  n_t the number of keys it sees, laplace(x) = 0.5 (1 + erf((x - sqrt(1/2)) / (sqrt(1/(4 pi)) sqrt 2)));
  O_t = sum_s w_s V_s; gamma = silu(X' W_g + b_g), phi = sigmoid(X' W_f + b_f),
  H = silu(X' W_h + b_h + (gamma O) U_h), Y = phi H + (1 - phi) X.
Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/mega_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/mega.json')
B, T, D = 2, 7, 8
Z, V, H = 4, 8, 3


def silu(x):
    return x * torch.sigmoid(x)


def laplace(x):
    return 0.5 * (1.0 + torch.erf((x - math.sqrt(0.5)) / (math.sqrt(1 / (4 * math.pi)) * math.sqrt(2.0))))


def ema(x, w):
    alpha = torch.sigmoid(w['emaAlpha'])
    delta = torch.sigmoid(w['emaDelta'])
    h = torch.zeros(B, D, H)
    outs = []
    for t in range(T):
        u = w['emaBeta'] * x[:, t, :, None]  # [B, D, H]
        h = alpha * u + (1 - alpha * delta) * h
        outs.append((w['emaEta'] * h).sum(-1))
    return torch.stack(outs, 1)


def lin(x, w, name, bias=True):
    y = x @ w[name + '.weight']
    return y + w[name + '.bias'] if bias else y


def mega(x, w, attention, chunk):
    xe = ema(x, w)
    zs = silu(lin(xe, w, 'zProj'))
    q = zs * w['qkScale'][0] + w['qkOffset'][0]
    k = zs * w['qkScale'][1] + w['qkOffset'][1]
    v = silu(lin(x, w, 'vProj'))
    rows = []
    for t in range(T):
        first = (t // chunk) * chunk if chunk else 0
        keys = range(first, t + 1)
        s = torch.stack([(q[:, t] * k[:, j]).sum(-1) for j in keys], -1)  # [B, n]
        if attention == 'softmax':
            wts = torch.softmax(s / math.sqrt(Z), -1)
        else:
            wts = laplace(s / len(keys))
        rows.append(sum(wts[:, i, None] * v[:, j] for i, j in enumerate(keys)))
    o = torch.stack(rows, 1)
    gamma = silu(lin(xe, w, 'resetProj'))
    phi = torch.sigmoid(lin(xe, w, 'updateProj'))
    hh = silu(lin(xe, w, 'hProj') + lin(gamma * o, w, 'hReset', bias=False))
    return phi * hh + (1 - phi) * x, xe


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


def rnd(*shape, scale=0.4):
    return torch.randn(*shape) * scale


def weights():
    return {
        'emaAlpha': rnd(D, H, scale=1.0), 'emaDelta': rnd(D, H, scale=1.0),
        'emaBeta': rnd(D, H, scale=1.0), 'emaEta': rnd(D, H, scale=1.0),
        'zProj.weight': rnd(D, Z), 'zProj.bias': rnd(Z, scale=0.1),
        'qkScale': 1 + rnd(2, Z, scale=0.3), 'qkOffset': rnd(2, Z, scale=0.3),
        'vProj.weight': rnd(D, V), 'vProj.bias': rnd(V, scale=0.1),
        'resetProj.weight': rnd(D, V), 'resetProj.bias': rnd(V, scale=0.1),
        'updateProj.weight': rnd(D, D), 'updateProj.bias': rnd(D, scale=0.1),
        'hProj.weight': rnd(D, D), 'hProj.bias': rnd(D, scale=0.1),
        'hReset.weight': rnd(V, D),
    }


def case(name, config, attention, chunk):
    w = weights()
    small = ['emaAlpha', 'emaDelta', 'emaBeta', 'emaEta', 'qkScale', 'qkOffset']
    for n in small:
        w[n].requires_grad_()
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y, xe = mega(x, w, attention, chunk)
    (y * probe).sum().backward()
    return {
        'name': name, 'config': config,
        'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'ema': flat(xe), 'gradX': flat(x.grad),
        'gradWeights': {n: flat(w[n].grad) for n in small}, 'shape': [B, T, D],
    }


base = {'type': 'mega', 'dModel': D, 'zDim': Z, 'vDim': V, 'emaDim': H}
cases = [
    case('softmax-chunk', {**base, 'chunkSize': 3}, 'softmax', 3),
    case('laplace-full', {**base, 'attention': 'laplace'}, 'laplace', None),
]
with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print('wrote', OUT, os.path.getsize(OUT), 'bytes')
