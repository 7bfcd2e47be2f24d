// GPT-2 (Radford et al. 2019) in Hugging Face's layout: learned positions (wpe), pre-LayerNorm
// blocks, Conv1D weights stored [in, out] (attnkit's own layout, no transpose) with q, k, v fused
// column-wise in c_attn, biases everywhere, head tied to wte.
import { ConfigError } from '@attnkit/core';
import type { DecoderLmConfig } from '../../assemblies/decoder-lm';
import {
  type FieldReader,
  type HfConfig,
  type TensorMapping,
  fused,
  same,
  transposed,
} from './mapping';

export interface Gpt2Shape {
  vocabSize: number;
  dModel: number;
  numLayers: number;
  numHeads: number;
  hiddenDim: number;
  maxLength: number;
  eps: number;
  activation: 'gelu-tanh' | 'gelu' | 'relu';
  tied: boolean;
}

/** HF activation_function -> attnkit activation (gelu_new is the tanh approximation). */
const ACTIVATIONS: Record<string, Gpt2Shape['activation']> = {
  gelu_new: 'gelu-tanh',
  gelu_pytorch_tanh: 'gelu-tanh',
  gelu: 'gelu',
  relu: 'relu',
};

const exportError = (argument: string, expected: string, actual: unknown) =>
  new ConfigError('exportHuggingFace', argument, expected, JSON.stringify(actual) ?? 'nothing');

export function readGpt2(r: FieldReader): Gpt2Shape {
  const dModel = r.int('n_embd');
  const act = r.raw('activation_function') ?? 'gelu_new';
  const activation = ACTIVATIONS[act as string];
  if (!activation) r.fail('activation_function', Object.keys(ACTIVATIONS).join(', '), act);
  const maxLength = r.int('n_positions');
  const shape: Gpt2Shape = {
    vocabSize: r.int('vocab_size'),
    dModel,
    numLayers: r.int('n_layer'),
    numHeads: r.int('n_head'),
    hiddenDim: r.int('n_inner', 4 * dModel),
    maxLength,
    eps: r.num('layer_norm_epsilon', 1e-5),
    activation,
    tied: r.bool('tie_word_embeddings', true),
  };
  r.only('n_ctx', maxLength, 'the context is n_positions');
  r.only('scale_attn_weights', true, 'logits are scaled by 1/sqrt(headDim)');
  r.only('scale_attn_by_inverse_layer_idx', false, 'no per-layer logit scale');
  r.only('add_cross_attention', false, 'a decoder-only model');
  r.finish();
  return shape;
}

export function gpt2Config(s: Gpt2Shape): DecoderLmConfig {
  return {
    type: 'decoder-lm',
    vocabSize: s.vocabSize,
    dModel: s.dModel,
    numLayers: s.numLayers,
    maxLength: s.maxLength,
    tieEmbeddings: s.tied,
    positional: { type: 'learned' },
    block: {
      mixer: { type: 'mha', numHeads: s.numHeads, bias: true },
      feedForward: { type: 'mlp', hiddenDim: s.hiddenDim, activation: s.activation, bias: true },
      norm: { type: 'layer-norm', eps: s.eps },
      placement: 'pre',
    },
    finalNorm: { type: 'layer-norm', eps: s.eps },
  } as DecoderLmConfig;
}

type Obj = Record<string, unknown>;

function extraKeys(obj: Obj, allowed: string[], path: string): void {
  for (const [k, v] of Object.entries(obj)) {
    if (!allowed.includes(k) && v !== undefined)
      throw exportError(`${path}.${k}`, 'no such field (no GPT-2 field holds it)', v);
  }
}

/** The GPT-2 shape of an attnkit decoder-lm, or a ConfigError naming what GPT-2 cannot hold. */
export function gpt2ShapeOf(config: Obj): Gpt2Shape {
  extraKeys(
    config,
    [
      'type',
      'vocabSize',
      'dModel',
      'numLayers',
      'maxLength',
      'tieEmbeddings',
      'positional',
      'block',
      'finalNorm',
      'linearInit',
    ],
    '$',
  );
  const pos = config.positional as Obj;
  const block = config.block as Obj;
  const mixer = block.mixer as Obj;
  const ff = block.feedForward as Obj;
  const norm = (block.norm ?? { type: 'rms-norm' }) as Obj; // the block's default
  const finalNorm = config.finalNorm as Obj;
  if (pos?.type !== 'learned') throw exportError('$.positional.type', "'learned'", pos?.type);
  extraKeys(block, ['mixer', 'feedForward', 'norm', 'placement', 'dropout', 'parallel'], '$.block');
  if (block.parallel) throw exportError('$.block.parallel', 'false', true);
  if ((block.placement ?? 'pre') !== 'pre')
    throw exportError('$.block.placement', "'pre'", block.placement);
  if (mixer.type !== 'mha') throw exportError('$.block.mixer.type', "'mha'", mixer.type);
  extraKeys(mixer, ['type', 'dModel', 'numHeads', 'bias', 'causal'], '$.block.mixer');
  if (mixer.bias !== true) throw exportError('$.block.mixer.bias', 'true', mixer.bias);
  if (mixer.causal === false) throw exportError('$.block.mixer.causal', 'true', false);
  if (ff.type !== 'mlp') throw exportError('$.block.feedForward.type', "'mlp'", ff.type);
  extraKeys(ff, ['type', 'dim', 'hiddenDim', 'activation', 'bias'], '$.block.feedForward');
  if (ff.bias === false) throw exportError('$.block.feedForward.bias', 'true', false);
  const activation = (ff.activation ?? 'gelu') as Gpt2Shape['activation'];
  if (!Object.values(ACTIVATIONS).includes(activation))
    throw exportError('$.block.feedForward.activation', 'gelu-tanh, gelu or relu', activation);
  for (const [path, n] of [
    ['$.block.norm', norm],
    ['$.finalNorm', finalNorm],
  ] as const) {
    if (n.type !== 'layer-norm') throw exportError(`${path}.type`, "'layer-norm'", n.type);
    extraKeys(n, ['type', 'dim', 'eps'], path);
  }
  if ((norm.eps ?? 1e-5) !== (finalNorm.eps ?? 1e-5))
    throw exportError(
      '$.finalNorm.eps',
      `the blocks' eps ${String(norm.eps ?? 1e-5)}`,
      finalNorm.eps ?? 1e-5,
    );
  return {
    vocabSize: config.vocabSize as number,
    dModel: config.dModel as number,
    numLayers: config.numLayers as number,
    numHeads: mixer.numHeads as number,
    hiddenDim: ff.hiddenDim as number,
    maxLength: config.maxLength as number,
    eps: (norm.eps as number | undefined) ?? 1e-5,
    activation,
    tied: (config.tieEmbeddings as boolean | undefined) ?? true,
  };
}

export function gpt2HfConfig(s: Gpt2Shape): HfConfig {
  const act = Object.entries(ACTIVATIONS).find(([, v]) => v === s.activation)![0];
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: s.vocabSize,
    n_positions: s.maxLength,
    n_embd: s.dModel,
    n_layer: s.numLayers,
    n_head: s.numHeads,
    n_inner: s.hiddenDim,
    activation_function: act,
    layer_norm_epsilon: s.eps,
    tie_word_embeddings: s.tied,
    torch_dtype: 'float32',
  };
}

export function gpt2Tensors(s: Gpt2Shape): TensorMapping[] {
  const { dModel: d, hiddenDim: f } = s;
  const out = [
    same('transformer.wte.weight', 'embed.weight', [s.vocabSize, d]),
    same('transformer.wpe.weight', 'positional.weight', [s.maxLength, d]),
  ];
  for (let i = 0; i < s.numLayers; i++) {
    const p = `transformer.h.${i}.`;
    const a = `layers_${i}.`;
    const qkv = ['q', 'k', 'v'].map((n) => `${a}mixer.${n}`);
    out.push(
      fused(
        `${p}attn.c_attn.weight`,
        qkv.map((n) => `${n}.weight`),
        [d, 3 * d],
        1,
      ),
    );
    out.push(
      fused(
        `${p}attn.c_attn.bias`,
        qkv.map((n) => `${n}.bias`),
        [3 * d],
        0,
      ),
    );
    out.push(same(`${p}attn.c_proj.weight`, `${a}mixer.o.weight`, [d, d]));
    out.push(same(`${p}attn.c_proj.bias`, `${a}mixer.o.bias`, [d]));
    out.push(same(`${p}mlp.c_fc.weight`, `${a}ff.up.weight`, [d, f]));
    out.push(same(`${p}mlp.c_fc.bias`, `${a}ff.up.bias`, [f]));
    out.push(same(`${p}mlp.c_proj.weight`, `${a}ff.down.weight`, [f, d]));
    out.push(same(`${p}mlp.c_proj.bias`, `${a}ff.down.bias`, [d]));
    for (const [hf, ak] of [
      ['ln_1', 'norm1'],
      ['ln_2', 'norm2'],
    ]) {
      out.push(same(`${p}${hf}.weight`, `${a}${ak}.weight`, [d]));
      out.push(same(`${p}${hf}.bias`, `${a}${ak}.bias`, [d]));
    }
  }
  out.push(same('transformer.ln_f.weight', 'finalNorm.weight', [d]));
  out.push(same('transformer.ln_f.bias', 'finalNorm.bias', [d]));
  if (!s.tied) {
    // GPT2LMHeadModel's lm_head is an nn.Linear [vocab, d].
    out.push(transposed('lm_head.weight', 'head.weight', s.vocabSize, d));
  }
  return out;
}
