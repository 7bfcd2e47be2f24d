"""Golden values for the linear-attention mixers, written out in PyTorch from the papers.

linear-attention (Katharopoulos et al. 2020, eqs. 4-6, 9): phi = elu + 1,
out_i = phi(q_i) S_i / (phi(q_i) . z_i), S_i = sum_{j<=i} phi(k_j)^T v_j, z_i = sum_{j<=i} phi(k_j)
(all j when bidirectional), computed here as the quadratic masked form, independently of the
chunked op. Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/linear_mixers_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/linear-mixers.json')

B, T, D, H = 2, 7, 8, 2
HD = D // H


def heads(x):  # [B, T, D] -> [B, H, T, HD]
    return x.reshape(B, T, H, HD).transpose(1, 2)


def linear_attention(x, w, causal):
    q, k, v = (heads(x @ w[n]) for n in ('q', 'k', 'v'))
    fq, fk = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
    sim = fq @ fk.transpose(-1, -2)  # [B, H, T, T]
    if causal:
        sim = sim * torch.tril(torch.ones(T, T))
    out = (sim @ v) / sim.sum(-1, keepdim=True)
    return out.transpose(1, 2).reshape(B, T, D) @ w['o']


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


cases = []
for causal in (True, False):
    w = {n: torch.randn(D, D) * 0.4 for n in ('q', 'k', 'v', 'o')}
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = linear_attention(x, w, causal)
    (y * probe).sum().backward()
    cases.append({
        'name': 'causal' if causal else 'bidirectional',
        'config': {'type': 'linear-attention', 'dModel': D, 'numHeads': H, 'causal': causal},
        'weights': {f'{n}.weight': flat(w[n]) for n in w},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
