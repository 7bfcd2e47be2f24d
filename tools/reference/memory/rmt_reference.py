"""Golden values for memory-tokens and recurrent-memory, written out in PyTorch from the papers.

memory-tokens (Sukhbaatar et al. 2019, sec. 4.1): causal multi-head attention whose keys and
values are [M_k | W_k X] and [M_v | W_v X], one softmax over both.
recurrent-memory (Bulatov et al. 2022, RMT sec. 3, per layer; Kashyap 2025 gated update): per
segment, read = causal attention over [memory | segment]; after a complete segment the memory
slots attend [memory | segment] and m' = m + sigmoid(W_g [m, U] + b) * (U - m). Truncated BPTT
detaches the memory entering every `bptt`-th segment.

Each case: config, weights (Linear weights [in, out]), x, probe, y and d sum(y * probe) / dx.
Run: /usr/bin/python3 tools/reference/memory/rmt_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/memory/test/fixtures/recurrent-memory.json')


def heads(x, n):
    b, t, w = x.shape
    return x.reshape(b, t, n, w // n).transpose(1, 2)


def merge(x):
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def attend(q, k, v, causal_from=None):
    """Softmax attention, GQA by repeating kv heads. causal_from: number of leading keys every
    query sees (the memory); the rest are causal with the queries aligned to the last keys."""
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal_from is not None:
        tq, tk = logits.shape[-2:]
        own = tk - causal_from
        qpos = torch.arange(tq)[:, None] + (own - tq)
        kpos = torch.arange(tk)[None, :] - causal_from
        keep = (kpos < 0) | (kpos <= qpos)
        logits = logits.masked_fill(~keep, float('-inf'))
    return torch.softmax(logits, -1) @ v


def rand(*shape, scale=0.5):
    return torch.randn(*shape) * scale


def flat(t):
    return [round(x, 7) for x in t.detach().reshape(-1).tolist()]


def memory_tokens(w, x, n_heads, n_kv):
    q = heads(x @ w['mixer.q.weight'], n_heads)
    k = heads(x @ w['mixer.k.weight'], n_kv)
    v = heads(x @ w['mixer.v.weight'], n_kv)
    b = x.shape[0]
    mk = w['keys'].expand(b, -1, -1, -1)
    mv = w['values'].expand(b, -1, -1, -1)
    out = attend(q, torch.cat([mk, k], 2), torch.cat([mv, v], 2), causal_from=mk.shape[2])
    return merge(out) @ w['mixer.o.weight']


def recurrent_memory(w, x, n_heads, n_kv, size, bptt=None):
    b, t, d = x.shape
    mem = w['memory'].expand(b, -1, -1)
    outs = []
    for i, start in enumerate(range(0, t, size)):
        if bptt is not None and i > 0 and i % bptt == 0:
            mem = mem.detach()
        seg = x[:, start:start + size]
        km = heads(mem @ w['k.weight'], n_kv)
        vm = heads(mem @ w['v.weight'], n_kv)
        ks = heads(seg @ w['k.weight'], n_kv)
        vs = heads(seg @ w['v.weight'], n_kv)
        keys, values = torch.cat([km, ks], 2), torch.cat([vm, vs], 2)
        q = heads(seg @ w['q.weight'], n_heads)
        outs.append(merge(attend(q, keys, values, causal_from=mem.shape[1])) @ w['o.weight'])
        if seg.shape[1] == size:
            qm = heads(mem @ w['q.weight'], n_heads)
            u = merge(attend(qm, keys, values)) @ w['o.weight']
            g = torch.sigmoid(torch.cat([mem, u], 2) @ w['gate.weight'] + w['gate.bias'])
            mem = mem + g * (u - mem)
    return torch.cat(outs, 1)


def case(name, config, weights, fn, shape):
    x = rand(*shape, scale=1.0).requires_grad_(True)
    probe = rand(*shape, scale=1.0)
    y = fn(weights, x)
    (gx,) = torch.autograd.grad((y * probe).sum(), x)
    return {
        'name': name,
        'config': config,
        'weights': {k: {'shape': list(v.shape), 'data': flat(v)} for k, v in weights.items()},
        'x': flat(x),
        'probe': flat(probe),
        'y': flat(y),
        'gradX': flat(gx),
        'shape': list(shape),
    }


def mt_weights(d, n_heads, n_kv, n):
    hd = d // n_heads
    w = {
        'keys': rand(1, n_kv, n, hd, scale=1.0),
        'values': rand(1, n_kv, n, hd, scale=1.0),
        'mixer.q.weight': rand(d, n_heads * hd),
        'mixer.k.weight': rand(d, n_kv * hd),
        'mixer.v.weight': rand(d, n_kv * hd),
        'mixer.o.weight': rand(n_heads * hd, d),
    }
    return w


def rmt_weights(d, n_heads, n_kv, slots):
    hd = d // n_heads
    return {
        'q.weight': rand(d, n_heads * hd),
        'k.weight': rand(d, n_kv * hd),
        'v.weight': rand(d, n_kv * hd),
        'o.weight': rand(n_heads * hd, d),
        'memory': rand(slots, d, scale=1.0),
        'gate.weight': rand(2 * d, d),
        'gate.bias': rand(d),
    }


cases = []
for name, n_heads, n_kv, n in [('memory-tokens mha', 2, 2, 3), ('memory-tokens gqa', 4, 2, 2)]:
    d = 8
    mixer = {'type': 'mha', 'numHeads': n_heads}
    if n_kv != n_heads:
        mixer = {'type': 'gqa', 'numHeads': n_heads, 'numKvHeads': n_kv}
    config = {'type': 'memory-tokens', 'dModel': d, 'numTokens': n, 'mixer': mixer}
    w = mt_weights(d, n_heads, n_kv, n)
    cases.append(case(name, config, w, lambda w, x: memory_tokens(w, x, n_heads, n_kv), (2, 5, d)))

for name, n_heads, n_kv, size, slots, bptt, t in [
    ('recurrent-memory 3 segments', 2, 2, 3, 2, None, 7),
    ('recurrent-memory gqa', 4, 2, 2, 3, None, 6),
    ('recurrent-memory bptt 1', 2, 2, 2, 2, 1, 7),
]:
    d = 8
    config = {'type': 'recurrent-memory', 'dModel': d, 'numHeads': n_heads, 'segmentLength': size, 'memorySlots': slots}
    if n_kv != n_heads:
        config['numKvHeads'] = n_kv
    if bptt is not None:
        config['bpttSegments'] = bptt
    w = rmt_weights(d, n_heads, n_kv, slots)
    fn = lambda w, x, h=n_heads, kv=n_kv, s=size, b=bptt: recurrent_memory(w, x, h, kv, s, b)
    cases.append(case(name, config, w, fn, (2, t, d)))

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {len(cases)} cases to {os.path.normpath(OUT)}')
