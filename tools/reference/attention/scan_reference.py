"""Golden values for linearRecurrence, logSumExpScan and causalConv1d, as plain loops in PyTorch.

Each case: the inputs, the outputs and the gradients of sum(output * probe) (+ sum(state * probe)
for the convolution) with respect to every input, the initial state included.
Run: /usr/bin/python3 tools/reference/attention/scan_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/scan.json')


def flat(t):
    return [round(x, 7) for x in t.detach().reshape(-1).tolist()]


def probe_like(t, lo=-1.0, hi=1.0):
    return torch.linspace(lo, hi, t.numel()).reshape(t.shape)


def linear_recurrence(a, b, h0):
    """h_t = a_t * h_{t-1} + b_t, one step at a time (a broadcasts to b)."""
    h, hs = h0, []
    for t in range(b.shape[1]):
        h = a[:, t] * h + b[:, t]
        hs.append(h)
    return torch.stack(hs, 1)


def lse_scan(s, v, init=None):
    """o_t = sum_{i<=t} e^{s_i} v_i / sum_{i<=t} e^{s_i}, from the exact prefix sums in float64."""
    s64, v64 = s.double(), v.double()
    if init is None:
        m0 = s64.max(1).values  # any reference point: the prefix sums do not depend on it
        u0 = torch.zeros_like(v64[:, 0])
        w0 = torch.zeros_like(s64[:, 0])
    else:
        m0, u0, w0 = (x.double() for x in init)
    outs = []
    num, den = u0, w0
    for t in range(s.shape[1]):
        e = torch.exp(s64[:, t] - m0)
        num = num + e.unsqueeze(-1) * v64[:, t]
        den = den + e
        outs.append(num / den.unsqueeze(-1))
    return torch.stack(outs, 1).float()


def causal_conv(x, w, bias=None, state=None, act=None):
    """y[t, c] = act(bias[c] + sum_j w[c, j] x[t - (K-1) + j, c]), past inputs from the state."""
    k = w.shape[1]
    past = state if state is not None else torch.zeros(x.shape[0], k - 1, x.shape[2])
    xp = torch.cat([past, x], 1)
    ys = []
    for t in range(x.shape[1]):
        y = sum(w[:, j] * xp[:, t + j] for j in range(k))
        if bias is not None:
            y = y + bias
        ys.append(y)
    y = torch.stack(ys, 1)
    if act == 'silu':
        y = y * torch.sigmoid(y)
    return y, xp[:, xp.shape[1] - (k - 1):]


def leaf(t):
    return t.clone().requires_grad_(True)


linear = []
for name, a_shape, b_shape, a_lo, a_hi, with_h0 in [
    ('per-feature', (2, 5, 3), (2, 5, 3), 0.3, 1.0, True),
    ('scalar-per-step', (2, 7, 1, 1), (2, 7, 2, 3), 0.5, 1.0, True),
    ('per-head-shared-batch', (1, 6, 2, 1), (2, 6, 2, 3), 0.2, 0.95, True),
    ('no-initial-state', (2, 4, 3), (2, 4, 3), 0.1, 0.9, False),
    ('signed-a', (1, 5, 4), (1, 5, 4), -1.0, 1.0, True),  # a <= 0 too: the sequential form only
]:
    a = leaf(a_lo + (a_hi - a_lo) * torch.rand(*a_shape))
    if name == 'signed-a':
        with torch.no_grad():
            a[0, 2, 1] = 0.0
    b = leaf(torch.randn(*b_shape))
    h0 = leaf(torch.randn(b_shape[0], *b_shape[2:]) if with_h0 else torch.zeros(b_shape[0], *b_shape[2:]))
    h = linear_recurrence(a, b, h0)
    probe = probe_like(h)
    (h * probe).sum().backward()
    case = {'name': name, 'aShape': list(a.shape), 'bShape': list(b.shape), 'initialState': with_h0,
            'a': flat(a), 'b': flat(b), 'h0': flat(h0), 'probe': flat(probe), 'output': flat(h),
            'grad_a': flat(a.grad), 'grad_b': flat(b.grad), 'grad_h0': flat(h0.grad)}
    linear.append(case)

lse = []
for name, s_shape, dv, with_init in [
    ('heads', (2, 5, 2), 3, False),
    ('no-heads', (1, 6), 2, False),
    ('continued', (2, 4, 2), 3, True),
]:
    s = leaf(2 * torch.randn(*s_shape))
    v = leaf(torch.randn(*s_shape, dv))
    stats = (s_shape[0], *s_shape[2:])
    case = {'name': name, 'scoresShape': list(s.shape), 'valuesShape': list(v.shape)}
    init = None
    if with_init:
        init = (leaf(torch.randn(*stats)), leaf(torch.randn(*stats, dv)), leaf(0.5 + torch.rand(*stats)))
        case.update({'max': flat(init[0]), 'numerator': flat(init[1]), 'denominator': flat(init[2])})
    o = lse_scan(s, v, init)
    probe = probe_like(o)
    (o * probe).sum().backward()
    case.update({'scores': flat(s), 'values': flat(v), 'probe': flat(probe), 'output': flat(o),
                 'grad_scores': flat(s.grad), 'grad_values': flat(v.grad)})
    if init:
        case.update({'grad_max': flat(init[0].grad), 'grad_numerator': flat(init[1].grad),
                     'grad_denominator': flat(init[2].grad)})
    lse.append(case)

conv = []
for name, x_shape, k, with_bias, with_state, act in [
    ('silu-bias-state', (2, 5, 3), 4, True, True, 'silu'),
    ('plain', (2, 6, 2), 3, False, False, None),
    ('shorter-than-kernel', (1, 2, 3), 4, True, True, None),
]:
    x = leaf(torch.randn(*x_shape))
    w = leaf(torch.randn(x_shape[2], k))
    bias = leaf(torch.randn(x_shape[2])) if with_bias else None
    state = leaf(torch.randn(x_shape[0], k - 1, x_shape[2])) if with_state else None
    y, tail = causal_conv(x, w, bias, state, act)
    probe = probe_like(y)
    probe_state = probe_like(tail, 0.5, -0.5)
    ((y * probe).sum() + (tail * probe_state).sum()).backward()
    case = {'name': name, 'xShape': list(x.shape), 'kernel': k, 'activation': act,
            'x': flat(x), 'weight': flat(w), 'probe': flat(probe), 'probeState': flat(probe_state),
            'output': flat(y), 'state': flat(tail), 'grad_x': flat(x.grad), 'grad_weight': flat(w.grad)}
    if with_bias:
        case.update({'bias': flat(bias), 'grad_bias': flat(bias.grad)})
    if with_state:
        case.update({'initialState': flat(state), 'grad_initialState': flat(state.grad)})
    conv.append(case)

with open(OUT, 'w') as f:
    json.dump({'linearRecurrence': linear, 'logSumExpScan': lse, 'causalConv1d': conv}, f)
print('wrote', OUT)
