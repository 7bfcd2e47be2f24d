"""Golden values for flowformer and agent-attention, written out in PyTorch from the papers.

flowformer (Wu et al. 2022, Flowformer: Flow-Attention), phi = sigmoid, per head:
  bidirectional: I_i = phi(q_i).sum_j phi(k_j), O_j = phi(k_j).sum_i phi(q_i);
    conserved I^_i = phi(q_i).sum_j phi(k_j)/O_j, O^_j = min(1, phi(k_j).sum_i phi(q_i)/I_i);
    competition c = T softmax(O^); allocation sigmoid(I^);
    out_i = sigmoid(I^_i) phi(q_i) sum_j phi(k_j)^T c_j v_j / I_i.
  causal (the paper's causal version): every sum over j <= i, flows normalised by position n = i:
    I_i = phi(q_i).sum_{j<=i} phi(k_j), O_i = phi(k_i).sum_{j<=i} phi(q_j),
    I^_i = phi(q_i).sum_{j<=i} phi(k_j) j/O_j / i, O^_i = min(1, phi(k_i).sum_{j<=i} phi(q_j) j/I_j / i),
    c_i = i exp(O^_i) / sum_{j<=i} exp(O^_j), out_i as above with j <= i.
  Computed token by token with plain loops (independent of attnkit's decomposition into
  linear-attention calls). eps = 1e-6 is added to every flow that divides.
agent-attention (Han et al. 2024, Agent Attention: the agent attention module):
  A = adaptive_avg_pool(Q) [n agents], O = softmax(Q A^T/sqrt(d) + B2) softmax(A K^T/sqrt(d) + B1) V
  + DWC(V), as the authors' code computes it; 1-D agent biases: a table [heads, agents, blocks]
  linearly interpolated (F.interpolate, align_corners=False) to maxLength plus a per-position
  table, first T positions; DWC = depthwise Conv1d, kernel K, padding K//2, with bias.
Weights are [in, out] as attnkit's Linear stores them.
Run: /usr/bin/python3 tools/reference/attention/flow_agent_reference.py
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/flow-agent.json')

B, T, D, H = 2, 7, 8, 2
HD = D // H
EPS = 1e-6


def heads(x):  # [B, T, D] -> [B, H, T, HD]
    return x.reshape(B, T, H, HD).transpose(1, 2)


def merge(x):  # [B, H, T, HD] -> [B, T, D]
    return x.transpose(1, 2).reshape(B, T, D)


def project(x, w, name):
    y = x @ w[f'{name}.weight']
    return y + w[f'{name}.bias'] if f'{name}.bias' in w else y


def flow_head(fq, fk, v, causal):
    """One head: fq, fk [T, HD] (feature-mapped), v [T, HD] -> [T, HD]."""
    t = fq.shape[0]
    if not causal:
        inc = fq @ fk.sum(0)  # I_i
        out = fk @ fq.sum(0)  # O_j
        cons_in = fq @ (fk / (out + EPS)[:, None]).sum(0)
        cons_out = torch.clamp(fk @ (fq / (inc + EPS)[:, None]).sum(0), max=1.0)
        comp = torch.softmax(cons_out, 0) * t
        agg = (fq / (inc + EPS)[:, None]) @ (fk.t() @ (v * comp[:, None]))
        return torch.sigmoid(cons_in)[:, None] * agg
    inc, out = [], []
    for i in range(t):
        inc.append(fq[i] @ fk[: i + 1].sum(0))
        out.append(fk[i] @ fq[: i + 1].sum(0))
    cons_in, cons_out = [], []
    for i in range(t):
        n = i + 1
        src = sum(fk[j] * (j + 1) / (out[j] + EPS) for j in range(n))
        snk = sum(fq[j] * (j + 1) / (inc[j] + EPS) for j in range(n))
        cons_in.append(fq[i] @ src / n)
        cons_out.append(torch.clamp(fk[i] @ snk / n, max=1.0))
    # Source competition: c_j = j exp(O^_j) / sum_{l<=j} exp(O^_l).
    comp = [(j + 1) * torch.exp(cons_out[j]) / sum(torch.exp(cons_out[l]) for l in range(j + 1))
            for j in range(t)]
    rows = []
    for i in range(t):
        n = i + 1
        agg = sum((fq[i] @ fk[j]) * comp[j] * v[j] for j in range(n)) / (inc[i] + EPS)
        rows.append(torch.sigmoid(cons_in[i]) * agg)
    return torch.stack(rows)


def flowformer(x, w, causal):
    q, k, v = (heads(project(x, w, n)) for n in ('q', 'k', 'v'))
    fq, fk = torch.sigmoid(q), torch.sigmoid(k)
    out = torch.stack([
        torch.stack([flow_head(fq[b, h], fk[b, h], v[b, h], causal) for h in range(H)])
        for b in range(B)
    ])
    return project(merge(out), w, 'o')


def agent_attention(x, w, c):
    n, L, blocks, kernel = c['numAgents'], c['maxLength'], c['biasBlocks'], c['kernelSize']
    q_flat = project(x, w, 'q')
    k, v = heads(project(x, w, 'k')), heads(project(x, w, 'v'))
    # Agents: adaptive average pooling of the queries over the sequence, per channel.
    agents = F.adaptive_avg_pool1d(q_flat.transpose(1, 2), n).transpose(1, 2)  # [B, n, D]
    agents = agents.reshape(B, n, H, HD).transpose(1, 2)
    q = heads(q_flat)
    scale = HD ** -0.5
    b1 = F.interpolate(w['agentBias'], size=L, mode='linear', align_corners=False)[:, :, :T]
    b1 = b1 + w['agentPositionBias'][:, :, :T]
    b2 = F.interpolate(w['queryBias'], size=L, mode='linear', align_corners=False)[:, :, :T]
    b2 = b2.transpose(1, 2) + w['queryPositionBias'][:, :T, :]
    agent_attn = torch.softmax(torch.einsum('bhnd,bhtd->bhnt', agents * scale, k) + b1, -1)
    agent_v = torch.einsum('bhnt,bhtd->bhnd', agent_attn, v)
    q_attn = torch.softmax(torch.einsum('bhtd,bhnd->bhtn', q * scale, agents) + b2, -1)
    out = merge(torch.einsum('bhtn,bhnd->bhtd', q_attn, agent_v))
    conv = F.conv1d(merge(v).transpose(1, 2), w['convWeight'][:, None, :], w['convBias'],
                    padding=kernel // 2, groups=D).transpose(1, 2)
    return project(out + conv, w, 'o')


def flat(t):
    return [round(float(a), 9) for a in t.detach().reshape(-1).tolist()]


def projections(bias):
    w = {f'{n}.weight': torch.randn(D, D) * 0.4 for n in ('q', 'k', 'v', 'o')}
    if bias:
        w.update({f'{n}.bias': torch.randn(D) * 0.1 for n in ('q', 'k', 'v', 'o')})
    return w


def case(name, config, w, run):
    x = torch.randn(B, T, D, requires_grad=True)
    probe = torch.randn(B, T, D)
    y = run(x)
    (y * probe).sum().backward()
    return {
        'name': name, 'config': config,
        'weights': {n: flat(t) for n, t in w.items()},
        'shapes': {n: list(t.shape) for n, t in w.items()},
        'x': flat(x), 'probe': flat(probe), 'y': flat(y), 'gradX': flat(x.grad),
        'shape': [B, T, D],
    }


cases = []
for causal in (True, False):
    w = projections(bias=not causal)
    config = {'type': 'flowformer', 'dModel': D, 'numHeads': H, 'causal': causal}
    if not causal:
        config['bias'] = True
    cases.append(case(f"flowformer {'causal' if causal else 'bidirectional'}", config, w,
                      lambda x, w=w, c=causal: flowformer(x, w, c)))

for name, agent, bias in (
    ('agent-attention, T < maxLength', {'numAgents': 3, 'maxLength': 9, 'biasBlocks': 4, 'kernelSize': 3}, False),
    ('agent-attention, T = maxLength, 5-wide conv', {'numAgents': 4, 'maxLength': 7, 'biasBlocks': 3, 'kernelSize': 5}, True),
):
    n, L, blocks, kernel = agent['numAgents'], agent['maxLength'], agent['biasBlocks'], agent['kernelSize']
    w = projections(bias)
    w.update({
        'agentBias': torch.randn(H, n, blocks) * 0.5,
        'agentPositionBias': torch.randn(H, n, L) * 0.5,
        'queryBias': torch.randn(H, n, blocks) * 0.5,
        'queryPositionBias': torch.randn(H, L, n) * 0.5,
        'convWeight': torch.randn(D, kernel) * 0.4,
        'convBias': torch.randn(D) * 0.1,
    })
    config = {'type': 'agent-attention', 'dModel': D, 'numHeads': H, 'bias': bias, **agent}
    cases.append(case(name, config, w, lambda x, w=w, c=agent: agent_attention(x, w, c)))

with open(OUT, 'w') as f:
    json.dump({'cases': cases}, f)
print(f'wrote {OUT}')
