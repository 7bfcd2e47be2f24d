"""The llama-tiny decoder (pre-norm RMSNorm, rotary GQA, SwiGLU, tied head) in PyTorch, built
from the same preset JSON as @attnkit/models, for the train and generate workloads."""
import math

import torch
import torch.nn.functional as F

from attention import sdpa


class UnsupportedConfig(Exception):
    pass


def expect(config, path, wanted):
    value = config
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value != wanted:
        raise UnsupportedConfig(f"the PyTorch model knows {path} = {wanted!r}, preset has {value!r}")


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x, positions, base=10000.0):
    """Rotary embedding (Su et al. 2021), channel i paired with i + d/2."""
    d = x.shape[-1]
    inv = base ** (-torch.arange(0, d // 2, dtype=torch.float32) * 2 / d)
    angles = positions[:, None].float() * inv[None, :]
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Attention(torch.nn.Module):
    def __init__(self, d_model, num_heads, num_kv_heads):
        super().__init__()
        self.h, self.kv, self.hd = num_heads, num_kv_heads, d_model // num_heads
        self.q = torch.nn.Linear(d_model, num_heads * self.hd, bias=False)
        self.k = torch.nn.Linear(d_model, num_kv_heads * self.hd, bias=False)
        self.v = torch.nn.Linear(d_model, num_kv_heads * self.hd, bias=False)
        self.o = torch.nn.Linear(num_heads * self.hd, d_model, bias=False)

    def forward(self, x, start, cache):
        b, t, _ = x.shape
        positions = torch.arange(start, start + t)
        q = rotate(self.q(x).view(b, t, self.h, self.hd).transpose(1, 2), positions)
        k = rotate(self.k(x).view(b, t, self.kv, self.hd).transpose(1, 2), positions)
        v = self.v(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        rep = self.h // self.kv
        y = sdpa(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), causal=True)
        return self.o(y.transpose(1, 2).reshape(b, t, self.h * self.hd))


class SwiGLU(torch.nn.Module):
    def __init__(self, d_model, hidden):
        super().__init__()
        self.gate = torch.nn.Linear(d_model, hidden, bias=False)
        self.up = torch.nn.Linear(d_model, hidden, bias=False)
        self.down = torch.nn.Linear(hidden, d_model, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(torch.nn.Module):
    def __init__(self, d_model, num_heads, num_kv_heads, hidden):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(d_model), RMSNorm(d_model)
        self.attn = Attention(d_model, num_heads, num_kv_heads)
        self.ff = SwiGLU(d_model, hidden)

    def forward(self, x, start, cache):
        x = x + self.attn(self.norm1(x), start, cache)
        return x + self.ff(self.norm2(x))


class DecoderLM(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        expect(config, "type", "decoder-lm")
        expect(config, "positional.type", "rotary")
        expect(config, "block.mixer.type", "gqa")
        expect(config, "block.feedForward.type", "swiglu")
        expect(config, "block.norm.type", "rms-norm")
        expect(config, "block.placement", "pre")
        if config.get("tieEmbeddings", True) is not True:
            raise UnsupportedConfig("the PyTorch model ties the head to the embedding")
        d = config["dModel"]
        mixer = config["block"]["mixer"]
        self.embed = torch.nn.Embedding(config["vocabSize"], d)
        torch.nn.init.normal_(self.embed.weight, std=1 / math.sqrt(d))
        self.blocks = torch.nn.ModuleList(
            Block(d, mixer["numHeads"], mixer.get("numKvHeads", mixer["numHeads"]),
                  config["block"]["feedForward"]["hiddenDim"])
            for _ in range(config["numLayers"])
        )
        self.final = RMSNorm(d)

    def forward(self, ids, start=0, caches=None):
        h = self.embed(ids)
        for i, block in enumerate(self.blocks):
            h = block(h, start, caches[i] if caches is not None else None)
        return self.final(h) @ self.embed.weight.t()


def prepare_train(case):
    torch.manual_seed(0)
    model = DecoderLM(case["config"])
    opt = torch.optim.AdamW(model.parameters(), lr=case["lr"], betas=(0.9, 0.95), weight_decay=0.1)
    vocab, b, t = case["config"]["vocabSize"], case["batch"], case["seqLen"]
    g = torch.Generator().manual_seed(1)

    def step():
        window = torch.randint(0, vocab, (b, t + 1), generator=g)
        logits = model(window[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), window[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()

    # Reported with the timing: the harness checks it equals attnkit's count of the same config.
    step.info = {"params": sum(p.numel() for p in model.parameters())}
    return step


def prepare_generate(case):
    """Greedy decoding of `prompt`, or of the equal-length `prompts` as one batch."""
    torch.manual_seed(0)
    model = DecoderLM(case["config"]).eval()
    prompts = case.get("prompts") or [case["prompt"]]
    n, use_cache = case["newTokens"], case["useCache"]
    if len({len(p) for p in prompts}) != 1:
        raise UnsupportedConfig("the PyTorch loop decodes prompts of one length")

    def step():
        with torch.no_grad():
            tokens = torch.tensor(prompts)
            caches = [{} for _ in model.blocks] if use_cache else None
            pending = tokens
            for _ in range(n):
                if use_cache:
                    start = tokens.shape[1] - pending.shape[1]
                    logits = model(pending, start, caches)
                else:
                    logits = model(tokens)
                nxt = logits[:, -1].argmax(dim=-1, keepdim=True)
                tokens = torch.cat([tokens, nxt], dim=1)
                pending = nxt

    return step
