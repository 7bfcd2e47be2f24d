"""Golden values for core normalisers, independent of the TypeScript algorithms.

sparsemax and 1.5-entmax are solved here by bisection on the threshold tau
(not by sorting, as attnkit does), and their gradients come from PyTorch autograd
through a closed form at the found tau.
Run: /usr/bin/python3 tools/reference/core/ops_reference.py
"""
import json
import os

import torch

torch.manual_seed(7)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/core/test/fixtures')


def bisect_tau(z, f, lo, hi, iters=200):
    """Finds tau per row with sum(f(z - tau)) == 1 (f increasing, zero below 0)."""
    for _ in range(iters):
        mid = (lo + hi) / 2
        total = f(z - mid).sum(-1, keepdim=True)
        lo = torch.where(total > 1, mid, lo)
        hi = torch.where(total > 1, hi, mid)
    return (lo + hi) / 2


def sparsemax(z):
    f = lambda t: torch.clamp(t, min=0)
    top = z.max(-1, keepdim=True).values
    tau = bisect_tau(z.detach(), f, top - 1, top).detach()
    # On the support, tau = (sum z_S - 1)/|S|; written out so autograd sees its dependence on z.
    support = (z.detach() > tau).to(z.dtype)
    tau = ((z * support).sum(-1, keepdim=True) - 1) / support.sum(-1, keepdim=True)
    return torch.clamp(z - tau, min=0)


def entmax15(z):
    z = z / 2
    f = lambda t: torch.clamp(t, min=0) ** 2
    top = z.max(-1, keepdim=True).values
    tau = bisect_tau(z.detach(), f, top - 1, top).detach()
    support = (z.detach() > tau).to(z.dtype)
    # On the support, sum (z_i - tau)^2 = 1 -> tau = mean - sqrt(1/k - var) (closed form).
    k = support.sum(-1, keepdim=True)
    mean = (z * support).sum(-1, keepdim=True) / k
    var = (((z - mean) * support) ** 2).sum(-1, keepdim=True) / k
    tau = mean - torch.sqrt(1 / k - var)
    return torch.clamp(z - tau, min=0) ** 2


def softmax_with_sink(x, sink):
    # sink broadcast to x without its last axis, appended as an extra logit then dropped
    s = sink.expand(*x.shape[:-1]).unsqueeze(-1)
    full = torch.softmax(torch.cat([x, s], -1), -1)
    return full[..., :-1]


def flat(t):
    return [round(v, 8) for v in t.detach().reshape(-1).tolist()]


def case(name, fn, x, extra=None):
    x = x.clone().requires_grad_()
    args = [x] + ([extra.clone().requires_grad_()] if extra is not None else [])
    y = fn(*args)
    probe = torch.linspace(-1, 1, y.numel()).reshape(y.shape)
    (y * probe).sum().backward()
    out = {'shape': list(x.shape), 'x': flat(x), 'probe': flat(probe), 'output': flat(y), 'grad_x': flat(x.grad)}
    if extra is not None:
        out.update({'sinkShape': list(extra.shape), 'sink': flat(args[1]), 'grad_sink': flat(args[1].grad)})
    with open(os.path.join(OUT, f'ops-{name}.json'), 'w') as f:
        json.dump(out, f)


x = 1.5 * torch.randn(3, 7)
case('sparsemax', sparsemax, x)
case('entmax15', entmax15, 1.5 * torch.randn(3, 7))
case('softmax-sink', softmax_with_sink, torch.randn(2, 3, 5), torch.randn(2, 3) * 0.5)
print('wrote ops fixtures to', os.path.normpath(OUT))
