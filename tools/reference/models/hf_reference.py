"""Tiny Hugging Face-layout checkpoints and their logits, written out in PyTorch from the HF tensor names.

The `transformers` library is not installable here, so the two architectures are written from
their papers and the Hugging Face modelling code's conventions (tensor names, nn.Linear [out, in]
weights, GPT-2's Conv1D [in, out] weights with q, k, v fused in c_attn):
  - Llama family (Touvron et al. 2023): RMSNorm (Zhang & Sennrich 2019), rotary embeddings in the
    half-split rotate_half layout (Su et al. 2021, eq. 34; GPT-NeoX pairing) with rope_theta and
    linear scaling, grouped-query attention (Ainslie et al. 2023; query head h reads kv head
    h // group), SwiGLU (Shazeer 2020), tied or own head; Mistral's sliding window (Jiang et al.
    2023: query i sees keys j with i - j < sliding_window); Qwen2's q/k/v biases; Llama's
    attention_bias (q, k, v and o).
  - GPT-2 (Radford et al. 2019): learned positions, pre-LayerNorm, gelu_new (tanh approximation),
    biases everywhere, head tied to wte.

Each case: <fixtures>/hf/<name>/{config.json, model.safetensors}; hf_logits.json holds the input
ids and the logits of every case. `load` reads a directory back (what an export must satisfy).
Run: /usr/bin/python3 tools/reference/models/hf_reference.py
Check an attnkit export (a directory per case, named as here) loads here with equal logits:
     /usr/bin/python3 tools/reference/models/hf_reference.py --check <dir-of-exports>
"""
import json
import math
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), '../../../packages/models/test/fixtures/hf')
IDS = [3, 17, 42, 0, 9, 25, 49, 11]


# --- safetensors (https://github.com/huggingface/safetensors): u64 header length, JSON, data ---

def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().to(torch.float32).contiguous().numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(tensors[name].shape),
                        'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def load_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        assert e['dtype'] == 'F32', (name, e['dtype'])
        a, b = e['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dtype='<f4').copy()).reshape(e['shape'])
    return out


def load(directory):
    with open(os.path.join(directory, 'config.json')) as f:
        config = json.load(f)
    return config, load_safetensors(os.path.join(directory, 'model.safetensors'))


# --- Llama / Mistral / Qwen2 ---

def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    a, b = x.chunk(2, -1)
    return torch.cat([-b, a], -1)


def causal_keep(t, window=None):
    q = torch.arange(t)[:, None]
    k = torch.arange(t)[None, :]
    keep = k <= q
    if window is not None:
        keep &= (q - k) < window
    return keep


def linear(x, sd, name, bias=False):
    y = x @ sd[name + '.weight'].T  # nn.Linear stores [out, in]
    return y + sd[name + '.bias'] if bias else y


def llama_forward(c, sd, ids):
    d, heads = c['hidden_size'], c['num_attention_heads']
    kv = c.get('num_key_value_heads', heads)
    hd = c.get('head_dim', d // heads)
    eps = c['rms_norm_eps']
    o_bias = c.get('attention_bias', False)  # Llama's attention_bias: all four projections
    qkv_bias = c['model_type'] == 'qwen2' or o_bias
    window = c.get('sliding_window') if c['model_type'] == 'mistral' else None
    inv = 1.0 / (c.get('rope_theta', 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    scaling = c.get('rope_scaling')
    if scaling:
        assert scaling['rope_type'] == 'linear'
        inv = inv / scaling['factor']
    t = len(ids)
    ang = torch.arange(t, dtype=torch.float64)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1).float()
    sin = torch.cat([ang.sin(), ang.sin()], -1).float()
    x = sd['model.embed_tokens.weight'][torch.tensor(ids)]
    keep = causal_keep(t, window)
    for i in range(c['num_hidden_layers']):
        p = f'model.layers.{i}.'
        h = rms_norm(x, sd[p + 'input_layernorm.weight'], eps)
        q = linear(h, sd, p + 'self_attn.q_proj', qkv_bias).reshape(t, heads, hd).transpose(0, 1)
        k = linear(h, sd, p + 'self_attn.k_proj', qkv_bias).reshape(t, kv, hd).transpose(0, 1)
        v = linear(h, sd, p + 'self_attn.v_proj', qkv_bias).reshape(t, kv, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(heads // kv, 0)
        v = v.repeat_interleave(heads // kv, 0)
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        w = torch.softmax(logits.masked_fill(~keep, float('-inf')), -1)
        a = (w @ v).transpose(0, 1).reshape(t, heads * hd)
        x = x + linear(a, sd, p + 'self_attn.o_proj', o_bias)
        h = rms_norm(x, sd[p + 'post_attention_layernorm.weight'], eps)
        g = torch.nn.functional.silu(linear(h, sd, p + 'mlp.gate_proj')) * linear(h, sd, p + 'mlp.up_proj')
        x = x + linear(g, sd, p + 'mlp.down_proj')
    x = rms_norm(x, sd['model.norm.weight'], eps)
    head = sd['model.embed_tokens.weight'] if c.get('tie_word_embeddings', False) else sd['lm_head.weight']
    return x @ head.T


def llama_weights(c, gen):
    d, heads = c['hidden_size'], c['num_attention_heads']
    kv = c.get('num_key_value_heads', heads)
    hd = c.get('head_dim', d // heads)
    f, vocab = c['intermediate_size'], c['vocab_size']
    r = lambda *s: torch.randn(*s, generator=gen) * 0.3
    sd = {'model.embed_tokens.weight': r(vocab, d), 'model.norm.weight': 1 + r(d)}
    for i in range(c['num_hidden_layers']):
        p = f'model.layers.{i}.'
        sd[p + 'self_attn.q_proj.weight'] = r(heads * hd, d)
        sd[p + 'self_attn.k_proj.weight'] = r(kv * hd, d)
        sd[p + 'self_attn.v_proj.weight'] = r(kv * hd, d)
        sd[p + 'self_attn.o_proj.weight'] = r(d, heads * hd)
        if c['model_type'] == 'qwen2':
            sd[p + 'self_attn.q_proj.bias'] = r(heads * hd)
            sd[p + 'self_attn.k_proj.bias'] = r(kv * hd)
            sd[p + 'self_attn.v_proj.bias'] = r(kv * hd)
        sd[p + 'mlp.gate_proj.weight'] = r(f, d)
        sd[p + 'mlp.up_proj.weight'] = r(f, d)
        sd[p + 'mlp.down_proj.weight'] = r(d, f)
        sd[p + 'input_layernorm.weight'] = 1 + r(d)
        sd[p + 'post_attention_layernorm.weight'] = 1 + r(d)
    if not c.get('tie_word_embeddings', False):
        sd['lm_head.weight'] = r(vocab, d)
    return sd


# --- GPT-2 ---

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) * torch.rsqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


def conv1d(x, sd, name):
    return x @ sd[name + '.weight'] + sd[name + '.bias']  # Conv1D stores [in, out]


def gpt2_forward(c, sd, ids):
    d, heads, eps = c['n_embd'], c['n_head'], c['layer_norm_epsilon']
    hd, t = d // heads, len(ids)
    x = sd['transformer.wte.weight'][torch.tensor(ids)] + sd['transformer.wpe.weight'][:t]
    keep = causal_keep(t)
    for i in range(c['n_layer']):
        p = f'transformer.h.{i}.'
        h = layer_norm(x, sd[p + 'ln_1.weight'], sd[p + 'ln_1.bias'], eps)
        q, k, v = conv1d(h, sd, p + 'attn.c_attn').split(d, -1)
        q, k, v = (z.reshape(t, heads, hd).transpose(0, 1) for z in (q, k, v))
        w = torch.softmax(((q @ k.transpose(-1, -2)) / math.sqrt(hd)).masked_fill(~keep, float('-inf')), -1)
        x = x + conv1d((w @ v).transpose(0, 1).reshape(t, d), sd, p + 'attn.c_proj')
        h = layer_norm(x, sd[p + 'ln_2.weight'], sd[p + 'ln_2.bias'], eps)
        x = x + conv1d(gelu_new(conv1d(h, sd, p + 'mlp.c_fc')), sd, p + 'mlp.c_proj')
    x = layer_norm(x, sd['transformer.ln_f.weight'], sd['transformer.ln_f.bias'], eps)
    return x @ sd['transformer.wte.weight'].T


def gpt2_weights(c, gen):
    d, f = c['n_embd'], c.get('n_inner') or 4 * c['n_embd']
    r = lambda *s: torch.randn(*s, generator=gen) * 0.3
    sd = {'transformer.wte.weight': r(c['vocab_size'], d), 'transformer.wpe.weight': r(c['n_positions'], d),
          'transformer.ln_f.weight': 1 + r(d), 'transformer.ln_f.bias': r(d)}
    for i in range(c['n_layer']):
        p = f'transformer.h.{i}.'
        for n in ('ln_1', 'ln_2'):
            sd[p + n + '.weight'] = 1 + r(d)
            sd[p + n + '.bias'] = r(d)
        for n, shape in (('attn.c_attn', (d, 3 * d)), ('attn.c_proj', (d, d)),
                         ('mlp.c_fc', (d, f)), ('mlp.c_proj', (f, d))):
            sd[p + n + '.weight'] = r(*shape)
            sd[p + n + '.bias'] = r(shape[1])
    return sd


def forward(config, sd, ids):
    return (gpt2_forward if config['model_type'] == 'gpt2' else llama_forward)(config, sd, ids)


LLAMA = {'vocab_size': 50, 'hidden_size': 16, 'intermediate_size': 32, 'num_hidden_layers': 2,
         'num_attention_heads': 4, 'num_key_value_heads': 2, 'max_position_embeddings': 16,
         'rms_norm_eps': 1e-5, 'hidden_act': 'silu', 'torch_dtype': 'float32', 'use_cache': True,
         'bos_token_id': 1, 'eos_token_id': 2, 'initializer_range': 0.02}
CASES = {
    'llama-tied': {**LLAMA, 'model_type': 'llama', 'architectures': ['LlamaForCausalLM'],
                   'rope_theta': 500000.0, 'tie_word_embeddings': True, 'attention_bias': False,
                   'mlp_bias': False, 'rope_scaling': None},
    'llama-untied': {**LLAMA, 'model_type': 'llama', 'architectures': ['LlamaForCausalLM'],
                     'rope_theta': 10000.0, 'tie_word_embeddings': False,
                     'rope_scaling': {'rope_type': 'linear', 'factor': 2.0}},
    'mistral': {**LLAMA, 'model_type': 'mistral', 'architectures': ['MistralForCausalLM'],
                'rope_theta': 10000.0, 'tie_word_embeddings': False, 'sliding_window': 3},
    'qwen2': {**LLAMA, 'model_type': 'qwen2', 'architectures': ['Qwen2ForCausalLM'], 'rope_theta': 1000000.0,
              'tie_word_embeddings': True, 'use_sliding_window': False, 'sliding_window': 16,
              'max_window_layers': 2, 'rms_norm_eps': 1e-6},
    'gpt2': {'model_type': 'gpt2', 'architectures': ['GPT2LMHeadModel'], 'vocab_size': 50, 'n_positions': 16,
             'n_embd': 16, 'n_layer': 2, 'n_head': 4, 'n_inner': None, 'activation_function': 'gelu_new',
             'layer_norm_epsilon': 1e-5, 'resid_pdrop': 0.1, 'embd_pdrop': 0.1, 'attn_pdrop': 0.1,
             'scale_attn_weights': True, 'initializer_range': 0.02, 'bos_token_id': 0, 'eos_token_id': 0,
             'tie_word_embeddings': True},
}


def main():
    logits = {'ids': IDS, 'logits': {}}
    for i, (name, config) in enumerate(CASES.items()):
        gen = torch.Generator().manual_seed(100 + i)
        sd = (gpt2_weights if config['model_type'] == 'gpt2' else llama_weights)(config, gen)
        directory = os.path.join(OUT, name)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, 'config.json'), 'w') as f:
            json.dump(config, f, indent=2)
        save_safetensors(os.path.join(directory, 'model.safetensors'), sd)
        # What the loader reads back from the files, not the tensors in memory.
        config2, sd2 = load(directory)
        with torch.no_grad():
            out = forward(config2, sd2, IDS)
        logits['logits'][name] = [round(x, 6) for x in out.reshape(-1).tolist()]
    with open(os.path.join(OUT, 'hf_logits.json'), 'w') as f:
        json.dump(logits, f)


def check(root):
    with open(os.path.join(OUT, 'hf_logits.json')) as f:
        want = json.load(f)['logits']
    for name in sorted(os.listdir(root)):
        config, sd = load(os.path.join(root, name))
        with torch.no_grad():
            got = forward(config, sd, IDS).reshape(-1)
        err = (got - torch.tensor(want[name])).abs().max().item()
        print(f'{name}: {config["model_type"]}, max abs logit difference {err:.2e}')
        assert err <= 1e-4, name


if __name__ == '__main__':
    import sys
    check(sys.argv[2]) if sys.argv[1:2] == ['--check'] else main()
