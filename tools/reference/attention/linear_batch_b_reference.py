"""Golden values for the decay-based linear mixers (batch b), written out in PyTorch from the papers.

retnet (Sun et al. 2023, eqs. 6 and 8): per head S_n = gamma_h S_{n-1} + k_n^T v_n,
o_n = q_n S_n / sqrt(d), gamma_h = 1 - 2^(-5-h); GroupNorm per head (no affine, eps 1e-5);
out = (swish(x W_G) * Y) W_O.
lightning (TransNormer sec. 4; TransNormerLLM sec. 3.1): q, k = swish(x W_Q), swish(x W_K),
S_n = lambda_h S_{n-1} + k_n^T v_n, o_n = q_n S_n, lambda_h = exp(-(8h/H)(1 - l/L)), h = 1..H,
SimpleRMSNorm over all heads (eps 1e-6), out = (Norm(O) * swish(x W_U)) W_O.
gla (Yang et al. 2024, sec. 4): alpha_t = sigmoid(x W1 W2 + b)^(1/tau), tau = 16, per key
dimension: S_t = (alpha_t^T 1) * S_{t-1} + k_t^T v_t, o_t = q_t S_t / sqrt(d); LayerNorm per head
(no affine, eps 1e-5); out = (swish(x W_r) * O) W_O.
Each is computed as a token-by-token recurrent loop in float64, and checked here against the
quadratic masked-decay form. Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/linear_batch_b_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/linear-batch-b.json')

B, T, D, H = 2, 7, 8, 2
HD = D // H


def heads(x):  # [B, T, D] -> [B, H, T, HD]
    return x.reshape(B, T, H, HD).transpose(1, 2)


def merge(o):  # [B, H, T, HD] -> [B, T, D]
    return o.transpose(1, 2).reshape(B, T, D)


def swish(x):
    return x * torch.sigmoid(x)


def recurrent(q, k, v, log_decay):
    """o_t = q_t S_t, S_t = exp(log_decay[h]) S_{t-1} + k_t^T v_t, one token at a time."""
    s = torch.zeros(B, H, HD, HD)
    decay = torch.exp(log_decay).reshape(1, H, 1, 1)
    outs = []
    for t in range(T):
        s = decay * s + k[:, :, t, :, None] * v[:, :, t, None, :]
        outs.append(torch.einsum('bhd,bhde->bhe', q[:, :, t], s))
    return torch.stack(outs, 2)


def quadratic(q, k, v, log_decay):
    """(Q K^T ⊙ M) V with M_ts = exp((t - s) log_decay) for s <= t (the parallel form)."""
    n = torch.arange(T, dtype=torch.float64)
    diff = n[:, None] - n[None, :]
    mask = torch.where(diff >= 0, torch.exp(diff.clamp(min=0) * log_decay.reshape(H, 1, 1)), torch.zeros(()))
    return ((q @ k.transpose(-1, -2)) * mask) @ v


def retnet(x, w):
    q, k, v = (heads(x @ w[n]) for n in ('q', 'k', 'v'))
    log_decay = torch.log(1 - 2.0 ** (-5 - torch.arange(H, dtype=torch.float64)))
    o = recurrent(q / math.sqrt(HD), k, v, log_decay)
    assert torch.allclose(o, quadratic(q / math.sqrt(HD), k, v, log_decay), atol=1e-12)
    mean = o.mean(-1, keepdim=True)
    var = o.var(-1, unbiased=False, keepdim=True)
    y = (o - mean) / torch.sqrt(var + 1e-5)
    return (swish(x @ w['g']) * merge(y)) @ w['o']


def lightning(x, w, layer, layers):
    q, k, v = heads(swish(x @ w['q'])), heads(swish(x @ w['k'])), heads(x @ w['v'])
    h = torch.arange(1, H + 1, dtype=torch.float64)
    log_decay = -(8 * h / H) * (1 - layer / layers)
    o = recurrent(q, k, v, log_decay)
    assert torch.allclose(o, quadratic(q, k, v, log_decay), atol=1e-12)
    o = merge(o)
    o = o / torch.sqrt((o * o).mean(-1, keepdim=True) + 1e-6)
    return (o * swish(x @ w['u'])) @ w['o']


R, TAU = 4, 16.0


def gla(x, w):
    q, k, v = (heads(x @ w[n]) for n in ('q', 'k', 'v'))
    log_alpha = heads(torch.nn.functional.logsigmoid(x @ w['a1'] @ w['a2'] + w['a2.bias'])) / TAU
    q = q / math.sqrt(HD)
    s = torch.zeros(B, H, HD, HD)
    outs = []
    for t in range(T):
        s = torch.exp(log_alpha[:, :, t, :, None]) * s + k[:, :, t, :, None] * v[:, :, t, None, :]
        outs.append(torch.einsum('bhd,bhde->bhe', q[:, :, t], s))
    o = torch.stack(outs, 2)
    # The parallel form: A_ts = sum_d q_td k_sd exp(G_td - G_sd), s <= t.
    g = log_alpha.cumsum(2)
    e = torch.exp(g[:, :, :, None, :] - g[:, :, None, :, :]) * torch.tril(torch.ones(T, T))[:, :, None]
    a = (q[:, :, :, None, :] * k[:, :, None, :, :] * e).sum(-1)
    assert torch.allclose(o, a @ v, atol=1e-12)
    mean = o.mean(-1, keepdim=True)
    var = o.var(-1, unbiased=False, keepdim=True)
    y = (o - mean) / torch.sqrt(var + 1e-5)
    return (swish(x @ w['r']) * merge(y)) @ w['o']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


def case(name, config, names, fn, extra=None):
    w = {n: torch.randn(D, D) * 0.4 for n in names}
    w.update(extra or {})
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = fn(x, w)
    (y * probe).sum().backward()
    return {
        'name': name, 'config': config,
        'weights': {(n if '.' in n else f'{n}.weight'): flat(w[n]) for n in w},
        'shapes': {(n if '.' in n else f'{n}.weight'): list(w[n].shape) for n in w},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    }


cases = [
    case('retnet', {'type': 'retnet', 'dModel': D, 'numHeads': H}, ('q', 'k', 'v', 'o', 'g'), retnet),
    case('lightning', {'type': 'lightning', 'dModel': D, 'numHeads': H, 'layerIndex': 1, 'numLayers': 3},
         ('q', 'k', 'v', 'o', 'u'), lambda x, w: lightning(x, w, 1, 3)),
]
# The gate's low-rank factors are drawn after the other cases', so those stay as they were.
gla_gate = {'a1': torch.randn(D, R) * 0.8, 'a2': torch.randn(R, D) * 0.8, 'a2.bias': torch.randn(D)}
cases.append(case('gla', {'type': 'gla', 'dModel': D, 'numHeads': H, 'gateRank': R},
                  ('q', 'k', 'v', 'o', 'r'), gla, gla_gate))

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
