"""Golden values for blockSparseAttention, mergeAttention and the block-topk-mean selector,
written out in PyTorch from the definitions (dense masked attention, no block gathering).

Per case: q, k, v, a block selection (with repeats and -1 slots), the dense output and
log-sum-exp of attention restricted to the selected blocks (causal by position, queries
end-aligned), gradients of sum(output * probe) + sum(lse * probeLse), the outputs and lses of
attention over two disjoint key sets with their merge, and MoBA's gate (mean-pooled q and k,
top-k, causal current block) as sets of block indices.
Run: /usr/bin/python3 tools/reference/attention/block_sparse_reference.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '../../../packages/attention/test/fixtures/block-sparse.json')


def flat(t):
    """Rounded values; -inf (a row with no visible key) as null, since JSON has no infinities."""
    return [None if x == float('-inf') else round(x, 6) for x in t.detach().reshape(-1).tolist()]


def positions(tq, tk):
    return torch.arange(tq) + (tk - tq)  # end-aligned, as sdpa's default


def selection_mask(selected, size, tq, tk, causal):
    """[b, h, tq, tk]: key j is visible to query i when j's block is in i's block's selection."""
    b, h, _, _ = selected.shape
    qpos = positions(tq, tk)
    first = (tk - tq) // size
    mask = torch.zeros(b, h, tq, tk, dtype=torch.bool)
    for bi in range(b):
        for hi in range(h):
            for i in range(tq):
                chosen = {int(x) for x in selected[bi, hi, qpos[i] // size - first] if x >= 0}
                for j in range(tk):
                    mask[bi, hi, i, j] = (j // size) in chosen and (not causal or j <= qpos[i])
    return mask


def masked_attention(q, k, v, mask):
    """softmax over the visible keys only; lse = log Σ_visible exp(logit), -inf when none."""
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    logits = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    logits = logits.masked_fill(~mask, float('-inf'))
    lse = torch.logsumexp(logits, -1)
    weights = torch.exp(logits - lse.unsqueeze(-1).clamp(min=-1e30)).nan_to_num(0.0)
    return weights @ v, lse


def merge(parts):
    lses = torch.stack([l for _, l in parts])
    lse = torch.logsumexp(lses, 0)
    out = sum(torch.exp(l - lse).unsqueeze(-1) * o for o, l in parts)
    return out, lse


def moba_gate(q, k, size, top_k, causal):
    """Per query block: top_k key blocks by <mean q, mean k>; causal: none after, own block in."""
    b, h, tq, _ = q.shape
    tk = k.shape[2]
    k = k.repeat_interleave(h // k.shape[1], dim=1)
    qpos = positions(tq, tk)
    first = (tk - tq) // size
    nqb = int(qpos[-1]) // size - first + 1
    nkb = -(-tk // size)
    out = []
    for bi in range(b):
        for hi in range(h):
            for qb in range(nqb):
                block = first + qb
                rows = [i for i in range(tq) if qpos[i] // size == block]
                qm = q[bi, hi, rows].mean(0)
                scores = {j: float(qm @ k[bi, hi, j * size:(j + 1) * size].mean(0)) for j in range(nkb)}
                cands = [j for j in range(nkb) if not causal or j < block]
                ranked = sorted(cands, key=lambda j: -scores[j])
                chosen = ([block] if causal and block < nkb else []) + ranked
                chosen = sorted(chosen[:top_k])
                out.append(chosen + [-1] * (top_k - len(chosen)))
    return out


cases = []
for name, heads, kv_heads, tq, tk, size, causal, selected in [
    ('causal-ragged', 2, 2, 7, 7, 3, True,
     [[[0, -1], [1, 0], [2, 2]], [[0, 0], [1, -1], [0, 2]]]),
    ('decode-gqa', 4, 2, 3, 9, 4, True,
     [[[1, 0], [2, 1]], [[1, 1], [2, -1]], [[1, -1], [0, 2]], [[0, 1], [2, 2]]]),
    ('not-causal', 2, 1, 6, 6, 2, False,
     [[[0, 2], [1, 1], [2, -1]], [[1, 0], [0, 0], [2, 1]]]),
]:
    q = torch.randn(1, heads, tq, 4, requires_grad=True)
    k = torch.randn(1, kv_heads, tk, 4, requires_grad=True)
    v = torch.randn(1, kv_heads, tk, 3, requires_grad=True)
    sel = torch.tensor([selected])
    mask = selection_mask(sel, size, tq, tk, causal)
    out, lse = masked_attention(q, k, v, mask)
    probe = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    probe_lse = torch.linspace(1, -0.5, lse.numel()).reshape(lse.shape)
    ((out * probe).sum() + (lse * probe_lse).sum()).backward()
    # Two disjoint key sets (keys before and from tk // 2), each with the block selection.
    split = torch.arange(tk) < tk // 2
    parts = [masked_attention(q, k, v, mask & split), masked_attention(q, k, v, mask & ~split)]
    merged_out, merged_lse = merge(parts)
    cases.append({
        'name': name, 'blockSize': size, 'causal': causal,
        'qShape': list(q.shape), 'kShape': list(k.shape), 'vShape': list(v.shape),
        'selected': flat(sel), 'selectedShape': list(sel.shape),
        'q': flat(q), 'k': flat(k), 'v': flat(v), 'probe': flat(probe), 'probeLse': flat(probe_lse),
        'output': flat(out), 'lse': flat(lse),
        'grad_q': flat(q.grad), 'grad_k': flat(k.grad), 'grad_v': flat(v.grad),
        'split': tk // 2,
        'parts': [{'output': flat(o), 'lse': flat(l)} for o, l in parts],
        'merged': {'output': flat(merged_out), 'lse': flat(merged_lse)},
        'gate': moba_gate(q.detach(), k.detach(), size, 2, causal),
    })

with open(OUT, 'w') as f:
    json.dump(cases, f, separators=(',', ':'), allow_nan=False)
print('wrote', len(cases), 'cases to', os.path.normpath(OUT))
