"""Golden values for latte, lit and arflow-hybrid, as plain float64 loops from the papers.

latte (Dolga et al. 2024, sec. 3 / 3.1): per head, p(l|x_t) = softmax_l(q_t), q = x W_q [.., L];
p(s|l,t) = exp(k_sl) / sum_{s' <= t} exp(k_s'l) (causal; every s' when bidirectional), k = x W_k;
out_t = sum_l p(l|x_t) sum_s p(s|l,t) v_s; then W_o.
lit (Wang et al. 2025, simplified linear attention): phi(x) = relu(x) + 1e-6,
o_t = sum_s (phi(q_t).phi(k_s)) v_s / (sum_s phi(q_t).phi(k_s) + 1e-6) over s <= t (causal) or all s,
plus a depthwise convolution of v over time, one kernel [hd, K] and bias [hd] shared by the heads:
centred (taps t - K//2 + j) when bidirectional, causal (taps t - (K-1) + j) when causal; then W_o.
arflow-hybrid (Hui et al. 2025, ARFlow): chunks of C tokens; o_t = softmax over the
tokens s <= t of t's chunk of q_t.k_s/sqrt(d), times v_s, plus sum over the earlier chunks' tokens
of (q_t.k_s/sqrt(d)) v_s (softmax inside a chunk, linear across, summed); then W_o.
Weights are [in, out] as attnkit's Linear stores them. Each loop is checked here against a
vectorised form (conv against torch's conv1d).
Run: /usr/bin/python3 tools/reference/attention/latte_lit_arflow_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/latte-lit-arflow.json')

B, T, D, H = 2, 7, 8, 2
HD = D // H
L = 3  # latents per head (latte)
K = 3  # conv taps (lit)
C = 3  # chunk size (hybrid)


def heads(x, width):  # [B, T, H*width] -> [B, H, T, width]
    return x.reshape(B, T, H, width).transpose(1, 2)


def merge(o):  # [B, H, T, HD] -> [B, T, D]
    return o.transpose(1, 2).reshape(B, T, D)


def latte(x, w, causal):
    q, k, v = heads(x @ w['q'], L), heads(x @ w['k'], L), heads(x @ w['v'], HD)
    out = torch.zeros(B, H, T, HD)
    for b in range(B):
        for h in range(H):
            for t in range(T):
                p_latent = torch.softmax(q[b, h, t], 0)
                seen = range(t + 1) if causal else range(T)
                acc = torch.zeros(HD)
                for l in range(L):
                    logits = torch.stack([k[b, h, s, l] for s in seen])
                    p_key = torch.softmax(logits, 0)
                    acc = acc + p_latent[l] * sum(p_key[i] * v[b, h, s] for i, s in enumerate(seen))
                out[b, h, t] = acc
    # Vectorised check of the bidirectional form: softmax_L(Q) (softmax_T(K)^T V).
    if not causal:
        fast = torch.softmax(q, -1) @ (torch.softmax(k, 2).transpose(-1, -2) @ v)
        assert torch.allclose(out, fast, atol=1e-12)
    return merge(out) @ w['o']


def lit(x, w, causal):
    phi = lambda t: torch.relu(t) + 1e-6
    q, k, v = phi(heads(x @ w['q'], HD)), phi(heads(x @ w['k'], HD)), heads(x @ w['v'], HD)
    weight, bias = w['convWeight'], w['convBias']
    out = torch.zeros(B, H, T, HD)
    conv = torch.zeros(B, H, T, HD)
    offset = K - 1 if causal else K // 2
    for b in range(B):
        for h in range(H):
            for t in range(T):
                seen = range(t + 1) if causal else range(T)
                num = sum((q[b, h, t] @ k[b, h, s]) * v[b, h, s] for s in seen)
                den = sum(q[b, h, t] @ k[b, h, s] for s in seen)
                out[b, h, t] = num / (den + 1e-6)
                for c in range(HD):
                    acc = bias[c]
                    for j in range(K):
                        s = t - offset + j
                        if 0 <= s < T:
                            acc = acc + weight[c, j] * v[b, h, s, c]
                    conv[b, h, t, c] = acc
    # torch's depthwise conv1d (cross-correlation) over the same taps.
    flat = v.reshape(B * H, T, HD).transpose(1, 2)
    padded = torch.nn.functional.pad(flat, (offset, K - 1 - offset))
    ref = torch.nn.functional.conv1d(padded, weight[:, None, :], bias, groups=HD)
    assert torch.allclose(conv, ref.transpose(1, 2).reshape(B, H, T, HD), atol=1e-12)
    return merge(out + conv) @ w['o']


def hybrid(x, w):
    q, k, v = heads(x @ w['q'], HD), heads(x @ w['k'], HD), heads(x @ w['v'], HD)
    scale = 1 / math.sqrt(HD)
    out = torch.zeros(B, H, T, HD)
    for b in range(B):
        for h in range(H):
            for t in range(T):
                c = t // C
                inside = [s for s in range(t + 1) if s // C == c]
                logits = torch.stack([q[b, h, t] @ k[b, h, s] * scale for s in inside])
                p = torch.softmax(logits, 0)
                acc = sum(p[i] * v[b, h, s] for i, s in enumerate(inside))
                for s in range(c * C):  # every token of the earlier chunks
                    acc = acc + (q[b, h, t] @ k[b, h, s]) * scale * v[b, h, s]
                out[b, h, t] = acc
    return merge(out) @ w['o']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


def case(name, config, shapes, fn, gain=0.4):
    w = {n: torch.randn(*s) * (gain[n] if isinstance(gain, dict) else gain) for n, s in shapes.items()}
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = fn(x, w)
    (y * probe).sum().backward()
    key = lambda n: n if n.startswith('conv') else f'{n}.weight'
    return {
        'name': name, 'config': config,
        'weights': {key(n): {'shape': list(w[n].shape), 'values': flat(w[n])} for n in w},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    }


latte_shapes = {'q': (D, H * L), 'k': (D, H * L), 'v': (D, D), 'o': (D, D)}
lit_shapes = {'q': (D, D), 'k': (D, D), 'v': (D, D), 'o': (D, D), 'convWeight': (HD, K), 'convBias': (HD,)}
qkvo = {n: (D, D) for n in ('q', 'k', 'v', 'o')}
latte_config = {'type': 'latte', 'dModel': D, 'numHeads': H, 'numLatents': L}
lit_config = {'type': 'lit', 'dModel': D, 'numHeads': H, 'convKernel': K}
cases = [
    case('latte causal', {**latte_config, 'causal': True}, latte_shapes, lambda x, w: latte(x, w, True)),
    case('latte bidirectional', {**latte_config, 'causal': False}, latte_shapes, lambda x, w: latte(x, w, False)),
    # Key logits of tens: the running log-sum-exp must not overflow or lose the small terms.
    case('latte causal, large key logits', {**latte_config, 'causal': True}, latte_shapes,
         lambda x, w: latte(x, w, True), gain={'q': 0.4, 'k': 12.0, 'v': 0.4, 'o': 0.4}),
    case('lit bidirectional', {**lit_config, 'causal': False}, lit_shapes, lambda x, w: lit(x, w, False)),
    case('lit causal', {**lit_config, 'causal': True}, lit_shapes, lambda x, w: lit(x, w, True)),
    case('arflow-hybrid', {'type': 'arflow-hybrid', 'dModel': D, 'numHeads': H, 'chunkSize': C},
         qkvo, hybrid),
]

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT} ({os.path.getsize(OUT)} bytes)')
