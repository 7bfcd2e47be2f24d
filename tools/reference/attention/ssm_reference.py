"""Golden values for the recurrent and state-space mixers, written out in PyTorch from the papers
with plain loops over time (independently of attnkit's scans, chunked forms and linearAttention).

mamba (Gu & Dao 2023, Alg. 2, sec. 3.4): [x, z] = u W_in; x = SiLU(causal depthwise conv(x) + b);
  Δ = softplus((x W_r) W_Δ + b_Δ), B = x W_B, C = x W_C, A = -exp(A_log);
  h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t (per channel), y_t = C_t h_t + D x_t; out = (y SiLU(z)) W_out.
mamba2 (Dao & Gu 2024, sec. 6-7.1): [z, xBC, Δ] = u W_in; xBC = SiLU(conv(xBC) + b); per head h,
  S_t = exp(Δ_t A_h) S_{t-1} + B_t^T (Δ_t x_t), y_t = C_t S_t + D_h x_t;
  out = RMSNorm(y SiLU(z)) W_out (eps 1e-5, learned gain).
aaren (Feng et al. 2024, sec. 3.3): o_t = softmax_{i<=t}(q_h . k_i / sqrt(d)) v_i per head, the
  softmax of each prefix taken directly; out = o W_o.
Weights are [in, out] as attnkit's Linear stores them; conv weights [channels, kernel].
Run: /usr/bin/python3 tools/reference/attention/ssm_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/ssm.json')
B, T, D = 2, 7, 8
F = torch.nn.functional


def silu(x):
    return x * torch.sigmoid(x)


def conv(x, w, b):  # x [B, T, C], w [C, K]: y[t] = b + sum_j w[:, j] x[t - (K-1) + j]
    K = w.shape[1]
    y = torch.zeros_like(x)
    for t in range(T):
        acc = b.clone()
        for j in range(K):
            s = t - (K - 1) + j
            if s >= 0:
                acc = acc + w[:, j] * x[:, s]
        y[:, t] = acc
    return y


def mamba(x, w, E, N, R):
    xz = x @ w['inProj.weight']
    xi, z = xz[..., :E], xz[..., E:]
    u = silu(conv(xi, w['convWeight'], w['convBias']))
    dbc = u @ w['xProj.weight']
    low, Bm, Cm = dbc[..., :R], dbc[..., R:R + N], dbc[..., R + N:]
    delta = F.softplus(low @ w['dtProj.weight'] + w['dtProj.bias'])  # [B, T, E]
    A = -torch.exp(w['aLog'])  # [E, N]
    h = [[torch.zeros(B) for _ in range(N)] for _ in range(E)]  # h[c][n]: [B]
    ys = []
    for t in range(T):
        yt = []
        for c in range(E):
            acc = w['d'][c] * u[:, t, c]
            for n in range(N):
                abar = torch.exp(delta[:, t, c] * A[c, n])
                h[c][n] = abar * h[c][n] + delta[:, t, c] * Bm[:, t, n] * u[:, t, c]
                acc = acc + Cm[:, t, n] * h[c][n]
            yt.append(acc)
        ys.append(torch.stack(yt, -1))
    y = torch.stack(ys, 1)
    return (y * silu(z)) @ w['outProj.weight']


def mamba2(x, w, E, N, P):
    H = E // P
    proj = x @ w['inProj.weight']
    z, xbc, dt = proj[..., :E], proj[..., E:2 * E + 2 * N], proj[..., 2 * E + 2 * N:]
    xbc = silu(conv(xbc, w['convWeight'], w['convBias']))
    xs, Bm, Cm = xbc[..., :E], xbc[..., E:E + N], xbc[..., E + N:]
    delta = F.softplus(dt + w['dtBias'])  # [B, T, H]
    A = -torch.exp(w['aLog'])
    S = [torch.zeros(B, N, P) for _ in range(H)]
    ys = []
    for t in range(T):
        yt = []
        for hh in range(H):
            xh = xs[:, t, hh * P:(hh + 1) * P]
            a = torch.exp(delta[:, t, hh] * A[hh])
            S[hh] = a[:, None, None] * S[hh] + Bm[:, t, :, None] * (delta[:, t, hh, None] * xh)[:, None, :]
            yt.append(torch.einsum('bn,bnp->bp', Cm[:, t], S[hh]) + w['d'][hh] * xh)
        ys.append(torch.cat(yt, -1))
    y = torch.stack(ys, 1) * silu(z)
    y = y / torch.sqrt((y * y).mean(-1, keepdim=True) + 1e-5) * w['norm.weight']
    return y @ w['outProj.weight']


def aaren(x, w, H):
    d = D // H
    k = (x @ w['k.weight']).reshape(B, T, H, d)
    v = (x @ w['v.weight']).reshape(B, T, H, d)
    rows = []
    for t in range(T):
        heads = []
        for hh in range(H):
            s = (k[:, :t + 1, hh] * w['query'][hh]).sum(-1) / math.sqrt(d)  # [B, t+1]
            heads.append((torch.softmax(s, -1)[..., None] * v[:, :t + 1, hh]).sum(1))
        rows.append(torch.cat(heads, -1))
    return torch.stack(rows, 1) @ w['o.weight']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


def case(name, config, weights, fn):
    # The gradients of the small parameters (decays, Δ bias, skip, conv bias, query, norm gain)
    # are checked too: they run through the scans' own gradients.
    small = [n for n, t in weights.items() if t.numel() <= 64]
    for n in small:
        weights[n].requires_grad_()
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = fn(x, weights)
    (y * probe).sum().backward()
    return {
        'gradWeights': {n: flat(weights[n].grad) for n in small},
        'name': name, 'config': config,
        'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in weights.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad), 'shape': [B, T, D],
    }


def rnd(*shape, scale=0.4):
    return torch.randn(*shape) * scale


cases = []
E, N, R, K = 16, 4, 2, 4
w = {
    'inProj.weight': rnd(D, 2 * E), 'convWeight': rnd(E, K, scale=0.5), 'convBias': rnd(E, scale=0.1),
    'xProj.weight': rnd(E, R + 2 * N), 'dtProj.weight': rnd(R, E), 'dtProj.bias': rnd(E, scale=0.5) - 1,
    'aLog': torch.log(torch.arange(1, N + 1).repeat(E, 1).double()) + rnd(E, N, scale=0.1),
    'd': 1 + rnd(E, scale=0.2), 'outProj.weight': rnd(E, D),
}
cases.append(case('mamba', {'type': 'mamba', 'dModel': D, 'dState': N, 'dtRank': R, 'chunkSize': 3},
                  w, lambda x, w: mamba(x, w, E, N, R)))

E, N, P = 16, 4, 4
H = E // P
w = {
    'inProj.weight': rnd(D, 2 * E + 2 * N + H), 'convWeight': rnd(E + 2 * N, K, scale=0.5),
    'convBias': rnd(E + 2 * N, scale=0.1), 'dtBias': rnd(H, scale=0.5) - 1,
    'aLog': torch.log(1 + 15 * torch.rand(H)), 'd': 1 + rnd(H, scale=0.2),
    'norm.weight': 1 + rnd(E, scale=0.2), 'outProj.weight': rnd(E, D),
}
cases.append(case('mamba2', {'type': 'mamba2', 'dModel': D, 'dState': N, 'headDim': P, 'chunkSize': 3},
                  w, lambda x, w: mamba2(x, w, E, N, P)))

H = 2
w = {'query': rnd(H, D // H, scale=1.0), 'k.weight': rnd(D, D, scale=0.6), 'v.weight': rnd(D, D),
     'o.weight': rnd(D, D)}
cases.append(case('aaren', {'type': 'aaren', 'dModel': D, 'numHeads': H}, w, lambda x, w: aaren(x, w, H)))

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
