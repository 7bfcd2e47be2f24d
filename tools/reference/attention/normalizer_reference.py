"""Golden values for scaledDotProductAttention with `normalizer: 'sparsemax' | 'entmax15'`.

sparsemax (Martins & Astudillo 2016, eq. 2 / Algorithm 1) and 1.5-entmax (Peters, Niculae &
Martins 2019, Algorithm 2 with alpha = 1.5) are written out here from the sorted closed forms;
their gradients are PyTorch autograd through those formulas (not the papers' Jacobians, which
the library implements), so outputs and gradients are checked independently.
Each case: q, k, v, the mask options, output and gradients of sum(output * probe).
Run: /usr/bin/python3 tools/reference/attention/normalizer_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(
    os.path.dirname(__file__), '../../../packages/attention/test/fixtures/sdpa-normalizers.json'
)


def sparsemax(z):
    z = z - z.max(-1, keepdim=True).values
    s, _ = torch.sort(z, -1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    support = (1 + k * s) > torch.cumsum(s, -1)
    size = support.sum(-1, keepdim=True)
    tau = ((s * support).sum(-1, keepdim=True) - 1) / size
    return torch.clamp(z - tau, min=0)


def entmax15(z):
    z = (z - z.max(-1, keepdim=True).values) / 2
    s, _ = torch.sort(z, -1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    mean = torch.cumsum(s, -1) / k
    mean_sq = torch.cumsum(s * s, -1) / k
    delta = (1 - k * (mean_sq - mean * mean)) / k
    tau_k = mean - torch.sqrt(torch.clamp(delta, min=0))
    size = (tau_k <= s).sum(-1, keepdim=True)
    tau = tau_k.gather(-1, size - 1)
    return torch.clamp(z - tau, min=0) ** 2


NORMALIZERS = {'sparsemax': sparsemax, 'entmax15': entmax15}


def attention(q, k, v, normalizer, causal=False, mask=None):
    heads, kv_heads = q.shape[1], k.shape[1]
    k = k.repeat_interleave(heads // kv_heads, dim=1)
    v = v.repeat_interleave(heads // kv_heads, dim=1)
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    tq, tk = logits.shape[-2:]
    qpos = torch.arange(tq)[:, None] + (tk - tq)
    kpos = torch.arange(tk)[None, :]
    keep = torch.ones(tq, tk, dtype=torch.bool)
    if causal:
        keep &= kpos <= qpos
    if mask is not None:
        keep &= mask
    weights = NORMALIZERS[normalizer](logits.masked_fill(~keep, -1e9))
    return weights.masked_fill(~keep, 0) @ v


def flat(t):
    return [round(x, 7) for x in t.detach().reshape(-1).tolist()]


cases = []
for name, normalizer, kw, heads, kv_heads, tq in [
    ('sparsemax causal', 'sparsemax', {'causal': True}, 2, 2, 5),
    ('sparsemax gqa decode-offset', 'sparsemax', {'causal': True}, 4, 2, 2),
    ('sparsemax mask', 'sparsemax', {'mask': True}, 2, 2, 5),
    ('entmax15 causal', 'entmax15', {'causal': True}, 2, 2, 5),
    ('entmax15 gqa', 'entmax15', {'causal': True}, 4, 2, 5),
]:
    # Logits spread over ~[-6, 6], so both normalisers leave some visible keys at exactly 0.
    q = (3 * torch.randn(1, heads, tq, 4)).requires_grad_()
    k = torch.randn(1, kv_heads, 5, 4, requires_grad=True)
    v = torch.randn(1, kv_heads, 5, 3, requires_grad=True)
    case = {'name': name, 'normalizer': normalizer, 'qShape': list(q.shape),
            'kShape': list(k.shape), 'vShape': list(v.shape)}
    mask = None
    if kw.get('mask'):
        mask = torch.rand(tq, 5) > 0.3
        mask[:, 0] = True
        case['mask'] = [int(x) for x in mask.reshape(-1).tolist()]
    out = attention(q, k, v, normalizer, causal=kw.get('causal', False), mask=mask)
    probe = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    (out * probe).sum().backward()
    case['causal'] = kw.get('causal', False)
    case.update({'q': flat(q), 'k': flat(k), 'v': flat(v), 'probe': flat(probe), 'output': flat(out),
                 'grad_q': flat(q.grad), 'grad_k': flat(k.grad), 'grad_v': flat(v.grad)})
    cases.append(case)

with open(OUT, 'w') as f:
    json.dump(cases, f)
print('wrote', len(cases), 'cases to', os.path.normpath(OUT))
