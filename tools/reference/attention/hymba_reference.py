"""Golden values for the Hymba layer (Dong et al. 2024, sec. 2), written out in PyTorch with plain
loops over time over the whole prepended sequence X~ = [R, X] (independently of attnkit's prefix
merge, meta-state carry, scans and chunked forms):

  attention heads: q, k, v = X~ W_q, X~ W_k, X~ W_v (grouped: numKvHeads key/value heads); the
    query at input position t attends every meta token and the input keys s with t - window < s <= t;
  SSM heads (Mamba, Gu & Dao 2023, Alg. 2): [x, z] = X~ W_in; x = SiLU(conv(x) + b);
    Δ = softplus((x W_r) W_Δ + b_Δ), B = x W_B, C = x W_C, A = -exp(A_log);
    h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t, y_t = (C_t h_t + D x_t) SiLU(z_t);
  Y = (β1 · rms(attn) + β2 · rms(ssm)) W_out, rms(v) = v / sqrt(mean(v²) + 1e-6);
the rows of the m meta tokens are dropped. Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/hymba_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/hymba.json')
B, T, D = 2, 6, 8
H, KV, E, N, R, K, M, W = 2, 1, 16, 4, 2, 4, 2, 3  # heads, kv heads, inner, state, Δ rank, conv, meta, window
HD = E // H
F = torch.nn.functional


def silu(x):
    return x * torch.sigmoid(x)


def rms(x):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6)


def attention(xs, w):  # xs [B, M+T, D] -> [B, T, E]
    q = (xs @ w['q.weight']).reshape(B, M + T, H, HD)
    k = (xs @ w['k.weight']).reshape(B, M + T, KV, HD)
    v = (xs @ w['v.weight']).reshape(B, M + T, KV, HD)
    rows = []
    for t in range(T):
        i = M + t
        seen = list(range(M)) + [M + s for s in range(T) if t - W < s <= t]
        heads = []
        for h in range(H):
            g = h // (H // KV)
            logits = torch.stack([(q[:, i, h] * k[:, j, g]).sum(-1) for j in seen], -1) / math.sqrt(HD)
            p = torch.softmax(logits, -1)
            heads.append(sum(p[:, n, None] * v[:, j, g] for n, j in enumerate(seen)))
        rows.append(torch.cat(heads, -1))
    return torch.stack(rows, 1)


def ssm(xs, w):  # xs [B, M+T, D] -> [B, T, E]
    L = M + T
    xz = xs @ w['ssmIn.weight']
    xi, z = xz[..., :E], xz[..., E:]
    u = torch.zeros_like(xi)
    for t in range(L):
        acc = w['ssm.convBias'].clone()
        for j in range(K):
            s = t - (K - 1) + j
            if s >= 0:
                acc = acc + w['ssm.convWeight'][:, j] * xi[:, s]
        u[:, t] = silu(acc)
    dbc = u @ w['ssm.xProj.weight']
    low, Bm, Cm = dbc[..., :R], dbc[..., R:R + N], dbc[..., R + N:]
    delta = F.softplus(low @ w['ssm.dtProj.weight'] + w['ssm.dtProj.bias'])
    A = -torch.exp(w['ssm.aLog'])
    h = torch.zeros(B, E, N)
    ys = []
    for t in range(L):
        h = torch.exp(delta[:, t, :, None] * A) * h + delta[:, t, :, None] * Bm[:, t, None, :] * u[:, t, :, None]
        ys.append((h * Cm[:, t, None, :]).sum(-1) + w['ssm.d'] * u[:, t])
    y = torch.stack(ys, 1) * silu(z)
    return y[:, M:]


def hymba(x, w):
    xs = torch.cat([w['meta'].expand(B, M, D), x], 1)
    mixed = w['betaAttention'] * rms(attention(xs, w)) + w['betaSsm'] * rms(ssm(xs, w))
    return mixed @ w['o.weight']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


def rnd(*shape, scale=0.4):
    return torch.randn(*shape) * scale


w = {
    'q.weight': rnd(D, E), 'k.weight': rnd(D, KV * HD), 'v.weight': rnd(D, KV * HD), 'o.weight': rnd(E, D),
    'ssmIn.weight': rnd(D, 2 * E), 'ssm.convWeight': rnd(E, K, scale=0.5),
    'ssm.convBias': rnd(E, scale=0.1), 'ssm.xProj.weight': rnd(E, R + 2 * N), 'ssm.dtProj.weight': rnd(R, E),
    'ssm.dtProj.bias': rnd(E, scale=0.5) - 1,
    'ssm.aLog': torch.log(torch.arange(1, N + 1).repeat(E, 1).double()) + rnd(E, N, scale=0.1),
    'ssm.d': 1 + rnd(E, scale=0.2), 'betaAttention': 0.5 + rnd(E, scale=0.1),
    'betaSsm': 0.5 + rnd(E, scale=0.1), 'meta': rnd(M, D, scale=1.0),
}
checked = ['meta', 'betaAttention', 'betaSsm', 'ssm.aLog', 'ssm.dtProj.bias', 'k.weight']
for n in checked:
    w[n].requires_grad_()
x = torch.randn(B, T, D, requires_grad=True)
probe = torch.randn(B, T, D)
y = hymba(x, w)
(y * probe).sum().backward()
config = {'type': 'hymba', 'dModel': D, 'numHeads': H, 'numKvHeads': KV, 'expand': E // D, 'dState': N,
          'dtRank': R, 'dConv': K, 'metaTokens': M, 'window': W, 'chunkSize': 4}
with open(OUT, 'w') as f:
    json.dump({
        'config': config, 'shape': [B, T, D],
        'weights': {n: {'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'gradWeights': {n: flat(w[n].grad) for n in checked},
    }, f)
print(f'wrote {OUT}')
