"""Golden values for scaledDotProductAttention, written out in PyTorch from the papers.

Each case: q, k, v (and options), output, and gradients of sum(output * probe).
Run: /usr/bin/python3 tools/reference/attention/sdpa_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/sdpa.json')


def attention(q, k, v, causal=False, window=None, softcap=None, sink=None, mask=None, bias=None, sinkTokens=0):
    heads, kv_heads = q.shape[1], k.shape[1]
    k = k.repeat_interleave(heads // kv_heads, dim=1)  # GQA: query head h reads kv head h // group
    v = v.repeat_interleave(heads // kv_heads, dim=1)
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    if bias is not None:
        logits = logits + bias
    tq, tk = logits.shape[-2:]
    qpos = torch.arange(tq)[:, None] + (tk - tq)
    kpos = torch.arange(tk)[None, :]
    keep = torch.ones(tq, tk, dtype=torch.bool)
    if causal or window is not None:
        keep &= kpos <= qpos
    if window is not None:
        keep &= ((qpos - kpos) < window) | (kpos < sinkTokens)  # StreamingLLM sinks stay visible
    if mask is not None:
        keep = keep & mask
    logits = logits.masked_fill(~keep, -1e9)
    if sink is not None:
        s = sink.reshape(1, -1, 1, 1).expand(*logits.shape[:-1], 1)
        weights = torch.softmax(torch.cat([logits, s], -1), -1)[..., :-1]
    else:
        weights = torch.softmax(logits, -1)
    return weights @ v


def flat(t):
    return [round(x, 7) for x in t.detach().reshape(-1).tolist()]


cases = []
for name, kw, heads, kv_heads, tq in [
    ('plain', {}, 2, 2, 5),
    ('causal', {'causal': True}, 2, 2, 5),
    ('decode-offset', {'causal': True}, 2, 2, 2),
    ('gqa', {'causal': True}, 4, 2, 5),
    ('mqa', {'causal': True}, 4, 1, 5),
    ('window', {'window': 2}, 2, 2, 5),
    ('softcap', {'softcap': 1.5, 'causal': True}, 2, 2, 5),
    ('sink', {'sink': True, 'causal': True}, 2, 2, 5),
    ('mask', {'mask': True}, 2, 2, 5),
    ('window-sinks', {'window': 2, 'sinkTokens': 1}, 2, 2, 5),
]:
    q = torch.randn(1, heads, tq, 4, requires_grad=True)
    k = torch.randn(1, kv_heads, 5, 4, requires_grad=True)
    v = torch.randn(1, kv_heads, 5, 3, requires_grad=True)
    args = dict(kw)
    case = {'name': name, 'qShape': list(q.shape), 'kShape': list(k.shape), 'vShape': list(v.shape)}
    if kw.get('sink'):
        sink = torch.tensor([0.3, -0.7], requires_grad=True)
        args['sink'] = sink
    if kw.get('mask'):
        mask = torch.rand(tq, 5) > 0.3
        mask[:, 0] = True
        args['mask'] = mask
        case['mask'] = [int(x) for x in mask.reshape(-1).tolist()]
    out = attention(q, k, v, **args)
    probe = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    (out * probe).sum().backward()
    case.update({k_: v_ for k_, v_ in kw.items() if k_ not in ('sink', 'mask')})
    case.update({'q': flat(q), 'k': flat(k), 'v': flat(v), 'probe': flat(probe), 'output': flat(out),
                 'grad_q': flat(q.grad), 'grad_k': flat(k.grad), 'grad_v': flat(v.grad)})
    if kw.get('sink'):
        case.update({'sink': flat(sink), 'grad_sink': flat(sink.grad)})
    cases.append(case)

with open(OUT, 'w') as f:
    json.dump(cases, f)
print('wrote', len(cases), 'cases to', os.path.normpath(OUT))
