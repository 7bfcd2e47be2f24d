"""Golden values for Block-Attention (Sun et al. 2024), written out in PyTorch from the paper.

Sec. 2.1: a token attends within its block (causally); the last block attends to all blocks.
Sec. 2.2: position re-encoding: a block's RoPE keys encoded at 0 are rotated to its offset.
RoPE (Su et al. eq. 34), 'half' layout, base 10000.
Case: q, k, v, segments, output and gradients of sum(output * probe); keys at their positions.
Run: /usr/bin/python3 tools/reference/attention/block_attention_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/block-attention.json')


def rope(x, positions, base=10000.0):
    d = x.shape[-1]
    half = d // 2
    inv = base ** (-torch.arange(half, dtype=torch.float64) * 2 / d)
    ang = positions.double()[:, None] * inv[None, :]
    cos, sin = torch.cos(ang).float(), torch.sin(ang).float()
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)


def block_attention(q, k, v, segments):
    t = q.shape[2]
    pos = torch.arange(t)
    qr, kr = rope(q, pos), rope(k, pos)
    logits = qr @ kr.transpose(-1, -2) / math.sqrt(q.shape[-1])
    seg = torch.tensor(segments)
    keep = (seg[:, None] == seg[None, :]) | (seg[:, None] == seg[-1])
    keep &= pos[None, :] <= pos[:, None]
    weights = torch.softmax(logits.masked_fill(~keep, -1e9), -1)
    return weights @ v


def flat(x):
    return [round(v, 7) for v in x.detach().reshape(-1).tolist()]


segments = [0, 0, 1, 1, 1, 2, 2]
shape = [1, 2, len(segments), 4]
q, k, v = (torch.randn(*shape, requires_grad=True) for _ in range(3))
probe = torch.randn(*shape)
out = block_attention(q, k, v, segments)
(out * probe).sum().backward()
case = {
    'shape': shape,
    'segments': segments,
    'q': flat(q), 'k': flat(k), 'v': flat(v), 'probe': flat(probe),
    'output': flat(out),
    'dq': flat(q.grad), 'dk': flat(k.grad), 'dv': flat(v.grad),
    # Keys at their positions in the prompt, what re-encoding from 0 must give.
    'keysAtPositions': flat(rope(k, torch.arange(len(segments)))),
}
with open(OUT, 'w') as f:
    json.dump(case, f)
print('wrote', OUT)
