"""Golden values for linearAttention, written out in PyTorch from the papers.

Two independent PyTorch forms per case, checked against each other here:
  naive:      out = (scale Q Kᵀ ⊙ D) V with D_ts = prod_{s<r<=t} λ exp(g_r) for s <= t
              (Katharopoulos et al. 2020 eq. 4/8; RetNet's D, Sun et al. 2023 eq. 5), plus the
              initial state's share q_t (prod_{r<=t} decay) S0; normalised by the same with V -> 1.
  sequential: S_t = λ exp(g_t) S_{t-1} + k_tᵀ v_t, out_t = scale q_t S_t (Katharopoulos et al. sec. 3.4).
Each case: inputs, options, output, final state, gradients of sum(output * probe).
Run: /usr/bin/python3 tools/reference/attention/linear_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/linear.json')


def log_decays(b, h, t, decay, gate):
    g = torch.zeros(b, h, t)
    if decay is not None:
        g = g + torch.log(torch.as_tensor(decay)).reshape(1, -1, 1)
    if gate is not None:
        g = g + gate
    return g


def naive(q, k, v, scale, causal, decay, gate, normalize, eps, kv0, ksum0):
    b, h, t, _ = q.shape
    g = log_decays(b, h, t, decay, gate)
    # Products of per-step decays, directly (no log-space trick here: independent of the op).
    step = torch.exp(g)
    d = torch.ones(b, h, t, t)
    for i in range(t):
        for j in range(t):
            if j > i:
                d[:, :, i, j] = 0 if causal else 1
            else:
                d[:, :, i, j] = torch.prod(step[:, :, j + 1:i + 1], dim=-1)
    upto = torch.stack([torch.prod(step[:, :, :i + 1], dim=-1) for i in range(t)], -1)  # [b,h,t]
    qs = q * scale
    w = (qs @ k.transpose(-1, -2)) * d
    num = w @ v
    den = w.sum(-1, keepdim=True)
    if kv0 is not None:
        num = num + (qs * upto[..., None]) @ kv0
        if normalize:
            den = den + ((qs * upto[..., None]) * ksum0[:, :, None, :]).sum(-1, keepdim=True)
    out = num / (den + eps) if normalize else num
    last = d[:, :, -1, :] if causal else torch.ones(b, h, t)  # weight of token s in S_T
    kv = (k * last[..., None]).transpose(-1, -2) @ v
    ksum = (k * last[..., None]).sum(2)
    if kv0 is not None:
        kv = kv + upto[:, :, -1, None, None] * kv0
        if ksum0 is not None:
            ksum = ksum + upto[:, :, -1, None] * ksum0
    return out, kv, ksum


def sequential(q, k, v, scale, decay, gate, normalize, eps, kv0, ksum0):
    b, h, t, dk = q.shape
    g = log_decays(b, h, t, decay, gate)
    s = kv0 if kv0 is not None else torch.zeros(b, h, dk, v.shape[-1])
    z = ksum0 if ksum0 is not None else torch.zeros(b, h, dk)
    outs = []
    for i in range(t):
        a = torch.exp(g[:, :, i])[..., None, None]
        s = a * s + k[:, :, i, :, None] * v[:, :, i, None, :]
        z = a[..., 0] * z + k[:, :, i]
        o = (scale * q[:, :, i, None, :] @ s)[:, :, 0]
        if normalize:
            o = o / ((scale * q[:, :, i] * z).sum(-1, keepdim=True) + eps)
        outs.append(o)
    return torch.stack(outs, 2), s, z


def flat(x):
    return [round(v, 7) for v in x.detach().reshape(-1).tolist()]


cases = []
for name, kw in [
    ('plain', {}),
    ('normalize', {'normalize': True}),
    ('decay', {'decay': [0.9, 0.6]}),
    ('gate', {'gate': True}),
    ('state', {'initial': True, 'scale': 0.5}),
    ('everything', {'normalize': True, 'decay': [0.95, 0.8], 'gate': True, 'initial': True, 'scale': 0.7}),
    ('bidirectional', {'causal': False, 'normalize': True}),
]:
    b, h, t, dk, dv = 1, 2, 6, 3, 2
    normalize = kw.get('normalize', False)
    causal = kw.get('causal', True)
    if normalize:  # positive features, as a feature map gives
        q = (torch.rand(b, h, t, dk) + 0.1).requires_grad_()
        k = (torch.rand(b, h, t, dk) + 0.1).requires_grad_()
    else:
        q = torch.randn(b, h, t, dk, requires_grad=True)
        k = torch.randn(b, h, t, dk, requires_grad=True)
    v = torch.randn(b, h, t, dv, requires_grad=True)
    gate = torch.nn.functional.logsigmoid(torch.randn(b, h, t) + 2).requires_grad_() if kw.get('gate') else None
    kv0 = ksum0 = None
    if kw.get('initial'):
        kv0 = (0.5 * torch.randn(b, h, dk, dv)).requires_grad_()
        ksum0 = (torch.rand(b, h, dk) + 0.1).requires_grad_() if normalize else None
    scale, eps, decay = kw.get('scale', 1.0), 1e-6, kw.get('decay')
    out, kv, ksum = naive(q, k, v, scale, causal, decay, gate, normalize, eps, kv0, ksum0)
    if causal:
        out2, kv2, ksum2 = sequential(q, k, v, scale, decay, gate, normalize, eps, kv0, ksum0)
        assert torch.allclose(out, out2) and torch.allclose(kv, kv2) and torch.allclose(ksum, ksum2), name
    probe = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    (out * probe).sum().backward()
    case = {'name': name, 'shape': [b, h, t, dk, dv], 'causal': causal, 'normalize': normalize,
            'scale': scale, 'q': flat(q), 'k': flat(k), 'v': flat(v), 'probe': flat(probe),
            'output': flat(out), 'kv': flat(kv), 'grad_q': flat(q.grad), 'grad_k': flat(k.grad),
            'grad_v': flat(v.grad)}
    if normalize:
        case['kSum'] = flat(ksum)
    if decay is not None:
        case['decay'] = decay
    if gate is not None:
        case.update({'gate': flat(gate), 'grad_gate': flat(gate.grad)})
    if kv0 is not None:
        case.update({'kv0': flat(kv0), 'grad_kv0': flat(kv0.grad)})
    if ksum0 is not None:
        case.update({'kSum0': flat(ksum0), 'grad_kSum0': flat(ksum0.grad)})
    cases.append(case)

with open(OUT, 'w') as f:
    json.dump(cases, f)
print(f'wrote {len(cases)} cases to {os.path.normpath(OUT)}')
