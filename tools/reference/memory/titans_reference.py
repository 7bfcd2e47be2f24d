"""Golden values for Titans' neural memory and its MAC / MAG / MAL architectures, and the Miras
choices, written out in PyTorch from the papers (Behrouz et al. 2024, "Titans: Learning to Memorize
at Test Time"; Behrouz et al. 2025, "It's All Connected" for Miras).

Independent of the TypeScript code: the memory is updated token by token (eqs. 12-15), the inner
gradient comes from torch.autograd (create_graph, so the outer gradient flows through it), and a
chunk of C tokens is defined as the paper's chunked form defines it: every token's gradient taken at
the weights of the chunk start (sec. 3.2). Each token's gradient (all matrices together) is clipped
to norm `clip` (norm clipping, Pascanu et al. 2013), as attnkit's memory does.

Writes packages/memory/test/fixtures/titans.json:
- 'updates': one call of the op (q, k, v, gates, initial weights and surprise) per Miras choice:
  output, final weights and surprise;
- 'mixers': one forward of neural-memory, titans-mac, titans-mag, titans-mal from given weights:
  output and d(sum(output * probe))/dx.
Run: /usr/bin/python3 tools/reference/memory/titans_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/memory/test/fixtures/titans.json')
# Largest inner learning rate of the mixers (passed in their configs as learningRate).
LR = 0.1
# Clip of a token's inner gradient norm: small enough that it acts on some tokens of every case.
CLIP = 1.0
CLIPPED = []  # per case: the fraction of token updates the clip scaled down

PRESETS = {
    'titans': dict(bias='l2', retention='l2', p=2, q=2, delta=1.0),
    'moneta': dict(bias='lp', retention='lq', p=3, q=4, delta=1.0),
    'yaad': dict(bias='huber', retention='l2', p=2, q=2, delta=0.3),
    'memora': dict(bias='l2', retention='kl', p=2, q=2, delta=1.0),
}


def silu(x):
    return x * torch.sigmoid(x)


def memory_apply(kind, ws, x):
    """M(x) for weights [..., in, out] and x [..., n, in] (no biases; SiLU between layers)."""
    if kind == 'swiglu':
        g, u, d = ws
        return (silu(x @ g) * (x @ u)) @ d
    h = x
    for i, w in enumerate(ws):
        h = h @ w
        if i < len(ws) - 1:
            h = silu(h)
    return h


def loss_of(choice, e):
    """The attentional bias: ||e||^2, sum (e^2 + 1e-6)^(p/2) (smoothed l_p), or Huber (quadratic inside delta)."""
    if choice['bias'] == 'l2':
        return (e ** 2).sum()
    if choice['bias'] == 'lp':
        return ((e ** 2 + 1e-6) ** (choice['p'] / 2)).sum()
    d = choice['delta']
    a = e.abs()
    return torch.where(a <= d, e ** 2, 2 * d * a - d * d).sum()


def retain(choice, a):
    """Weights from the accumulator: identity (l2), A / ||A||_q^(q-2) (Moneta), softmax over inputs (Memora)."""
    if choice['retention'] == 'l2':
        return a
    if choice['retention'] == 'lq':
        q = choice['q']
        norm = ((a.abs() + 1e-6) ** q).sum(dim=(-2, -1), keepdim=True) ** (1.0 / q)
        return a / norm ** (q - 2)
    return torch.softmax(a, dim=-2)


def memory_scan(kind, choice, q, k, v, lr, log_eta, log_keep, a0, s0, chunk, retrieve='updated', clip=math.inf):
    """Token by token. q, k, v [B, H, T, d]; gates [B, H, T]; a0, s0 lists of [B, H, in, out]."""
    a, s = list(a0), list(s0)
    base = a
    ys = []
    clipped = 0
    for t in range(q.shape[2]):
        if t % chunk == 0:
            base = a
        wb = [retain(choice, x) for x in base]
        kt, vt = k[:, :, t:t + 1], v[:, :, t:t + 1]
        loss = loss_of(choice, memory_apply(kind, wb, kt) - vt)
        grads = torch.autograd.grad(loss, wb, create_graph=True)
        norm = torch.sqrt(sum((g ** 2).sum((-2, -1)) for g in grads))  # [B, H]
        factor = torch.clamp(clip / norm, max=1.0)[:, :, None, None]
        clipped += int((norm > clip).sum())
        grads = [g * factor for g in grads]
        sc = lambda g: g[:, :, t].reshape(g.shape[0], g.shape[1], 1, 1)
        s = [torch.exp(sc(log_eta)) * si - sc(lr) * gi for si, gi in zip(s, grads)]
        a = [torch.exp(sc(log_keep)) * ai + si for ai, si in zip(a, s)]
        w = wb if retrieve == 'chunkStart' else [retain(choice, x) for x in a]
        ys.append(memory_apply(kind, w, q[:, :, t:t + 1]))
    CLIPPED.append(clipped / (q.shape[0] * q.shape[1] * q.shape[2]))
    return torch.cat(ys, 2), a, s


def shapes(kind, d, hidden):
    if kind == 'linear':
        return [(d, d)]
    if kind == 'swiglu':
        return [(d, hidden), (d, hidden), (hidden, d)]
    return [(d, hidden), (hidden, d)]


def flat(t):
    return [round(x, 7) for x in t.detach().reshape(-1).tolist()]


# ---- one call of the op per Miras choice --------------------------------------------------
updates = []
B, H, T, D, HID, C = 1, 2, 5, 3, 4, 2
for name, choice in PRESETS.items():
    kind = 'mlp'
    q, k, v = torch.randn(B, H, T, D), 0.7 * torch.randn(B, H, T, D), torch.randn(B, H, T, D)
    lr = 0.15 * torch.sigmoid(torch.randn(B, H, T))
    log_eta = -torch.nn.functional.softplus(torch.randn(B, H, T))
    log_keep = -0.2 * torch.nn.functional.softplus(torch.randn(B, H, T))
    scale = 1.0 if choice['retention'] == 'lq' else 0.5
    a0 = [(scale * torch.randn(B, H, i, o)).requires_grad_() for i, o in shapes(kind, D, HID)]
    s0 = [0.05 * torch.randn(B, H, i, o) for i, o in shapes(kind, D, HID)]
    y, a, s = memory_scan(kind, choice, q, k, v, lr, log_eta, log_keep, a0, s0, C, clip=CLIP)
    updates.append({
        'name': name, 'kind': kind, 'shape': [B, H, T, D], 'hidden': HID, 'chunkSize': C, 'gradientClip': CLIP,
        'choice': {'attentionalBias': choice['bias'], 'retention': choice['retention'],
                   'p': choice['p'], 'q': choice['q'], 'huberDelta': choice['delta']},
        'q': flat(q), 'k': flat(k), 'v': flat(v), 'lr': flat(lr), 'logMomentum': flat(log_eta),
        'logRetain': flat(log_keep), 'weights': [flat(x) for x in a0], 'momentum': [flat(x) for x in s0],
        'output': flat(y), 'finalWeights': [flat(x) for x in a], 'finalMomentum': [flat(x) for x in s],
    })


# ---- mixers --------------------------------------------------------------------------------
DM, NH, P, WINDOW, SEG = 8, 2, 2, 3, 3
HD = DM // NH


def l2n(x):
    return x * torch.rsqrt((x ** 2).sum(-1, keepdim=True) + 1e-6)


def heads(x):
    b, t, _ = x.shape
    return x.reshape(b, t, NH, -1).transpose(1, 2)


def merge(x):
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def neural_memory(p, x, pre, chunk, retrieve='updated'):
    """Titans' memory layer (sec. 3.1, 4.4): SiLU + l2-normalised q, k; SiLU v; gates from x."""
    q = l2n(heads(silu(x @ p[pre + 'q.weight'])))  # per head
    k = l2n(heads(silu(x @ p[pre + 'k.weight'])))
    v = heads(silu(x @ p[pre + 'v.weight']))
    gate = lambda n: (x @ p[pre + n + '.weight'] + p[pre + n + '.bias']).transpose(1, 2)
    lr = LR * torch.sigmoid(gate('theta'))  # the configs name it: the layer's default is 1/chunkSize
    log_eta = torch.nn.functional.logsigmoid(gate('eta'))
    log_keep = torch.nn.functional.logsigmoid(-gate('alpha'))
    b = x.shape[0]
    a0 = [p[pre + 'memory%d' % i].unsqueeze(0).expand(b, -1, -1, -1) for i in range(2)]
    s0 = [torch.zeros_like(w) for w in a0]
    y, _, _ = memory_scan('mlp', PRESETS['titans'], q, k, v, lr, log_eta, log_keep, a0, s0, chunk, retrieve, CLIP)
    return merge(y) @ p[pre + 'o.weight']


def attention(q, k, v, keep, prefix_k, prefix_v):
    """softmax over [prefix | keys] with `keep` [tq, tk] on the regular keys; prefix always seen."""
    b = q.shape[0]
    prefix_k, prefix_v = prefix_k.expand(b, -1, -1, -1), prefix_v.expand(b, -1, -1, -1)
    logits = torch.cat([q @ prefix_k.transpose(-1, -2), (q @ k.transpose(-1, -2)).masked_fill(~keep, -1e30)], -1)
    w = torch.softmax(logits / math.sqrt(q.shape[-1]), -1)
    return w @ torch.cat([prefix_v, v], 2)


def sliding_window(p, x, pre):
    t = x.shape[1]
    i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
    keep = (j <= i) & (i - j < WINDOW)
    per = p['persistent'].unsqueeze(0)
    out = attention(heads(x @ p[pre + 'q.weight']), heads(x @ p[pre + 'k.weight']), heads(x @ p[pre + 'v.weight']),
                    keep, heads(per @ p[pre + 'k.weight']), heads(per @ p[pre + 'v.weight']))
    return merge(out) @ p[pre + 'o.weight']


def rms(x):
    return x * torch.rsqrt((x ** 2).mean(-1, keepdim=True) + 1e-6)


def mag(p, x):
    y = rms(sliding_window(p, x, 'attention.')) * p['attentionGain']
    m = rms(neural_memory(p, x, 'memory.', 2)) * p['memoryGain']
    return y * torch.sigmoid(m)


def mal(p, x):
    return sliding_window(p, x + neural_memory(p, x, 'memory.', 2), 'attention.')


def mac(p, x):
    t = x.shape[1]
    h = neural_memory(p, x, 'memory.', SEG, retrieve='chunkStart')
    i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
    keep = ((i // SEG) == (j // SEG)) & (j <= i)
    per = p['persistent'].unsqueeze(0)
    keys = torch.cat([heads(h @ p['k.weight']), heads(x @ p['k.weight'])], 2)
    values = torch.cat([heads(h @ p['v.weight']), heads(x @ p['v.weight'])], 2)
    out = attention(heads(x @ p['q.weight']), keys, values, torch.cat([keep, keep], 1),
                    heads(per @ p['k.weight']), heads(per @ p['v.weight']))
    return merge(out) @ p['o.weight']


def memory_params(pre):
    p = {}
    for n in 'qkvo':
        p[pre + n + '.weight'] = torch.randn(DM, DM) / math.sqrt(DM)
    for n in ['theta', 'eta', 'alpha']:
        p[pre + n + '.weight'] = torch.randn(DM, NH) / math.sqrt(DM)
        p[pre + n + '.bias'] = 0.5 * torch.randn(NH)
    p[pre + 'memory0'] = torch.randn(NH, HD, 2 * HD) / math.sqrt(HD)
    p[pre + 'memory1'] = torch.randn(NH, 2 * HD, HD) / math.sqrt(2 * HD)
    return p


def attention_params(pre):
    return {pre + n + '.weight': torch.randn(DM, DM) / math.sqrt(DM) for n in 'qkvo'}


mixers = []
TM = 5
for name, config, params, fn in [
    ('neural-memory', {'type': 'neural-memory', 'dModel': DM, 'numHeads': NH, 'chunkSize': 2, 'learningRate': LR, 'gradientClip': CLIP},
     memory_params(''), lambda p, x: neural_memory(p, x, '', 2)),
    ('titans-mac', {'type': 'titans-mac', 'dModel': DM, 'numHeads': NH, 'chunkSize': SEG, 'learningRate': LR, 'gradientClip': CLIP,
                    'persistentTokens': P},
     {**memory_params('memory.'), **attention_params(''), 'persistent': torch.randn(P, DM)}, mac),
    ('titans-mag', {'type': 'titans-mag', 'dModel': DM, 'numHeads': NH, 'window': WINDOW, 'chunkSize': 2, 'learningRate': LR, 'gradientClip': CLIP,
                    'persistentTokens': P},
     {**memory_params('memory.'), **attention_params('attention.'), 'persistent': torch.randn(P, DM),
      'attentionGain': 1 + 0.2 * torch.randn(DM), 'memoryGain': 1 + 0.2 * torch.randn(DM)}, mag),
    ('titans-mal', {'type': 'titans-mal', 'dModel': DM, 'numHeads': NH, 'window': WINDOW, 'chunkSize': 2, 'learningRate': LR, 'gradientClip': CLIP,
                    'persistentTokens': P},
     {**memory_params('memory.'), **attention_params('attention.'), 'persistent': torch.randn(P, DM)}, mal),
]:
    x = torch.randn(2, TM, DM, requires_grad=True)
    for w in params.values():
        w.requires_grad_()  # the inner gradient is taken with respect to (functions of) them
    y = fn(params, x)
    probe = torch.randn_like(y)
    (gx,) = torch.autograd.grad((y * probe).sum(), x)
    mixers.append({
        'name': name, 'config': config, 'x': flat(x), 'shape': list(x.shape), 'probe': flat(probe),
        'weights': {n: {'shape': list(w.shape), 'values': flat(w)} for n, w in params.items()},
        'output': flat(y), 'inputGrad': flat(gx),
    })

with open(OUT, 'w') as f:
    json.dump({'updates': updates, 'mixers': mixers}, f)
print('wrote', OUT, os.path.getsize(OUT), 'bytes')
names = [u['name'] for u in updates] + [m['name'] for m in mixers]
print('token updates clipped:', ', '.join('%s %.2f' % (n, f) for n, f in zip(names, CLIPPED)))
