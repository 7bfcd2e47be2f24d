"""Golden values for the @attnkit/models assemblies, computed independently in PyTorch:
an encoder (post-norm, learned positions, padding mask, mean pooling, classifier), an encoder
with NV-Embed latent-attention pooling, a ViT (patches, 2-D sin-cos positions, class token,
final norm, head) and an encoder-decoder (pre-norm, causal decoder cross-attending to a padded
source, tied head). Weights are drawn here and stored under the models' parameter paths.
Run: /usr/bin/python3 tools/reference/models/assemblies.py"""
import json
import math
import os

import numpy as np
import torch

rng = np.random.default_rng(7)
F = torch.nn.functional


def rand(*shape, scale=0.3):
    return torch.tensor(rng.normal(size=shape) * scale, dtype=torch.float32)


class Params(dict):
    """Parameters by attnkit path; Linear weights are [in, out] (y = x W + b)."""

    def linear(self, path, fan_in, fan_out, bias=True):
        self[f"{path}.weight"] = rand(fan_in, fan_out)
        if bias:
            self[f"{path}.bias"] = rand(fan_out, scale=0.1)
        return lambda x: x @ self[f"{path}.weight"] + (self[f"{path}.bias"] if bias else 0)

    def layer_norm(self, path, d):
        self[f"{path}.weight"] = 1 + rand(d, scale=0.1)
        self[f"{path}.bias"] = rand(d, scale=0.1)
        return lambda x: F.layer_norm(x, (d,), self[f"{path}.weight"], self[f"{path}.bias"], 1e-5)

    def attention(self, path, d, heads, bias):
        q, k, v, o = (self.linear(f"{path}.{n}", d, d, bias) for n in "qkvo")
        hd = d // heads

        def run(x, memory=None, causal=False, key_mask=None):
            src = x if memory is None else memory
            b, t, _ = x.shape
            s = src.shape[1]
            split = lambda y, n: y.view(b, n, heads, hd).transpose(1, 2)
            logits = split(q(x), t) @ split(k(src), s).transpose(-1, -2) / math.sqrt(hd)
            allowed = torch.ones(b, 1, t, s, dtype=torch.bool)
            if causal:
                allowed = allowed & torch.tril(torch.ones(t, s, dtype=torch.bool))
            if key_mask is not None:
                allowed = allowed & key_mask.bool()[:, None, None, :]
            weights = logits.masked_fill(~allowed, float("-inf")).softmax(-1)
            return o((weights @ split(v(src), s)).transpose(1, 2).reshape(b, t, d))

        return run

    def mlp(self, path, d, hidden):
        up, down = self.linear(f"{path}.up", d, hidden), self.linear(f"{path}.down", hidden, d)
        return lambda x: down(F.gelu(up(x)))


def masked_mean(h, mask):
    w = mask[:, :, None]
    return (h * w).sum(1) / w.sum(1).clamp(min=1)


def block_layout(mixer, norm_type, placement=None, ff=16):
    block = {
        "mixer": mixer,
        "feedForward": {"type": "mlp", "hiddenDim": ff, "activation": "gelu"},
        "norm": {"type": norm_type},
    }
    if placement:
        block["placement"] = placement
    return block


def encoder_case(pooling):
    d, heads, layers, vocab, t = 8, 2, 2, 11, 5
    p = Params()
    p["embed.weight"] = rand(vocab, d)
    p["positional.weight"] = rand(6, d)
    blocks = []
    for i in range(layers):
        blocks.append(
            (
                p.attention(f"layers_{i}.mixer", d, heads, bias=True),
                p.layer_norm(f"layers_{i}.norm1", d),
                p.mlp(f"layers_{i}.ff", d, 16),
                p.layer_norm(f"layers_{i}.norm2", d),
            )
        )
    config = {
        "type": "encoder",
        "vocabSize": vocab,
        "dModel": d,
        "numLayers": layers,
        "maxLength": 6,
        "positional": {"type": "learned"},
        "block": block_layout({"type": "mha", "numHeads": heads, "bias": True}, "layer-norm", "post"),
        "pooling": pooling,
        "numClasses": 3,
    }
    if pooling == "latent":
        config["latent"] = {"numLatents": 3, "numHeads": 2, "hiddenDim": 12}
        p["readout.latent.latents"] = rand(3, d)
        cross = p.attention("readout.latent.block.mixer", d, 2, bias=False)
        mlp = p.mlp("readout.latent.block.ff", d, 12)
        n1 = p.layer_norm("readout.latent.block.norm1", d)
        n2 = p.layer_norm("readout.latent.block.norm2", d)
    head = p.linear("readout.classifier", d, 3)
    ids = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]])
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float32)
    h = p["embed.weight"][ids] + p["positional.weight"][:t]
    for attn, norm1, mlp_i, norm2 in blocks:  # post-norm: norm(x + f(x))
        h = norm1(h + attn(h, key_mask=mask))
        h = norm2(h + mlp_i(h))
    if pooling == "latent":  # NV-Embed: tokens query the latent array, then an MLP, then the mean
        latents = p["readout.latent.latents"].expand(ids.shape[0], 3, d)
        x = h + cross(n1(h), memory=latents)
        x = x + mlp(n2(x))
        pooled = masked_mean(x, mask)
    else:
        pooled = masked_mean(h, mask)
    return config, p, {"ids": ids.tolist(), "mask": mask.tolist()}, head(pooled)


def sincos(positions, dim):
    half = dim // 2
    omega = torch.tensor([10000 ** (-i / half) for i in range(half)])
    angles = positions[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


def vit_case():
    size, patch, ch, d, heads = 8, 4, 2, 8, 2
    g = size // patch
    p = Params()
    p["classToken"] = rand(1, 1, d)
    project = p.linear("patches.projection", patch * patch * ch, d)
    attn = p.attention("layers_0.mixer", d, heads, bias=False)
    n1, n2 = p.layer_norm("layers_0.norm1", d), p.layer_norm("layers_0.norm2", d)
    mlp = p.mlp("layers_0.ff", d, 16)
    final = p.layer_norm("finalNorm", d)
    head = p.linear("readout.classifier", d, 3)
    images = rand(2, size, size, ch, scale=1.0)
    # A PxP convolution with stride P, weight [out, C, P, P] from the [P*P*C, out] projection.
    weight = p["patches.projection.weight"].view(patch, patch, ch, d).permute(3, 2, 0, 1)
    conv = F.conv2d(images.permute(0, 3, 1, 2), weight, p["patches.projection.bias"], stride=patch)
    tokens = conv.flatten(2).transpose(1, 2)  # [b, g*g, d], row-major patches
    index = torch.arange(g * g, dtype=torch.float32)
    pos = torch.cat([sincos(torch.floor(index / g), d // 2), sincos(index % g, d // 2)], 1)
    h = torch.cat([p["classToken"].expand(2, 1, d), tokens + pos], 1)
    h = h + attn(n1(h))
    h = h + mlp(n2(h))
    logits = head(final(h)[:, 0])
    config = {
        "type": "vit",
        "imageSize": size,
        "patchSize": patch,
        "channels": ch,
        "dModel": d,
        "numLayers": 1,
        "numClasses": 3,
        "block": block_layout({"type": "mha", "numHeads": heads}, "layer-norm"),
    }
    assert torch.allclose(project(images.view(2, g, patch, g, patch, ch).permute(0, 1, 3, 2, 4, 5).reshape(2, g * g, -1)), tokens, atol=1e-5)
    return config, p, {"images": images.tolist()}, logits


def seq2seq_case():
    d, heads, vocab = 8, 2, 13
    p = Params()
    p["embed.weight"] = rand(vocab, d)
    p["encoderPositional.weight"] = rand(6, d)
    p["decoderPositional.weight"] = rand(6, d)
    enc = (
        p.attention("encoder_0.mixer", d, heads, bias=False),
        p.layer_norm("encoder_0.norm1", d),
        p.mlp("encoder_0.ff", d, 16),
        p.layer_norm("encoder_0.norm2", d),
    )
    self_attn = p.attention("decoder_0.mixer", d, heads, bias=False)
    cross = p.attention("decoder_0.cross", d, heads, bias=False)
    dn1, dnc, dn2 = (p.layer_norm(f"decoder_0.{n}", d) for n in ("norm1", "normCross", "norm2"))
    dmlp = p.mlp("decoder_0.ff", d, 16)
    enc_norm, dec_norm = p.layer_norm("encoderNorm", d), p.layer_norm("decoderNorm", d)
    src = torch.tensor([[1, 2, 3, 0], [4, 5, 6, 7]])
    src_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.float32)
    tgt = torch.tensor([[8, 9, 10], [11, 12, 1]])
    h = p["embed.weight"][src] + p["encoderPositional.weight"][:4]
    attn, n1, mlp, n2 = enc
    h = h + attn(n1(h), key_mask=src_mask)
    h = h + mlp(n2(h))
    memory = enc_norm(h)
    y = p["embed.weight"][tgt] + p["decoderPositional.weight"][:3]
    y = y + self_attn(dn1(y), causal=True)
    y = y + cross(dnc(y), memory=memory, key_mask=src_mask)
    y = y + dmlp(dn2(y))
    logits = dec_norm(y) @ p["embed.weight"].T
    config = {
        "type": "encoder-decoder",
        "vocabSize": vocab,
        "dModel": d,
        "encoderLayers": 1,
        "decoderLayers": 1,
        "maxLength": 6,
        "positional": {"type": "learned"},
        "block": block_layout({"type": "mha", "numHeads": heads}, "layer-norm"),
    }
    return config, p, {"src": src.tolist(), "srcMask": src_mask.tolist(), "tgt": tgt.tolist()}, logits


def rounded(x):
    """Nested lists with 7 decimals: the fixture stays small, float32 values barely move."""
    return [rounded(v) for v in x] if isinstance(x, list) else round(x, 7)


cases = {}
for name, (config, params, inputs, expected) in {
    "encoder-mean": encoder_case("mean"),
    "encoder-latent": encoder_case("latent"),
    "vit": vit_case(),
    "encoder-decoder": seq2seq_case(),
}.items():
    cases[name] = {
        "config": config,
        "params": {k: rounded(v.tolist()) for k, v in params.items()},
        "inputs": {k: rounded(v) for k, v in inputs.items()},
        "expected": rounded(expected.detach().tolist()),
    }

path = os.path.join(os.path.dirname(__file__), "../../../packages/models/test/fixtures/assemblies.json")
with open(path, "w") as f:
    json.dump(cases, f)
print("wrote", os.path.normpath(path))
