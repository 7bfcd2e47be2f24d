"""Golden values for the first batch of linear-attention mixers, written out in PyTorch from the papers.

performer (Choromanski et al. 2021, FAVOR+, Lemma 1 and sec. 2.4): phi(x) = exp(W^T x' - |x'|^2 / 2) / sqrt(m),
  x' = x / d^(1/4), with the projection W [d, m] given (the module loads the same one);
  out = (phi(Q) phi(K)^T [masked]) V / (D + 1e-6), D = rowsum of the same matrix (quadratic form
  here; 1e-6 is the linear-attention op's documented eps).
efficient-attention (Shen et al. 2021, eqs. 3-4): E = softmax_row(Q) (softmax_col(K)^T V), the
  key softmax taken over positions; bidirectional.
linformer (Wang et al. 2020, eq. 7): head_i = softmax(Q_i (E K_i)^T / sqrt(d)) (F V_i), E and F
  [k, maxLength] restricted to the first T columns; bidirectional.
Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/linear_batch_a_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/linear-batch-a.json')

B, T, D, H = 2, 7, 8, 2
HD = D // H
M = 6  # random features (more than one orthogonal block of HD)
K, MAXLEN = 3, 9  # Linformer's projected length and maximum length


def heads(x):  # [B, T, D] -> [B, H, T, HD]
    return x.reshape(B, T, H, HD).transpose(1, 2)


def merge(x):  # [B, H, T, HD] -> [B, T, D]
    return x.transpose(1, 2).reshape(B, T, D)


def qkv(x, w):
    return (heads(x @ w[n]) for n in ('q', 'k', 'v'))


def orthogonal_features(d, m):
    blocks = []
    for start in range(0, m, d):
        q, _ = torch.linalg.qr(torch.randn(d, d))
        norms = torch.randn(d, d).norm(dim=1)
        blocks.append((q * norms[None, :])[:, : min(d, m - start)])
    return torch.cat(blocks, 1)  # [d, m], columns are the directions


def favor(x, w):
    xs = x / HD ** 0.25
    return torch.exp(xs @ w - (xs ** 2).sum(-1, keepdim=True) / 2) / math.sqrt(w.shape[1])


def performer(x, w, causal):
    q, k, v = qkv(x, w)
    a = favor(q, w['projection']) @ favor(k, w['projection']).transpose(-1, -2)
    if causal:
        a = a * torch.tril(torch.ones(T, T))
    return merge((a @ v) / (a.sum(-1, keepdim=True) + 1e-6)) @ w['o']


def efficient_attention(x, w):
    q, k, v = qkv(x, w)
    context = torch.softmax(k, dim=2).transpose(-1, -2) @ v  # [B, H, HD, HD]
    return merge(torch.softmax(q, dim=-1) @ context) @ w['o']


def linformer(x, w):
    q, k, v = qkv(x, w)
    kp = torch.einsum('kt,bhtd->bhkd', w['keyProjection'][:, :T], k)
    vp = torch.einsum('kt,bhtd->bhkd', w['valueProjection'][:, :T], v)
    att = torch.softmax(q @ kp.transpose(-1, -2) / math.sqrt(HD), dim=-1)
    return merge(att @ vp) @ w['o']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


def case(name, config, w, fn):
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = fn(x, w)
    (y * probe).sum().backward()
    return {
        'name': name,
        'config': config,
        'weights': {(n if n in ('projection', 'keyProjection', 'valueProjection') else f'{n}.weight'): {
            'shape': list(t.shape), 'values': flat(t)} for n, t in w.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    }


def projections(scale=0.4):
    return {n: torch.randn(D, D) * scale for n in ('q', 'k', 'v', 'o')}


cases = []
for causal in (True, False):
    w = projections(0.3)  # moderate logits: the features stay within float32's comfortable range
    w['projection'] = orthogonal_features(HD, M)
    config = {'type': 'performer', 'dModel': D, 'numHeads': H, 'numFeatures': M, 'causal': causal}
    cases.append(case(f'performer {"causal" if causal else "bidirectional"}', config, w,
                      lambda x, w, c=causal: performer(x, w, c)))

w = projections()
cases.append(case('efficient-attention', {'type': 'efficient-attention', 'dModel': D, 'numHeads': H},
                  w, efficient_attention))

w = projections()
w['keyProjection'] = torch.randn(K, MAXLEN) * 0.5
w['valueProjection'] = torch.randn(K, MAXLEN) * 0.5
cases.append(case('linformer', {'type': 'linformer', 'dModel': D, 'numHeads': H, 'maxLength': MAXLEN,
                                'projectedLength': K}, w, linformer))

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
