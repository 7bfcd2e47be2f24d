"""Golden values for core normalisers, independent of the TypeScript algorithms.

sparsemax and 1.5-entmax are solved here by bisection on the threshold tau
(not by sorting, as attnkit does); their gradients come from PyTorch autograd
through the closed form of tau on the support found (not from the Jacobian
formulas attnkit hand-codes). softmax-with-sink appends the sink as an extra
logit to a plain softmax and drops its column.
Each fixture stores its inputs, the normalised axis, the output and the gradient
of sum(output * probe). Run: /usr/bin/python3 tools/reference/core/ops_reference.py
"""
import json
import os

import torch

torch.manual_seed(7)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/core/test/fixtures')
# float32 in attnkit: keep every score at least this far from the threshold so both
# sides agree on the support and the gradient is defined.
MARGIN = 2e-3


def bisect_tau(z, f, lo, hi, iters=200):
    """Finds tau per row with sum(f(z - tau)) == 1 (f increasing, zero below 0)."""
    for _ in range(iters):
        mid = (lo + hi) / 2
        total = f(z - mid).sum(-1, keepdim=True)
        lo = torch.where(total > 1, mid, lo)
        hi = torch.where(total > 1, hi, mid)
    return (lo + hi) / 2


def sparsemax_tau(z):
    top = z.max(-1, keepdim=True).values
    return bisect_tau(z, lambda t: torch.clamp(t, min=0), top - 1, top)


def sparsemax(z):
    support = (z.detach() > sparsemax_tau(z.detach())).to(z.dtype)
    # On the support, tau = (sum z_S - 1)/|S|: written out so autograd sees its dependence on z.
    tau = ((z * support).sum(-1, keepdim=True) - 1) / support.sum(-1, keepdim=True)
    return torch.clamp(z - tau, min=0)


def entmax15_tau(z):
    # 1.5-entmax: p = [z/2 - tau]_+^2, so bisect on the halved scores.
    top = z.max(-1, keepdim=True).values
    return bisect_tau(z, lambda t: torch.clamp(t, min=0) ** 2, top - 1, top)


def entmax15(z):
    z = z / 2
    support = (z.detach() > entmax15_tau(z.detach())).to(z.dtype)
    # On the support, sum (z_i - tau)^2 = 1 -> tau = mean - sqrt(1/k - var).
    k = support.sum(-1, keepdim=True)
    mean = (z * support).sum(-1, keepdim=True) / k
    var = (((z - mean) * support) ** 2).sum(-1, keepdim=True) / k
    tau = mean - torch.sqrt(1 / k - var)
    return torch.clamp(z - tau, min=0) ** 2


def softmax_with_sink(x, sink):
    # sink broadcast to x without its last axis, appended as an extra logit, then dropped
    s = sink.expand(*x.shape[:-1]).unsqueeze(-1)
    return torch.softmax(torch.cat([x, s], -1), -1)[..., :-1]


def along(fn, axis):
    return lambda x, *rest: fn(x.movedim(axis, -1), *rest).movedim(-1, axis)


def well_separated(x, tau_fn, axis, scale=1.0):
    z = x.movedim(axis, -1) * scale
    return bool(((z - tau_fn(z)).abs() > MARGIN).all())


def scaled_scores(shape, axis, tau_fn, scale=1.0):
    """Scores with a different spread per row along `axis`, so supports range from 1 to all."""
    spread = torch.tensor([0.15, 0.5, 1.0, 2.0, 4.0, 0.3])
    while True:
        x = torch.randn(*shape).movedim(axis, -1)
        x = (x * spread[: x.shape[-2]].unsqueeze(-1)).movedim(-1, axis)
        if well_separated(x, tau_fn, axis, scale):
            return x


def flat(t):
    return [round(v, 8) for v in t.detach().reshape(-1).tolist()]


def case(name, fn, x, axis, sink=None):
    x = x.clone().requires_grad_()
    args = [x] + ([sink.clone().requires_grad_()] if sink is not None else [])
    y = along(fn, axis)(*args)
    probe = torch.linspace(-1, 1, y.numel()).reshape(y.shape)
    (y * probe).sum().backward()
    out = {'shape': list(x.shape), 'axis': axis, 'x': flat(x), 'probe': flat(probe)}
    if sink is not None:
        out.update({'sinkShape': list(sink.shape), 'sink': flat(args[1])})
    out.update({'output': flat(y), 'grad_x': flat(x.grad)})
    if sink is not None:
        out['grad_sink'] = flat(args[1].grad)
    with open(os.path.join(OUT, f'ops-{name}.json'), 'w') as f:
        json.dump(out, f)
        f.write('\n')
    zeros = int((y == 0).sum())
    print(f'ops-{name}.json: shape {list(x.shape)} axis {axis}, {zeros}/{y.numel()} exact zeros')


# [2, 5, 3] normalised along axis 1 (not the last one); rows of three different spreads.
case('sparsemax', sparsemax, scaled_scores((2, 3, 5), -1, sparsemax_tau).transpose(1, 2), 1)
case('entmax15', entmax15, scaled_scores((2, 5, 6), -1, entmax15_tau, 0.5), -1)
# logits [batch, heads, tq, tk] with a learned per-head sink [1, heads, 1]
case('softmax-sink', softmax_with_sink, torch.randn(2, 2, 3, 4), -1, torch.randn(1, 2, 1))
print('wrote ops fixtures to', os.path.normpath(OUT))
