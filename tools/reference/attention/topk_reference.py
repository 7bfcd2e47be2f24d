"""Golden values for the score-selection mixers, written out in PyTorch from the papers.

topk-attention (Gupta et al. 2021): o_i = softmax(q_i K[I_i]^T / sqrt(d)) V[I_i], I_i the topK keys
of highest q_i . k_j among those query i sees, found here with torch.topk over the full map.
loki (Singhania et al. 2024): I_i = topK_j (q_i P).(k_j P) with a given basis P, exact attention over I_i;
its calibration: P = the top-r eigenvectors (torch.linalg.eigh) of the keys' covariance (compared as
the projector P P^T, which has no sign ambiguity).
top-theta (Berestizshevsky et al. 2025): keep s_ij = q_i.k_j/sqrt(d) >= theta[h, group(i)];
'none' renormalises over the kept keys, 'vmean' = p_ij on the kept keys (full denominator) plus
(1 - sum kept p) * mean of the visible values; its calibration: theta[h, g] = mean over batch and
the group's rows (that see >= targetK keys) of the row's targetK-th largest score.
Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/topk_reference.py
"""
import json
import os

import torch

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/topk.json')

B, T, D, H = 2, 6, 8, 2
HD = D // H


def heads(x, h):  # [B, T, h*HD] -> [B, h, T, HD]
    return x.reshape(B, T, h, HD).transpose(1, 2)


def visible(causal):
    return torch.tril(torch.ones(T, T, dtype=torch.bool)) if causal else torch.ones(T, T, dtype=torch.bool)


def project(x, w, kvh):
    q = heads(x @ w['q'], H)
    k = heads(x @ w['k'], kvh).repeat_interleave(H // kvh, dim=1)
    v = heads(x @ w['v'], kvh).repeat_interleave(H // kvh, dim=1)
    return q, k, v


def merge(o, w):
    return o.transpose(1, 2).reshape(B, T, D) @ w['o']


def select_topk(scores, vis, top_k):
    scores = scores.masked_fill(~vis, float('-inf'))
    idx = torch.topk(scores, min(top_k, T), dim=-1).indices
    chosen = torch.zeros_like(scores, dtype=torch.bool).scatter(-1, idx, True)
    return chosen & vis


def attend(q, k, v, keep):
    s = (q @ k.transpose(-1, -2)) / HD ** 0.5
    return torch.softmax(s.masked_fill(~keep, float('-inf')), -1) @ v


def topk_attention(x, w, c, kvh):
    q, k, v = project(x, w, kvh)
    keep = select_topk(q @ k.transpose(-1, -2), visible(c['causal']), c['topK'])
    return merge(attend(q, k, v, keep), w)


def loki(x, w, c, kvh, basis):  # basis [kvh, HD, r]
    q, k, v = project(x, w, kvh)
    p = basis.repeat_interleave(H // kvh, dim=0)  # [H, HD, r]
    approx = (q @ p) @ (k @ p).transpose(-1, -2)
    keep = select_topk(approx, visible(c['causal']), c['topK'])
    return merge(attend(q, k, v, keep), w)


def top_theta(x, w, c, kvh, theta):  # theta [H, groups]
    q, k, v = project(x, w, kvh)
    vis = visible(c['causal'])
    s = (q @ k.transpose(-1, -2)) / HD ** 0.5
    groups = torch.clamp(torch.arange(T) // c['groupSize'], max=c['numGroups'] - 1)
    kept = (s >= theta[:, groups].reshape(1, H, T, 1)) & vis
    if c['compensation'] == 'none':
        p = torch.softmax(s.masked_fill(~kept, float('-inf')), -1).nan_to_num(0.0)
        return merge(p @ v, w)
    p = torch.softmax(s.masked_fill(~vis, float('-inf')), -1) * kept
    mean = (vis.double() @ v) / vis.sum(-1, keepdim=True)
    return merge(p @ v + (1 - p.sum(-1, keepdim=True)) * mean, w)


def calibrate_theta(x, w, c, kvh, target_k):
    q, k, _ = project(x, w, kvh)
    s = ((q @ k.transpose(-1, -2)) / HD ** 0.5).masked_fill(~visible(c['causal']), float('-inf'))
    kth = torch.topk(s, target_k, dim=-1).values[..., -1]  # [B, H, T]
    theta = torch.full((H, c['numGroups']), -1e9)
    last = torch.full((H,), -1e9)
    for g in range(c['numGroups']):
        end = T if g == c['numGroups'] - 1 else min(T, (g + 1) * c['groupSize'])
        rows = [i for i in range(g * c['groupSize'], end) if not c['causal'] or i + 1 >= target_k]
        if rows:
            last = kth[:, :, rows].mean(dim=(0, 2))
        theta[:, g] = last
    return theta


def calibrate_loki(x, w, kvh, r):
    keys = heads(x @ w['k'], kvh).transpose(0, 1).reshape(kvh, B * T, HD)
    centred = keys - keys.mean(1, keepdim=True)
    _, vecs = torch.linalg.eigh(centred.transpose(1, 2) @ centred)
    p = vecs.flip(-1)[..., :r]  # top-r eigenvectors as columns
    return p @ p.transpose(1, 2)


def flat(t):
    return [round(float(a), 7) for a in t.detach().reshape(-1).tolist()]


def weights(kvh):
    return {'q': torch.randn(D, D) * 0.5, 'k': torch.randn(D, kvh * HD) * 0.5,
            'v': torch.randn(D, kvh * HD) * 0.5, 'o': torch.randn(D, D) * 0.5}


def case(name, config, kvh, fn, buffers=None):
    w = weights(kvh)
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = fn(x, w)
    (y * probe).sum().backward()
    return {'name': name, 'config': config, 'shape': [B, T, D],
            'weights': {f'{n}.weight': {'shape': list(w[n].shape), 'data': flat(w[n])} for n in w},
            'buffers': {n: {'shape': list(b.shape), 'data': flat(b)} for n, b in (buffers or {}).items()},
            'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad)}


cases = []
for causal in (True, False):
    c = {'type': 'topk-attention', 'dModel': D, 'numHeads': H, 'topK': 3, 'chunkSize': 2, 'causal': causal}
    cases.append(case(f'topk-attention causal={causal}', c, H, lambda x, w, c=c: topk_attention(x, w, c, H)))
c = {'type': 'topk-attention', 'dModel': D, 'numHeads': H, 'numKvHeads': 1, 'topK': 2, 'causal': False}
cases.append(case('topk-attention GQA', c, 1, lambda x, w, c=c: topk_attention(x, w, c, 1)))

basis = torch.linalg.qr(torch.randn(1, HD, HD))[0][..., :2]
c = {'type': 'loki', 'dModel': D, 'numHeads': H, 'numKvHeads': 1, 'topK': 3, 'rank': 2, 'chunkSize': 4, 'causal': True}
cases.append(case('loki causal, GQA', c, 1, lambda x, w, c=c: loki(x, w, c, 1, basis), {'projection': basis}))

for comp in ('none', 'vmean'):
    theta = torch.randn(H, 3) * 0.3
    c = {'type': 'top-theta', 'dModel': D, 'numHeads': H, 'groupSize': 2, 'numGroups': 3,
         'compensation': comp, 'chunkSize': 4, 'causal': comp == 'vmean'}
    cases.append(case(f'top-theta {comp}', c, H, lambda x, w, c=c, t=theta: top_theta(x, w, c, H, t),
                      {'thresholds': theta}))

calibration = []
w = weights(H)
x = torch.randn(B, T, D)
c = {'type': 'top-theta', 'dModel': D, 'numHeads': H, 'groupSize': 2, 'numGroups': 4, 'causal': True}
calibration.append({'config': c, 'targetK': 2, 'x': flat(x), 'shape': [B, T, D],
                    'weights': {f'{n}.weight': {'shape': list(w[n].shape), 'data': flat(w[n])} for n in w},
                    'thresholds': flat(calibrate_theta(x, w, c, H, 2))})
w = weights(1)
c = {'type': 'loki', 'dModel': D, 'numHeads': H, 'numKvHeads': 1, 'topK': 2, 'rank': 2}
calibration.append({'config': c, 'x': flat(x), 'shape': [B, T, D],
                    'weights': {f'{n}.weight': {'shape': list(w[n].shape), 'data': flat(w[n])} for n in w},
                    'projector': flat(calibrate_loki(x, w, 1, 2))})

with open(OUT, 'w') as f:
    json.dump({'cases': cases, 'calibration': calibration}, f)
print(f'wrote {OUT}')
