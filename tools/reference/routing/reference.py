"""Golden fixtures for @attnkit/routing, computed independently in PyTorch (float64).

Run: /usr/bin/python3 tools/reference/routing/reference.py
Writes packages/routing/test/fixtures/{routers,moe}.json.
Linear weights are stored [in, out] as attnkit's Linear uses them (y = x W).
"""
import json
import math
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/routing/test/fixtures')
rng = np.random.default_rng(7)


def arr(t):
    return np.round(np.asarray(t.detach() if torch.is_tensor(t) else t, dtype=np.float64), 10).tolist()


def randn(*shape, scale=1.0):
    return torch.tensor(rng.standard_normal(shape) * scale)


def topk_rows(scores, k):
    # stable descending order: the lower expert wins ties
    return np.argsort(-scores.detach().numpy(), axis=1, kind='stable')[:, :k]


def capacity_drop(idx, num_experts, capacity):
    """Switch/GShard priority: all first choices in token order, then second choices, ..."""
    tokens, k = idx.shape
    mask = np.zeros((tokens, k))
    load = np.zeros(num_experts, dtype=int)
    demand = np.zeros(num_experts, dtype=int)
    dropped = 0
    for j in range(k):
        for t in range(tokens):
            e = idx[t, j]
            demand[e] += 1
            if capacity is None or load[e] < capacity:
                load[e] += 1
                mask[t, j] = 1
            else:
                dropped += 1
    return mask, load, demand, dropped


def switch_loss(probs, demand):
    f = torch.tensor(demand / demand.sum())
    return probs.shape[1] * torch.sum(f * probs.mean(0))


def z_loss(logits):
    return torch.mean(torch.logsumexp(logits, 1) ** 2)


def token_choice(case, x, w, select, gate_source, probs, logits, normalize):
    tokens, E = probs.shape
    k = case['topK']
    idx = topk_rows(select, k)
    cap = None
    if case.get('capacityFactor') is not None:
        cap = max(1, math.ceil(case['capacityFactor'] * tokens * k / E))
    mask, load, demand, dropped = capacity_drop(idx, E, cap)
    g = torch.gather(gate_source, 1, torch.tensor(idx))
    if normalize:
        g = g / g.sum(1, keepdim=True)
    g = g * torch.tensor(mask)
    lb = switch_loss(probs, demand)
    z = z_loss(logits)
    return idx, g, mask, load, demand, dropped, cap, lb, z


def finish(case, x, w, idx, g, mask, load, demand, dropped, cap, lb, z, extra_params=()):
    r = torch.tensor(rng.standard_normal(g.shape))
    objective = torch.sum(g * r) + (lb if lb is not None else 0) + z
    grads = torch.autograd.grad(objective, [w, *extra_params])
    case.update(
        x=arr(x), weight=arr(w), indices=idx.tolist(), gates=arr(g), mask=arr(mask),
        load=load.tolist(), demand=demand.tolist(), droppedAssignments=int(dropped),
        droppedTokens=int((mask.sum(1) == 0).sum()), capacity=cap,
        loadBalance=None if lb is None else float(lb), zLoss=float(z),
        objectiveWeights=arr(r), gradWeight=arr(grads[0]),
    )
    if extra_params:
        case['gradExtra'] = arr(grads[1])
    return case


def router_cases():
    cases = []
    T, D, E = 8, 5, 4
    x = randn(T, D)

    for name, k, scoring, cf, norm in [
        ('softmax top-2', 2, 'softmax', None, None),
        ('softmax top-1, capacity 1.0', 1, 'softmax', 1.0, None),
        ('sigmoid top-2, capacity 0.75', 2, 'sigmoid', 0.75, None),
        ('softmax top-2 unnormalised, capacity 1.25', 2, 'softmax', 1.25, False),
    ]:
        w = randn(D, E).requires_grad_(True)
        logits = x @ w
        if scoring == 'softmax':
            p = torch.softmax(logits, 1)
            select = gate_source = probs = p
            normalize = k > 1 if norm is None else norm
        else:
            s = torch.sigmoid(logits)
            select = gate_source = s
            probs = s / s.sum(1, keepdim=True)
            normalize = True if norm is None else norm
        case = {'name': name, 'router': {'type': 'topk-router', 'dim': D, 'numExperts': E,
                                          'topK': k, 'scoring': scoring}}
        if cf is not None:
            case['router']['capacityFactor'] = cf
            case['capacityFactor'] = cf
        if norm is not None:
            case['router']['normalize'] = norm
        case['topK'] = k
        out = token_choice(case, x, w, select, gate_source, probs, logits, normalize)
        cases.append(finish(case, x, w, *out))

    # noisy top-k (training, given noise)
    w = randn(D, E).requires_grad_(True)
    wn = randn(D, E, scale=0.5).requires_grad_(True)
    noise = randn(T, E)
    logits = x @ w
    h = logits + noise * torch.nn.functional.softplus(x @ wn)
    p = torch.softmax(h, 1)
    case = {'name': 'noisy top-2 (training, given noise), capacity 1.0',
            'router': {'type': 'noisy-topk-router', 'dim': D, 'numExperts': E, 'topK': 2,
                       'capacityFactor': 1.0},
            'topK': 2, 'capacityFactor': 1.0, 'noise': arr(noise), 'noiseWeight': arr(wn)}
    out = token_choice(case, x, w, h, p, p, logits, True)
    cases.append(finish(case, x, w, *out, extra_params=(wn,)))

    # expert choice
    for cf in [1.0, 2.0]:
        w = randn(D, E).requires_grad_(True)
        logits = x @ w
        p = torch.softmax(logits, 1)
        C = min(T, max(1, math.ceil(T * cf / E)))
        mask = np.zeros((T, E))
        order = np.argsort(-p.detach().numpy(), axis=0, kind='stable')[:C]
        for e in range(E):
            mask[order[:, e], e] = 1
        g = p * torch.tensor(mask)
        z = z_loss(logits)
        load = mask.sum(0).astype(int)
        case = {'name': f'expert choice, c={cf}',
                'router': {'type': 'expert-choice-router', 'dim': D, 'numExperts': E,
                           'capacityFactor': cf}}
        idx = np.tile(np.arange(E), (T, 1))
        cases.append(finish(case, x, w, idx, g, mask, load, load, 0, C, None, z))

    # similarity-aware
    for causal, tau in [(False, 1.0), (True, 0.5)]:
        groups = 2
        w = randn(D, E).requires_grad_(True)
        ws = (torch.eye(D) + randn(D, D, scale=0.2)).requires_grad_(True)
        logits = x @ w
        p = torch.softmax(logits, 1)
        xs = x.reshape(groups, T // groups, D)
        sim = (xs @ ws) @ xs.transpose(1, 2) / tau
        if causal:
            t = T // groups
            sim = sim.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), -1e9)
        mixed = (torch.softmax(sim, -1) @ p.reshape(groups, T // groups, E)).reshape(T, E)
        case = {'name': f'similarity top-2, causal={causal}, tau={tau}',
                'router': {'type': 'similarity-router', 'dim': D, 'numExperts': E, 'topK': 2,
                           'temperature': tau},
                'topK': 2, 'groups': groups, 'causal': causal, 'similarityWeight': arr(ws)}
        out = token_choice(case, x, w, mixed, mixed, mixed, logits, True)
        cases.append(finish(case, x, w, *out, extra_params=(ws,)))

    # dense softmax router
    w = randn(D, E).requires_grad_(True)
    logits = x @ w
    p = torch.softmax(logits, 1)
    idx = np.tile(np.arange(E), (T, 1))
    mask = np.ones((T, E))
    case = {'name': 'dense softmax', 'router': {'type': 'dense-router', 'dim': D, 'numExperts': E,
                                                'weighting': 'softmax'}}
    full = np.full(E, T)
    cases.append(finish(case, x, w, idx, p, mask, full, full, 0, None, None, z_loss(logits)))
    return cases


def moe_case():
    B, T, D, E, K, H = 2, 3, 4, 4, 2, 6
    x = randn(B, T, D).requires_grad_(True)
    params = {}

    def swiglu(prefix, inp):
        g = params.setdefault(prefix + '.gate.weight', randn(D, H, scale=0.5).requires_grad_(True))
        u = params.setdefault(prefix + '.up.weight', randn(D, H, scale=0.5).requires_grad_(True))
        d = params.setdefault(prefix + '.down.weight', randn(H, D, scale=0.5).requires_grad_(True))
        return (torch.nn.functional.silu(inp @ g) * (inp @ u)) @ d

    wr = params.setdefault('router.gate.weight', randn(D, E).requires_grad_(True))
    flat = x.reshape(-1, D)
    expert_out = [swiglu(f'experts.{e}', flat) for e in range(E)]
    shared = swiglu('shared.0', flat)
    logits = flat @ wr
    p = torch.softmax(logits, 1)
    idx = topk_rows(p, K)
    cap = max(1, math.ceil(1.0 * B * T * K / E))
    mask, load, demand, dropped = capacity_drop(idx, E, cap)
    g = torch.gather(p, 1, torch.tensor(idx))
    g = g / g.sum(1, keepdim=True) * torch.tensor(mask)
    out = shared.clone()
    for t in range(B * T):
        for j in range(K):
            out[t] = out[t] + g[t, j] * expert_out[idx[t, j]][t]
    out = out.reshape(B, T, D)
    lb = switch_loss(p, demand)
    z = z_loss(logits)
    r = randn(B, T, D)
    objective = torch.sum(out * r) + 0.01 * lb + 0.001 * z
    names = sorted(params)
    grads = torch.autograd.grad(objective, [x] + [params[n] for n in names])
    return {
        'config': {'type': 'moe', 'dim': D, 'numExperts': E, 'topK': K, 'numSharedExperts': 1,
                   'expert': {'type': 'swiglu', 'hiddenDim': H}, 'capacityFactor': 1.0},
        'x': arr(x), 'params': {n: arr(params[n]) for n in names}, 'output': arr(out),
        'indices': idx.tolist(), 'mask': arr(mask), 'droppedAssignments': dropped,
        'loadBalance': float(lb), 'zLoss': float(z), 'objectiveWeights': arr(r),
        'gradX': arr(grads[0]), 'gradParams': {n: arr(g) for n, g in zip(names, grads[1:])},
    }


def moh_gating_case():
    """MoH head weights (Jin et al. 2024, eqs. 4-6)."""
    B, T, D, H, HS, K = 2, 3, 6, 5, 2, 2
    x = randn(B, T, D)
    ws = randn(D, HS).requires_grad_(True)
    wr = randn(D, H - HS).requires_grad_(True)
    wh = randn(D, 2).requires_grad_(True)
    flat = x.reshape(-1, D)
    alpha = torch.softmax(flat @ wh, 1)
    shared = alpha[:, :1] * torch.softmax(flat @ ws, 1)
    pr = torch.softmax(flat @ wr, 1)
    idx = topk_rows(pr, K)
    chosen = torch.zeros_like(pr).scatter(1, torch.tensor(idx), 1.0)
    routed = alpha[:, 1:] * pr * chosen
    gates = torch.cat([shared, routed], 1).reshape(B, T, H)
    f = chosen.mean(0)
    loss = torch.sum(f * pr.mean(0))
    r = randn(B, T, H)
    grads = torch.autograd.grad(torch.sum(gates * r) + loss, [ws, wr, wh])
    return {
        'config': {'dModel': D, 'numHeads': H, 'numSharedHeads': HS, 'topK': K},
        'x': arr(x), 'params': {'shared.weight': arr(ws), 'routed.gate.weight': arr(wr),
                                'mix.weight': arr(wh)},
        'gates': arr(gates), 'loss': float(loss), 'headLoad': [B * T] * HS + chosen.sum(0).int().tolist(),
        'objectiveWeights': arr(r),
        'grads': {'shared.weight': arr(grads[0]), 'routed.gate.weight': arr(grads[1]),
                  'mix.weight': arr(grads[2])},
    }


os.makedirs(OUT, exist_ok=True)
cases = router_cases()
assert any(c['droppedAssignments'] > 0 for c in cases), 'no capacity drops exercised'
with open(os.path.join(OUT, 'routers.json'), 'w') as f:
    json.dump({'cases': cases}, f)
with open(os.path.join(OUT, 'moe.json'), 'w') as f:
    json.dump(moe_case(), f)
with open(os.path.join(OUT, 'moh-gating.json'), 'w') as f:
    json.dump(moh_gating_case(), f)
for c in cases:
    print(c['name'], 'dropped', c['droppedAssignments'], 'load', c['load'])
