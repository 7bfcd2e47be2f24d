"""Golden values for 'fast' (Fastmax; Gerami et al. 2024, "FAST: Factorizable Attention for
Speeding up Transformers", sec. 2), written out in PyTorch from the paper as the plain quadratic
form, independently of attnkit's factorised linear attention:

  q^_i = (q_i - mean(q_i)) / |q_i - mean(q_i)|   (likewise k^_j; eps 1e-6 under the root)
  s_ij = q^_i . k^_j,  f(s) = 1 + s + s^2/2,  a_ij = f(s_ij) / sum_{n (<= i when causal)} f(s_in)
  out  = (a V) W_o over heads

Weights are [in, out] as attnkit's Linear stores them. Output and the input gradient of
sum(y * probe) are written for a causal and a bidirectional case.
Run: /usr/bin/python3 tools/reference/attention/fast_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/fast.json')

B, T, D, H = 2, 7, 8, 2
HD = D // H
EPS = 1e-6  # under the norm's root, and added to the normaliser (as the op does)


def heads(x):  # [B, T, D] -> [B, H, T, HD]
    return x.reshape(B, T, H, HD).transpose(1, 2)


def unit(x):
    c = x - x.mean(-1, keepdim=True)
    return c / torch.sqrt((c * c).sum(-1, keepdim=True) + EPS)


def fast(x, w, causal):
    q, k, v = (heads(x @ w[n]) for n in ('q', 'k', 'v'))
    s = unit(q) @ unit(k).transpose(-1, -2)  # [B, H, T, T]
    f = 1 + s + s * s / 2
    if causal:
        f = f * torch.tril(torch.ones(T, T))
    out = (f @ v) / (f.sum(-1, keepdim=True) + EPS)
    return out.transpose(1, 2).reshape(B, T, D) @ w['o']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


cases = []
for causal in (True, False):
    w = {n: torch.randn(D, D) * 0.5 for n in ('q', 'k', 'v', 'o')}
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = fast(x, w, causal)
    (y * probe).sum().backward()
    cases.append({
        'name': 'causal' if causal else 'bidirectional',
        'config': {'type': 'fast', 'dModel': D, 'numHeads': H, 'causal': causal},
        'weights': {f'{n}.weight': flat(w[n]) for n in w},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
