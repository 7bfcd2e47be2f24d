"""Golden values for the delta-rule op and the DeltaNet / Gated DeltaNet mixers, written out in
PyTorch (float64) from the papers with plain loops over time, independently of attnkit's code.

delta rule (Schlag et al. 2021, sec. 4; Yang et al. 2024; gated: Yang, Kautz & Hatamizadeh 2025,
sec. 3), per head, in the papers' matrix form with S [dk, dv]:
  S_t = alpha_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T,  o_t = scale * S_t^T q_t,
  alpha_t = exp(gate_t) (1 without a gate).
layer (Yang et al. 2024, the DeltaNet Transformer layer; flash-linear-attention's DeltaNet / GatedDeltaNet layers):
  [q|k|v] = SiLU(causal depthwise conv([x Wq | x Wk | x Wv]) (+ bias)), q, k L2-normalised per
  head (x / sqrt(sum x^2 + 1e-6)), beta = sigmoid(x Wb), scale = dk^-1/2;
  gated: gate = -exp(A_log) * softplus(x Wa + dt_bias);
  o = RMSNorm_dv(o) * w (eps 1e-5), times SiLU(x Wg) with the output gate; out = o Wo.
Weights are [in, out] as attnkit's Linear stores them; the conv weight [channels, kernel].
Run: /usr/bin/python3 tools/reference/attention/delta_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/delta.json')
F = torch.nn.functional


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


def delta_rule(q, k, v, beta, gate, s0, scale):
    """q, k [B, H, T, dk], v [B, H, T, dv], beta, gate [B, H, T], s0 [B, H, dk, dv] -> o, S."""
    Bn, H, T, dk = q.shape
    dv = v.shape[-1]
    S = s0 if s0 is not None else torch.zeros(Bn, H, dk, dv)
    eye = torch.eye(dk)
    outs = []
    for t in range(T):
        kt, vt, qt = k[:, :, t], v[:, :, t], q[:, :, t]
        bt = beta[:, :, t, None, None]
        alpha = torch.exp(gate[:, :, t])[..., None, None] if gate is not None else 1.0
        erase = eye - bt * kt.unsqueeze(-1) * kt.unsqueeze(-2)
        S = alpha * (erase @ S) + bt * kt.unsqueeze(-1) * vt.unsqueeze(-2)
        outs.append(scale * (S.transpose(-1, -2) @ qt.unsqueeze(-1)).squeeze(-1))
    return torch.stack(outs, 2), S


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


def op_case(name, Bn, H, T, dk, dv, gated, initial, chunk):
    x = {
        'q': torch.randn(Bn, H, T, dk), 'k': unit(torch.randn(Bn, H, T, dk)),
        'v': torch.randn(Bn, H, T, dv), 'beta': torch.sigmoid(torch.randn(Bn, H, T)),
    }
    if gated:
        x['gate'] = -F.softplus(-(torch.randn(Bn, H, T) + 1.5))
    if initial:
        x['s0'] = torch.randn(Bn, H, dk, dv) * 0.5
    for t in x.values():
        t.requires_grad_(True)
    p1, p2 = torch.randn(Bn, H, T, dv), torch.randn(Bn, H, dk, dv)
    o, S = delta_rule(x['q'], x['k'], x['v'], x['beta'], x.get('gate'), x.get('s0'), dk ** -0.5)
    ((o * p1).sum() + (S * p2).sum()).backward()
    return {
        'name': name, 'shape': [Bn, H, T, dk, dv], 'chunkSize': chunk,
        'inputs': {n: flat(t) for n, t in x.items()}, 'p1': flat(p1), 'p2': flat(p2),
        'output': flat(o), 'state': flat(S), 'grads': {n: flat(t.grad) for n, t in x.items()},
    }


def silu(x):
    return x * torch.sigmoid(x)


def conv(x, w, b):  # x [B, T, C], w [C, K]: y[t] = b + sum_j w[:, j] x[t - (K-1) + j]
    T, K = x.shape[1], w.shape[1]
    ys = []
    for t in range(T):
        acc = b.clone() if b is not None else torch.zeros(x.shape[2])
        for j in range(K):
            s = t - (K - 1) + j
            if s >= 0:
                acc = acc + w[:, j] * x[:, s]
        ys.append(acc)
    return torch.stack(ys, 1)


def layer(x, w, H, dk, dv, gated, out_gate):
    Bn, T, D = x.shape
    proj = torch.cat([x @ w['q.weight'], x @ w['k.weight'], x @ w['v.weight']], -1)
    act = silu(conv(proj, w['convWeight'], w.get('convBias')))

    def heads(y, width):
        return y.reshape(Bn, T, H, width).transpose(1, 2)

    def l2(y):
        return y / torch.sqrt((y * y).sum(-1, keepdim=True) + 1e-6)

    q = l2(heads(act[..., :H * dk], dk))
    k = l2(heads(act[..., H * dk:2 * H * dk], dk))
    v = heads(act[..., 2 * H * dk:], dv)
    beta = torch.sigmoid(x @ w['b.weight']).transpose(1, 2)
    gate = None
    if gated:
        gate = (-torch.exp(w['aLog']) * F.softplus(x @ w['a.weight'] + w['dtBias'])).transpose(1, 2)
    o, _ = delta_rule(q, k, v, beta, gate, None, dk ** -0.5)
    o = o.transpose(1, 2)  # [B, T, H, dv]
    o = o / torch.sqrt((o * o).mean(-1, keepdim=True) + 1e-5) * w['norm.weight']
    if out_gate:
        o = o * silu((x @ w['g.weight']).reshape(Bn, T, H, dv))
    return o.reshape(Bn, T, H * dv) @ w['o.weight']


def rnd(*shape, scale=0.5):
    return torch.randn(*shape) * scale


def mixer_case(name, config, D, H, dk, dv, K, gated, out_gate, conv_bias):
    Bn, T = 2, 7
    C = H * (2 * dk + dv)
    w = {
        'q.weight': rnd(D, H * dk), 'k.weight': rnd(D, H * dk), 'v.weight': rnd(D, H * dv),
        'b.weight': rnd(D, H), 'convWeight': rnd(C, K, scale=0.6),
        'norm.weight': 1 + rnd(dv, scale=0.2), 'o.weight': rnd(H * dv, D),
    }
    if conv_bias:
        w['convBias'] = rnd(C, scale=0.1)
    if out_gate:
        w['g.weight'] = rnd(D, H * dv)
    if gated:
        w['a.weight'] = rnd(D, H)
        w['aLog'] = torch.log(0.2 + torch.rand(H))
        w['dtBias'] = rnd(H, scale=0.5) - 1
    for t in w.values():
        t.requires_grad_(True)
    x = torch.randn(Bn, T, D, requires_grad=True)
    probe = torch.randn(Bn, T, D)
    y = layer(x, w, H, dk, dv, gated, out_gate)
    (y * probe).sum().backward()
    small = [n for n in ('b.weight', 'norm.weight', 'aLog', 'dtBias', 'convBias') if n in w]
    return {
        'name': name, 'config': config,
        'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'gradWeights': {n: flat(w[n].grad) for n in small}, 'shape': [Bn, T, D],
    }


ops = [
    op_case('delta rule', 1, 2, 7, 3, 4, False, False, 3),
    op_case('gated, initial state', 2, 1, 6, 4, 3, True, True, 4),
]
mixers = [
    mixer_case('deltanet', {'type': 'deltanet', 'dModel': 8, 'numHeads': 2, 'dConv': 3},
               8, 2, 4, 4, 3, False, False, False),
    mixer_case('deltanet, output gate, conv bias, dk != dv',
               {'type': 'deltanet', 'dModel': 8, 'numHeads': 2, 'headDim': 3, 'valueDim': 5,
                'dConv': 2, 'convBias': True, 'outputGate': True},
               8, 2, 3, 5, 2, False, True, True),
    mixer_case('gated-deltanet', {'type': 'gated-deltanet', 'dModel': 8, 'numHeads': 2, 'dConv': 3},
               8, 2, 4, 8, 3, True, True, False),
]
with open(OUT, 'w') as f:
    json.dump({'ops': ops, 'mixers': mixers}, f)
print(f'wrote {OUT}')
