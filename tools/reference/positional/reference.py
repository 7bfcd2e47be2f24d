"""Golden values for @attnkit/positional, computed independently with PyTorch/numpy in float64.
Run: /usr/bin/python3 tools/reference/positional/reference.py
Writes small JSON fixtures into packages/positional/test/fixtures/."""
import json
import math
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "../../../packages/positional/test/fixtures")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(0)


def dump(name, data):
    def rounded(v):
        if isinstance(v, float):
            return float(f"{v:.7g}")
        if isinstance(v, list):
            return [rounded(x) for x in v]
        if isinstance(v, dict):
            return {k: rounded(x) for k, x in v.items()}
        return v

    with open(os.path.join(OUT, name), "w") as f:
        json.dump(rounded(data), f, separators=(",", ":"))
        f.write("\n")


# ---- sinusoidal (Vaswani et al. 2017, sec. 3.5): the paper's formula, element by element
def sinusoidal(positions, dim, base):
    pe = np.zeros((len(positions), dim))
    for r, pos in enumerate(positions):
        for i in range(0, dim, 2):
            pe[r, i] = math.sin(pos / base ** (i / dim))
            pe[r, i + 1] = math.cos(pos / base ** (i / dim))
    return pe


# ---- 2-D sin-cos (MAE): first half of the channels encodes the row, second half the column
def axis_1d(coord, dim):
    omega = 1.0 / 10000 ** (np.arange(dim // 2) / (dim / 2))
    out = np.outer(coord, omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(height, width, dim):
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.concatenate(
        [axis_1d(rows.reshape(-1), dim // 2), axis_1d(cols.reshape(-1), dim // 2)], axis=1
    )


dump(
    "sinusoidal.json",
    {
        "cases": [
            {"positions": [0, 1, 2, 7, 33, 100], "dim": 8, "base": 10000,
             "values": sinusoidal([0, 1, 2, 7, 33, 100], 8, 10000).tolist()},
            {"positions": [3, 4, 250], "dim": 6, "base": 100,
             "values": sinusoidal([3, 4, 250], 6, 100).tolist()},
        ],
        "grid2d": {"height": 3, "width": 4, "dim": 8, "values": sincos_2d(3, 4, 8).tolist()},
    },
)


# ---- rotary: frequencies per scaling scheme (numpy), rotation in torch
def inv_freq(dim, base, scaling):
    freqs = 1.0 / base ** (np.arange(0, dim, 2) / dim)
    scale = 1.0
    if scaling is None:
        return freqs, scale
    s = scaling["factor"]
    if scaling["type"] == "linear":
        return freqs / s, scale
    if scaling["type"] == "ntk":
        new_base = base * s ** (dim / (dim - 2))
        return 1.0 / new_base ** (np.arange(0, dim, 2) / dim), scale
    # YaRN (Peng et al. 2023): ramp over dims between r = beta_fast and r = beta_slow
    L = scaling["originalMaxPosition"]
    beta_fast = scaling.get("betaFast", 32)
    beta_slow = scaling.get("betaSlow", 1)

    def dim_for_rotations(n):  # solve L / (2 pi / theta_d) = n for d
        return dim * math.log(L / (n * 2 * math.pi)) / (2 * math.log(base))

    low = max(math.floor(dim_for_rotations(beta_fast)), 0)
    high = min(math.ceil(dim_for_rotations(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    gamma = np.clip((np.arange(dim // 2) - low) / (high - low), 0, 1)  # 1 = interpolate
    freqs = freqs / s * gamma + freqs * (1 - gamma)
    mscale = scaling.get("attentionFactor", 0.1 * math.log(s) + 1.0 if s > 1 else 1.0)
    return freqs, mscale**2


def rope_half(x, pos, freqs):  # GPT-NeoX / Hugging Face rotate_half form
    ang = torch.outer(pos, freqs)
    emb = torch.cat([ang, ang], dim=-1)
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    rotated = torch.cat([-x2, x1], dim=-1)
    return x * emb.cos() + rotated * emb.sin()


def rope_interleaved(x, pos, freqs):  # Meta LLaMA / GPT-J complex form
    ang = torch.outer(pos, freqs)
    z = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())
    out = torch.view_as_real(z * torch.polar(torch.ones_like(ang), ang))
    return out.reshape(x.shape)


rope_cases = []
specs = [
    ("plain-half", {"headDim": 8, "layout": "half"}),
    ("plain-interleaved", {"headDim": 8, "layout": "interleaved"}),
    ("base-500", {"headDim": 6, "base": 500, "layout": "half"}),
    ("partial-half", {"headDim": 12, "rotaryDim": 8, "layout": "half"}),
    ("partial-interleaved", {"headDim": 12, "rotaryDim": 4, "layout": "interleaved"}),
    ("linear", {"headDim": 8, "layout": "half", "scaling": {"type": "linear", "factor": 4}}),
    ("ntk", {"headDim": 8, "layout": "interleaved", "scaling": {"type": "ntk", "factor": 8}}),
    ("yarn", {"headDim": 32, "layout": "half",
              "scaling": {"type": "yarn", "factor": 4, "originalMaxPosition": 64}}),
    ("yarn-interleaved-betas", {"headDim": 16, "layout": "interleaved",
                                "scaling": {"type": "yarn", "factor": 16, "originalMaxPosition": 256,
                                            "betaFast": 16, "betaSlow": 2}}),
    ("yarn-attention-factor", {"headDim": 16, "layout": "half",
                               "scaling": {"type": "yarn", "factor": 2, "originalMaxPosition": 32,
                                           "attentionFactor": 1.25}}),
]
for name, cfg in specs:
    dh = cfg["headDim"]
    rd = cfg.get("rotaryDim", dh)
    freqs, logit_scale = inv_freq(rd, cfg.get("base", 10000), cfg.get("scaling"))
    positions = [5, 6, 40, 41]
    x = rng.normal(size=(1, 1, len(positions), dh))
    xt = torch.tensor(x, dtype=torch.float64)
    pt = torch.tensor(positions, dtype=torch.float64)
    ft = torch.tensor(freqs, dtype=torch.float64)
    fn = rope_half if cfg["layout"] == "half" else rope_interleaved
    out = torch.cat([fn(xt[..., :rd], pt, ft), xt[..., rd:]], dim=-1)
    rope_cases.append({"name": name, "config": cfg, "positions": positions, "x": x.tolist(),
                       "expected": out.numpy().tolist(), "invFreq": freqs.tolist(),
                       "logitScale": logit_scale})
dump("rotary.json", {"cases": rope_cases})


# ---- ALiBi slopes: the reference code's rule for non-powers of two
def alibi_slopes(n):
    def pow2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n).is_integer():
        return pow2(n)
    closest = 2 ** math.floor(math.log2(n))
    return pow2(closest) + alibi_slopes(2 * closest)[0::2][: n - closest]


q_pos, k_pos = [0, 1, 2, 3], [0, 1, 2, 3, 4]
slopes4 = torch.tensor(alibi_slopes(4), dtype=torch.float64)
dist = (torch.tensor(k_pos)[None, :] - torch.tensor(q_pos)[:, None]).abs().double()
dump("alibi.json", {
    "slopes": {str(n): alibi_slopes(n) for n in (1, 3, 6, 8, 12, 16)},
    "bias": {"numHeads": 4, "queryPositions": q_pos, "keyPositions": k_pos,
             "values": (-slopes4[:, None, None] * dist).tolist()},
})


# ---- T5 buckets: Mesh TensorFlow / Hugging Face rule, in torch
def t5_bucket(rel, bidirectional, num_buckets, max_distance):
    ret = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        ret += (rel > 0).long() * num_buckets
        n = rel.abs()
    else:
        n = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    is_small = n < max_exact
    large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return ret + torch.where(is_small, n, large)


rel = torch.arange(-300, 301)
t5_cases = []
for bidir, nb, md in [(True, 32, 128), (False, 32, 128), (True, 8, 20), (False, 10, 50)]:
    t5_cases.append({"bidirectional": bidir, "numBuckets": nb, "maxDistance": md,
                     "buckets": t5_bucket(rel, bidir, nb, md).tolist()})
dump("t5.json", {"relative": rel.tolist(), "cases": t5_cases})


# ---- Shaw et al. 2018 eq. 5 key-side term: e_ij += q_i . a^K_clip(j-i) / sqrt(d)
heads, dh, kmax = 2, 4, 2
q_pos, k_pos = [3, 4, 5], [0, 1, 2, 3, 4, 5]
a_k = rng.normal(size=(2 * kmax + 1, dh))
queries = rng.normal(size=(2, heads, len(q_pos), dh))
shaw = np.zeros((2, heads, len(q_pos), len(k_pos)))
for i, qi in enumerate(q_pos):
    for j, kj in enumerate(k_pos):
        a = a_k[min(max(kj - qi, -kmax), kmax) + kmax]
        shaw[:, :, i, j] = queries[:, :, i, :] @ a / math.sqrt(dh)
dump("shaw.json", {"numHeads": heads, "headDim": dh, "maxRelativePosition": kmax,
                   "queryPositions": q_pos, "keyPositions": k_pos, "keyEmbeddings": a_k.tolist(),
                   "queries": queries.tolist(), "values": shaw.tolist()})


# ---- GGD-BAM log-prior (Bianchessi et al. 2025), the authors' parameterisation
heads = 3
shape = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
log_scale = torch.tensor([-1.0, 0.0, -3.0], dtype=torch.float64)
location = torch.tensor([0.0, 0.3, -0.2], dtype=torch.float64)
q_pos, k_pos = [2, 3, 4], [0, 1, 2, 3, 4, 5]
rel = (torch.tensor(k_pos)[None, :] - torch.tensor(q_pos)[:, None]).double()
mu = location.exp() - (-location).exp()
b = rel[None] - mu[:, None, None]
prior = -((b.abs() + 1e-5) ** shape[:, None, None]) * log_scale.exp()[:, None, None]
dump("bam.json", {"numHeads": heads, "shape": shape.tolist(), "logScale": log_scale.tolist(),
                  "location": location.tolist(), "queryPositions": q_pos, "keyPositions": k_pos,
                  "values": prior.tolist()})
print("fixtures written to", os.path.normpath(OUT))
