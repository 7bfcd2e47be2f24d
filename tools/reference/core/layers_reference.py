"""Golden values for core layers, computed with PyTorch (independent of tfjs).

Run: /usr/bin/python3 tools/reference/core/layers_reference.py
Writes packages/core/test/fixtures/layers-*.json: inputs, parameters, outputs and the
gradients of loss = sum(output * probe) with respect to inputs and parameters.
"""
import json
import math
import os

import torch

torch.manual_seed(1234)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/core/test/fixtures')


def tolist(t):
    return [round(v, 7) for v in t.detach().reshape(-1).tolist()]


def dump(name, payload):
    with open(os.path.join(OUT, f'layers-{name}.json'), 'w') as f:
        json.dump(payload, f)


def run(name, fn, inputs, shape_x):
    x = inputs['x']
    out = fn(**inputs)
    probe = torch.linspace(-1.0, 1.0, out.numel()).reshape(out.shape)
    loss = (out * probe).sum()
    loss.backward()
    payload = {'shape': list(shape_x), 'outShape': list(out.shape), 'probe': tolist(probe), 'output': tolist(out)}
    for key, t in inputs.items():
        payload[key] = tolist(t)
        payload[f'grad_{key}'] = tolist(t.grad)
    dump(name, payload)


shape = (2, 3, 8)

x = torch.randn(shape, requires_grad=True)
w = (1 + 0.1 * torch.randn(8)).requires_grad_()
b = (0.1 * torch.randn(8)).requires_grad_()
run('layer-norm', lambda x, weight, bias: torch.nn.functional.layer_norm(x, (8,), weight, bias, eps=1e-5),
    {'x': x, 'weight': w, 'bias': b}, shape)

x = torch.randn(shape, requires_grad=True)
w = (1 + 0.1 * torch.randn(8)).requires_grad_()
# RMSNorm written out from Zhang & Sennrich 2019 eq. 4 (torch 1.13 has no rms_norm).
run('rms-norm', lambda x, weight: x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * weight,
    {'x': x, 'weight': w}, shape)

x = (2 * torch.randn(shape)).requires_grad_()
run('gelu', lambda x: torch.nn.functional.gelu(x), {'x': x}, shape)

x = (2 * torch.randn(shape)).requires_grad_()
run('gelu-tanh', lambda x: torch.nn.functional.gelu(x, approximate='tanh'), {'x': x}, shape)

# SwiGLU: down(silu(x Wg) * (x Wu)), weights stored [in, out] like attnkit's Linear.
x = torch.randn(shape, requires_grad=True)
wg = (torch.randn(8, 12) / math.sqrt(8)).requires_grad_()
wu = (torch.randn(8, 12) / math.sqrt(8)).requires_grad_()
wd = (torch.randn(12, 8) / math.sqrt(12)).requires_grad_()
run('swiglu', lambda x, gate, up, down: (torch.nn.functional.silu(x @ gate) * (x @ up)) @ down,
    {'x': x, 'gate': wg, 'up': wu, 'down': wd}, shape)
print('wrote layers fixtures to', os.path.normpath(OUT))
