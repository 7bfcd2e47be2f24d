"""Tiny Hugging Face-layout BERT and ViT checkpoints and their outputs, written in PyTorch from the HF tensor names.

The `transformers` library is not installable here, so both architectures are written from their
papers and the Hugging Face modelling code's conventions (tensor names, nn.Linear [out, in]
weights, the extended attention mask that adds the dtype's minimum to padded keys):
  - BERT (Devlin et al. 2019): word + learned position + token-type embeddings, LayerNorm; post-LN
    blocks (attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
    intermediate.dense, output.{dense,LayerNorm}); BertModel's tanh pooler on [CLS]; the MLM head
    (cls.predictions.transform.{dense,LayerNorm}, decoder tied to the word embeddings, plus
    cls.predictions.bias); BertForSequenceClassification's classifier on the pooler. BertModel's
    tensors have no prefix, the heads' models put the encoder under `bert.`.
  - ViT (Dosovitskiy et al. 2021, eqs. 1-4): P x P stride-P Conv2d patch embedding (NCHW pixels),
    class token, position_embeddings [1, N + 1, d] over the class token and the patches, pre-LN
    blocks (layernorm_before, attention.attention.{query,key,value}, attention.output.dense,
    layernorm_after, intermediate.dense, output.dense), final layernorm; ViTModel's tanh pooler,
    ViTForImageClassification's classifier (encoder under `vit.`) on the class token.

Each case: <fixtures>/hf/<name>/{config.json, model.safetensors}; hf_encoders.json holds the
inputs (ids, token types, padding mask, NCHW pixels) and every case's outputs.
Run: /usr/bin/python3 tools/reference/models/hf_encoders_reference.py
Check attnkit exports (a directory per case, named as here) give the same outputs here:
     /usr/bin/python3 tools/reference/models/hf_encoders_reference.py --check <dir-of-exports>
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from hf_reference import layer_norm, load, save_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), '../../../packages/models/test/fixtures/hf')
IDS = [2, 17, 29, 0, 9, 25, 11, 3]
TYPES = [0, 0, 0, 0, 1, 1, 1, 1]
MASK = [1, 1, 1, 1, 1, 1, 0, 0]
PIXEL_SEED = 7


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


ACT = {'gelu': gelu, 'gelu_new': gelu_tanh, 'relu': torch.relu}


def linear(x, sd, name, bias=True):
    y = x @ sd[name + '.weight'].T  # nn.Linear stores [out, in]
    return y + sd[name + '.bias'] if bias else y


def ln(x, sd, name, eps):
    return layer_norm(x, sd[name + '.weight'], sd[name + '.bias'], eps)


def attention(x, sd, q_name, k_name, v_name, heads, mask=None, qkv_bias=True):
    t, d = x.shape
    hd = d // heads
    q, k, v = (linear(x, sd, n, qkv_bias).reshape(t, heads, hd).transpose(0, 1) for n in (q_name, k_name, v_name))
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    if mask is not None:  # HF's extended mask: (1 - mask) * finfo.min on the keys
        scores = scores + (1.0 - torch.tensor(mask, dtype=torch.float32))[None, None, :] * torch.finfo(torch.float32).min
    return (torch.softmax(scores, -1) @ v).transpose(0, 1).reshape(t, d)


# --- BERT ---

def bert_prefix(c):
    return '' if c['architectures'][0] == 'BertModel' else 'bert.'


def bert_forward(c, sd, ids, types, mask):
    p, eps, heads = bert_prefix(c), c['layer_norm_eps'], c['num_attention_heads']
    act = ACT[c['hidden_act']]
    t = len(ids)
    x = (sd[p + 'embeddings.word_embeddings.weight'][torch.tensor(ids)]
         + sd[p + 'embeddings.token_type_embeddings.weight'][torch.tensor(types)]
         + sd[p + 'embeddings.position_embeddings.weight'][:t])
    x = ln(x, sd, p + 'embeddings.LayerNorm', eps)
    for i in range(c['num_hidden_layers']):
        h = f'{p}encoder.layer.{i}.'
        s = h + 'attention.self.'
        a = attention(x, sd, s + 'query', s + 'key', s + 'value', heads, mask)
        x = ln(linear(a, sd, h + 'attention.output.dense') + x, sd, h + 'attention.output.LayerNorm', eps)
        f = act(linear(x, sd, h + 'intermediate.dense'))
        x = ln(linear(f, sd, h + 'output.dense') + x, sd, h + 'output.LayerNorm', eps)
    out = {'hidden': x}
    if p + 'pooler.dense.weight' in sd:
        out['pooled'] = torch.tanh(linear(x[0], sd, p + 'pooler.dense'))
    arch = c['architectures'][0]
    if arch == 'BertForMaskedLM':
        z = ln(act(linear(x, sd, 'cls.predictions.transform.dense')), sd, 'cls.predictions.transform.LayerNorm', eps)
        out['logits'] = z @ sd['bert.embeddings.word_embeddings.weight'].T + sd['cls.predictions.bias']
    if arch == 'BertForSequenceClassification':
        out['logits'] = linear(out['pooled'], sd, 'classifier')
    return out


def bert_weights(c, gen, pooler):
    d, f, p = c['hidden_size'], c['intermediate_size'], bert_prefix(c)
    r = lambda *s: torch.randn(*s, generator=gen) * 0.3
    sd = {p + 'embeddings.word_embeddings.weight': r(c['vocab_size'], d),
          p + 'embeddings.position_embeddings.weight': r(c['max_position_embeddings'], d),
          p + 'embeddings.token_type_embeddings.weight': r(c['type_vocab_size'], d)}

    def add_linear(name, out, inp):
        sd[name + '.weight'] = r(out, inp)
        sd[name + '.bias'] = r(out)

    def add_ln(name):
        sd[name + '.weight'] = 1 + r(d)
        sd[name + '.bias'] = r(d)

    add_ln(p + 'embeddings.LayerNorm')
    for i in range(c['num_hidden_layers']):
        h = f'{p}encoder.layer.{i}.'
        for n in ('query', 'key', 'value'):
            add_linear(h + 'attention.self.' + n, d, d)
        add_linear(h + 'attention.output.dense', d, d)
        add_ln(h + 'attention.output.LayerNorm')
        add_linear(h + 'intermediate.dense', f, d)
        add_linear(h + 'output.dense', d, f)
        add_ln(h + 'output.LayerNorm')
    if pooler:
        add_linear(p + 'pooler.dense', d, d)
    arch = c['architectures'][0]
    if arch == 'BertForMaskedLM':
        add_linear('cls.predictions.transform.dense', d, d)
        add_ln('cls.predictions.transform.LayerNorm')
        sd['cls.predictions.bias'] = r(c['vocab_size'])
    if arch == 'BertForSequenceClassification':
        add_linear('classifier', len(c['id2label']), d)
    return sd


# --- ViT ---

def vit_prefix(c):
    return '' if c['architectures'][0] == 'ViTModel' else 'vit.'


def vit_forward(c, sd, pixels):
    p, eps, heads = vit_prefix(c), c['layer_norm_eps'], c['num_attention_heads']
    act, qkv_bias = ACT[c['hidden_act']], c.get('qkv_bias', True)
    e = p + 'embeddings.'
    conv = torch.nn.functional.conv2d(pixels[None], sd[e + 'patch_embeddings.projection.weight'],
                                      sd[e + 'patch_embeddings.projection.bias'], stride=c['patch_size'])
    patches = conv.flatten(2).transpose(1, 2)[0]  # [N, d], patches in row-major order
    x = torch.cat([sd[e + 'cls_token'][0], patches], 0) + sd[e + 'position_embeddings'][0]
    for i in range(c['num_hidden_layers']):
        h = f'{p}encoder.layer.{i}.'
        s = h + 'attention.attention.'
        a = attention(ln(x, sd, h + 'layernorm_before', eps), sd, s + 'query', s + 'key', s + 'value', heads,
                      qkv_bias=qkv_bias)
        x = x + linear(a, sd, h + 'attention.output.dense')
        f = act(linear(ln(x, sd, h + 'layernorm_after', eps), sd, h + 'intermediate.dense'))
        x = x + linear(f, sd, h + 'output.dense')
    x = ln(x, sd, p + 'layernorm', eps)
    out = {'hidden': x}
    if p + 'pooler.dense.weight' in sd:
        out['pooled'] = torch.tanh(linear(x[0], sd, p + 'pooler.dense'))
    if c['architectures'][0] == 'ViTForImageClassification':
        out['logits'] = linear(x[0], sd, 'classifier')
    return out


def vit_weights(c, gen, pooler):
    d, f, p = c['hidden_size'], c['intermediate_size'], vit_prefix(c)
    ch, ps = c['num_channels'], c['patch_size']
    n = (c['image_size'] // ps) ** 2 + 1
    r = lambda *s: torch.randn(*s, generator=gen) * 0.3
    e = p + 'embeddings.'
    sd = {e + 'cls_token': r(1, 1, d), e + 'position_embeddings': r(1, n, d),
          e + 'patch_embeddings.projection.weight': r(d, ch, ps, ps),
          e + 'patch_embeddings.projection.bias': r(d)}

    def add_linear(name, out, inp, bias=True):
        sd[name + '.weight'] = r(out, inp)
        if bias:
            sd[name + '.bias'] = r(out)

    def add_ln(name):
        sd[name + '.weight'] = 1 + r(d)
        sd[name + '.bias'] = r(d)

    for i in range(c['num_hidden_layers']):
        h = f'{p}encoder.layer.{i}.'
        for nm in ('query', 'key', 'value'):
            add_linear(h + 'attention.attention.' + nm, d, d, c.get('qkv_bias', True))
        add_linear(h + 'attention.output.dense', d, d)
        add_ln(h + 'layernorm_before')
        add_ln(h + 'layernorm_after')
        add_linear(h + 'intermediate.dense', f, d)
        add_linear(h + 'output.dense', d, f)
    add_ln(p + 'layernorm')
    if pooler:
        add_linear(p + 'pooler.dense', d, d)
    if c['architectures'][0] == 'ViTForImageClassification':
        add_linear('classifier', len(c['id2label']), d)
    return sd


def pixels_of(c):
    gen = torch.Generator().manual_seed(PIXEL_SEED)
    return torch.randn(c['num_channels'], c['image_size'], c['image_size'], generator=gen)


def labels(n):
    return {'id2label': {str(i): f'LABEL_{i}' for i in range(n)}, 'label2id': {f'LABEL_{i}': i for i in range(n)}}


BERT = {'model_type': 'bert', 'vocab_size': 30, 'hidden_size': 16, 'num_hidden_layers': 2, 'num_attention_heads': 4,
        'intermediate_size': 32, 'hidden_act': 'gelu', 'hidden_dropout_prob': 0.1,
        'attention_probs_dropout_prob': 0.1, 'max_position_embeddings': 12, 'type_vocab_size': 2,
        'initializer_range': 0.02, 'layer_norm_eps': 1e-12, 'pad_token_id': 0, 'position_embedding_type': 'absolute',
        'use_cache': True, 'classifier_dropout': None, 'torch_dtype': 'float32', 'transformers_version': '4.40.0'}
VIT = {'model_type': 'vit', 'hidden_size': 16, 'num_hidden_layers': 2, 'num_attention_heads': 4,
       'intermediate_size': 32, 'hidden_act': 'gelu', 'hidden_dropout_prob': 0.0, 'attention_probs_dropout_prob': 0.0,
       'initializer_range': 0.02, 'layer_norm_eps': 1e-12, 'image_size': 8, 'patch_size': 4, 'num_channels': 3,
       'qkv_bias': True, 'encoder_stride': 4, 'torch_dtype': 'float32'}
# name: (config, with pooler, padding mask)
CASES = {
    'bert-mlm': ({**BERT, 'architectures': ['BertForMaskedLM'], **labels(2)}, False, None),
    'bert-cls': ({**BERT, 'architectures': ['BertForSequenceClassification'], 'num_hidden_layers': 1,
                  'hidden_act': 'gelu_new', 'type_vocab_size': 3, **labels(3)}, True, MASK),
    'bert-model': ({**BERT, 'architectures': ['BertModel'], 'num_hidden_layers': 1}, True, None),
    'vit-cls': ({**VIT, 'architectures': ['ViTForImageClassification'], **labels(5)}, False, None),
    'vit-model': ({**VIT, 'architectures': ['ViTModel'], 'num_hidden_layers': 1, 'num_channels': 2,
                   'qkv_bias': False}, True, None),
}


def forward(config, sd, mask):
    if config['model_type'] == 'bert':
        return bert_forward(config, sd, IDS, TYPES, mask)
    return vit_forward(config, sd, pixels_of(config))


def rounded(t):
    return [round(x, 6) for x in t.reshape(-1).tolist()]


def main():
    fixture = {'ids': IDS, 'tokenTypes': TYPES, 'mask': MASK, 'pixels': {}, 'outputs': {}}
    for i, (name, (config, pooler, mask)) in enumerate(CASES.items()):
        gen = torch.Generator().manual_seed(200 + i)
        sd = (bert_weights if config['model_type'] == 'bert' else vit_weights)(config, gen, pooler)
        directory = os.path.join(OUT, name)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, 'config.json'), 'w') as f:
            json.dump(config, f, indent=2)
        save_safetensors(os.path.join(directory, 'model.safetensors'), sd)
        config2, sd2 = load(directory)  # what the loader reads back from the files
        with torch.no_grad():
            out = forward(config2, sd2, mask)
        fixture['outputs'][name] = {k: rounded(v) for k, v in out.items()}
        if config['model_type'] == 'vit':
            fixture['pixels'][name] = rounded(pixels_of(config))  # NCHW, one image
    with open(os.path.join(OUT, 'hf_encoders.json'), 'w') as f:
        json.dump(fixture, f)


def check(root):
    with open(os.path.join(OUT, 'hf_encoders.json')) as f:
        want = json.load(f)['outputs']
    for name in sorted(os.listdir(root)):
        config, sd = load(os.path.join(root, name))
        with torch.no_grad():
            got = forward(config, sd, CASES[name][2])
        for k, v in want[name].items():
            err = (got[k].reshape(-1) - torch.tensor(v)).abs().max().item()
            print(f'{name} {k}: {config["architectures"][0]}, max abs difference {err:.2e}')
            assert err <= 1e-4, (name, k)


if __name__ == '__main__':
    check(sys.argv[2]) if sys.argv[1:2] == ['--check'] else main()
