"""Golden values for the deterministic parts of HyperAttention (Han et al. 2023, "HyperAttention:
Long-context Attention in Near-Linear Time", ICLR 2024: Algorithm 3 with sortLSH, Algorithm 1,
and a uniform key sample as in ApproxD, Algorithm 2), written out densely in PyTorch with the LSH
directions and the sample given:

  bucket(x) = Gray-decoded sign pattern of x R (binary bit i = parity of sign bits i..r-1)
  rank(x_i)  = position of token i after sorting by (bucket, index); block = rank // b
  M_ij       = [block(q_i) == block(k_j)]            (the sortLSH mask)
  num_i      = sum_j M_ij e^{s_ij} v_j + (T/m) sum_{samples j} (1 - M_ij) e^{s_ij} v_j
  den_i      = the same without v;   out_i = num_i / den_i,  lse_i = log den_i,  s = q k^T / sqrt(d)

It builds the full [T, T] matrix (the op never does). Output, log-sum-exp and the gradients of
sum(out * probe) for q, k and v.
Run: /usr/bin/python3 tools/reference/attention/hyper_attention_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/hyper-attention.json')

B, H, T, D, R = 1, 2, 12, 4, 3


def ranks(x, proj):  # x [B, H, T, D] -> rank of each token in the sorted order [B, H, T]
    bits = (x @ proj > 0).long()  # [B, H, T, R], bit i weighs 2^i after decoding
    binary = torch.flip(torch.cumsum(torch.flip(bits, [-1]), -1), [-1]) % 2
    bucket = (binary * (2 ** torch.arange(R))).sum(-1)
    order = torch.argsort(bucket * T + torch.arange(T), dim=-1)
    return torch.argsort(order, dim=-1)


def hyper(q, k, v, proj, block, samples):
    s = q @ k.transpose(-1, -2) / math.sqrt(D)
    same = (ranks(q, proj) // block).unsqueeze(-1) == (ranks(k, proj) // block).unsqueeze(-2)
    weight = same.double()
    m = len(samples)
    for j in samples:  # repeated samples count again, as the op's do
        weight[..., j] += (T / m) * (~same[..., j]).double()
    e = torch.exp(s) * weight
    den = e.sum(-1, keepdim=True)
    return (e @ v) / den, torch.log(den.squeeze(-1))


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


cases = []
for name, block, samples in (('blocks of 4', 4, [3, 7, 7, 0, 11]), ('blocks of 5 (padded)', 5, [2, 9, 5, 5])):
    while True:
        q, k, v = (torch.randn(B, H, T, D) for _ in range(3))
        proj = torch.randn(D, R)
        # No sign on the edge: float32 and float64 must hash alike.
        if min((q @ proj).abs().min(), (k @ proj).abs().min()) > 1e-3:
            break
    q.requires_grad_(True)
    k.requires_grad_(True)
    v.requires_grad_(True)
    probe = torch.randn(B, H, T, D)
    out, lse = hyper(q, k, v, proj, block, samples)
    (out * probe).sum().backward()
    cases.append({
        'name': name, 'blockSize': block, 'samples': samples, 'shape': [B, H, T, D],
        'projection': flat(proj), 'bits': R,
        'q': flat(q), 'k': flat(k), 'v': flat(v), 'probe': flat(probe),
        'output': flat(out), 'logSumExp': flat(lse),
        'gradQ': flat(q.grad), 'gradK': flat(k.grad), 'gradV': flat(v.grad),
    })

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
