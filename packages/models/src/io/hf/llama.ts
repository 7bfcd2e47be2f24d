// The Llama family (Touvron et al. 2023; Mistral, Jiang et al. 2023; Qwen2, Yang et al. 2024) in
// Hugging Face's layout: RMSNorm, rotary, grouped-query attention, SwiGLU, tied or own head.
// HF rotates queries and keys with rotate_half (channel i paired with i + headDim/2), which is
// attnkit's rotary layout 'half', so q/k weights are copied without any permutation; query head h
// reads kv head h // group in both (HF repeat_kv, attnkit repeatKvHeads).
import { ConfigError } from '@attnkit/core';
import type { DecoderLmConfig } from '../../assemblies/decoder-lm';
import { type FieldReader, type HfConfig, type TensorMapping, same, transposed } from './mapping';

export const LLAMA_TYPES = ['llama', 'mistral', 'qwen2'] as const;
export type LlamaType = (typeof LLAMA_TYPES)[number];

/** The shape of a Llama-family model, the pivot between the two configs and the tensor names. */
export interface LlamaShape {
  modelType: LlamaType;
  vocabSize: number;
  dModel: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  hiddenDim: number;
  maxLength: number;
  tied: boolean;
  eps: number;
  theta: number;
  /** HF rope_scaling {rope_type: 'linear', factor}. */
  linearFactor?: number;
  /** Mistral's sliding_window. */
  window?: number;
  /** 'qkv': Qwen2's biases on q, k, v; 'all': Llama's attention_bias (o too). */
  bias: 'none' | 'qkv' | 'all';
}

const exportError = (argument: string, expected: string, actual: unknown) =>
  new ConfigError(
    'exportHuggingFace',
    argument,
    expected,
    typeof actual === 'string' ? actual : JSON.stringify(actual),
  );

/** Reads an HF Llama/Mistral/Qwen2 config.json; any field it cannot honour throws by name. */
export function readLlama(r: FieldReader, modelType: LlamaType): LlamaShape {
  const dModel = r.int('hidden_size');
  const numHeads = r.int('num_attention_heads');
  if (r.hf.head_dim == null && dModel % numHeads !== 0) {
    r.fail(
      'num_attention_heads',
      `a divisor of hidden_size ${dModel} (no head_dim given)`,
      numHeads,
    );
  }
  const shape: LlamaShape = {
    modelType,
    vocabSize: r.int('vocab_size'),
    dModel,
    numLayers: r.int('num_hidden_layers'),
    numHeads,
    numKvHeads: r.int('num_key_value_heads', numHeads),
    headDim: r.int('head_dim', dModel / numHeads),
    hiddenDim: r.int('intermediate_size'),
    maxLength: r.int('max_position_embeddings'),
    tied: r.bool('tie_word_embeddings', false),
    eps: r.num('rms_norm_eps', 1e-6),
    theta: r.num('rope_theta', 10000),
    bias: modelType === 'qwen2' ? 'qkv' : 'none',
  };
  r.only('hidden_act', 'silu', 'the feed-forward is SwiGLU');
  r.only('mlp_bias', false, "attnkit's swiglu here has no biases");
  r.only('partial_rotary_factor', 1, 'rotary over the whole head');
  if (modelType === 'llama' && r.bool('attention_bias', false)) shape.bias = 'all';
  const scaling = r.raw('rope_scaling');
  if (scaling !== undefined) {
    const s = scaling as Record<string, unknown>;
    const kind = s.rope_type ?? s.type;
    if (kind !== 'linear' && kind !== 'default') {
      r.fail(
        'rope_scaling.rope_type',
        "'linear' or 'default' (dynamic, yarn, llama3, longrope are not supported)",
        kind,
      );
    }
    const extra = Object.keys(s).filter((k) => !['rope_type', 'type', 'factor'].includes(k));
    if (extra.length) r.fail(`rope_scaling.${extra[0]}`, 'no such field for linear scaling', 'it');
    if (kind === 'linear') {
      if (typeof s.factor !== 'number' || !(s.factor > 0))
        r.fail('rope_scaling.factor', 'a positive number', s.factor);
      shape.linearFactor = s.factor;
    }
  }
  if (modelType === 'mistral') {
    const w = r.raw('sliding_window');
    if (w !== undefined) shape.window = r.int('sliding_window');
  }
  if (modelType === 'qwen2') {
    // Qwen2 windows only layers past max_window_layers, and only when use_sliding_window is set.
    r.only('use_sliding_window', false, 'per-layer sliding windows are not mapped');
    r.raw('sliding_window');
    r.raw('max_window_layers');
  }
  r.finish();
  return shape;
}

/** The attnkit decoder-lm config of a Llama-family shape. */
export function llamaConfig(s: LlamaShape): DecoderLmConfig {
  const mixer: { type: string } & Record<string, unknown> = {
    type: s.window !== undefined ? 'sliding-window' : 'gqa',
    numHeads: s.numHeads,
    numKvHeads: s.numKvHeads,
  };
  if (s.headDim * s.numHeads !== s.dModel) mixer.headDim = s.headDim;
  if (s.bias !== 'none') mixer.bias = true;
  if (s.window !== undefined) mixer.window = s.window;
  const scaling = s.linearFactor !== undefined ? { type: 'linear', factor: s.linearFactor } : {};
  return {
    type: 'decoder-lm',
    vocabSize: s.vocabSize,
    dModel: s.dModel,
    numLayers: s.numLayers,
    maxLength: s.maxLength,
    tieEmbeddings: s.tied,
    positional: {
      type: 'rotary',
      headDim: s.headDim,
      base: s.theta,
      layout: 'half',
      ...(s.linearFactor !== undefined ? { scaling } : {}),
    },
    block: {
      mixer,
      feedForward: { type: 'swiglu', hiddenDim: s.hiddenDim },
      norm: { type: 'rms-norm', eps: s.eps },
      placement: 'pre',
    },
    finalNorm: { type: 'rms-norm', eps: s.eps },
  } as DecoderLmConfig;
}

/** Fields of a nested attnkit config other than `allowed`, as `$.path.field`. */
function extraKeys(obj: Record<string, unknown>, allowed: string[], path: string): void {
  for (const [k, v] of Object.entries(obj)) {
    if (!allowed.includes(k) && v !== undefined) {
      throw exportError(`${path}.${k}`, `no such field (no Hugging Face field holds it)`, v);
    }
  }
}

type Obj = Record<string, unknown>;

/** The shape of an attnkit decoder-lm, or a ConfigError naming what HF Llama cannot hold. */
export function llamaShapeOf(config: Obj, modelType: LlamaType): LlamaShape {
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
  if (pos?.type !== 'rotary') throw exportError('$.positional.type', "'rotary'", pos?.type);
  extraKeys(pos, ['type', 'headDim', 'rotaryDim', 'base', 'layout', 'scaling'], '$.positional');
  if ((pos.layout ?? 'half') !== 'half')
    throw exportError('$.positional.layout', "'half' (HF rotate_half)", pos.layout);
  if (pos.rotaryDim !== undefined && pos.rotaryDim !== pos.headDim)
    throw exportError('$.positional.rotaryDim', `headDim ${String(pos.headDim)}`, pos.rotaryDim);
  const scaling = pos.scaling as Obj | undefined;
  if (scaling && scaling.type !== 'linear')
    throw exportError('$.positional.scaling.type', "'linear' or none", scaling.type);
  extraKeys(block, ['mixer', 'feedForward', 'norm', 'placement', 'dropout', 'parallel'], '$.block');
  if (block.parallel) throw exportError('$.block.parallel', 'false', true);
  if ((block.placement ?? 'pre') !== 'pre')
    throw exportError('$.block.placement', "'pre'", block.placement);
  const mixerTypes = ['mha', 'gqa', 'mqa', 'sliding-window'];
  if (!mixerTypes.includes(mixer.type as string))
    throw exportError('$.block.mixer.type', mixerTypes.join(', '), mixer.type);
  extraKeys(
    mixer,
    ['type', 'dModel', 'numHeads', 'numKvHeads', 'headDim', 'bias', 'causal', 'window'],
    '$.block.mixer',
  );
  if (mixer.causal === false) throw exportError('$.block.mixer.causal', 'true', false);
  if (mixer.window !== undefined && modelType !== 'mistral')
    throw exportError(
      '$.block.mixer.window',
      `none (${modelType} has no sliding window; export as 'mistral')`,
      mixer.window,
    );
  if (ff.type !== 'swiglu') throw exportError('$.block.feedForward.type', "'swiglu'", ff.type);
  extraKeys(ff, ['type', 'dim', 'hiddenDim'], '$.block.feedForward');
  for (const [path, n] of [
    ['$.block.norm', norm],
    ['$.finalNorm', finalNorm],
  ] as const) {
    if (n.type !== 'rms-norm') throw exportError(`${path}.type`, "'rms-norm'", n.type);
    extraKeys(n, ['type', 'dim', 'eps'], path);
  }
  if ((norm.eps ?? 1e-6) !== (finalNorm.eps ?? 1e-6))
    throw exportError(
      '$.finalNorm.eps',
      `the blocks' eps ${String(norm.eps ?? 1e-6)}`,
      finalNorm.eps ?? 1e-6,
    );
  const dModel = config.dModel as number;
  const numHeads = mixer.numHeads as number;
  const headDim = (mixer.headDim as number | undefined) ?? dModel / numHeads;
  if (pos.headDim !== headDim)
    throw exportError('$.positional.headDim', `the mixer's head width ${headDim}`, pos.headDim);
  let bias: LlamaShape['bias'] = mixer.bias ? 'all' : 'none';
  if (modelType === 'qwen2') {
    if (!mixer.bias)
      throw exportError('$.block.mixer.bias', 'true (Qwen2 has q/k/v biases)', false);
    bias = 'qkv';
  } else if (bias === 'all' && modelType !== 'llama') {
    throw exportError('$.block.mixer.bias', `false (${modelType} has no attention biases)`, true);
  }
  return {
    modelType,
    vocabSize: config.vocabSize as number,
    dModel,
    numLayers: config.numLayers as number,
    numHeads,
    numKvHeads: mixer.type === 'mqa' ? 1 : ((mixer.numKvHeads as number | undefined) ?? numHeads),
    headDim,
    hiddenDim: ff.hiddenDim as number,
    maxLength: config.maxLength as number,
    tied: (config.tieEmbeddings as boolean | undefined) ?? true,
    eps: (norm.eps as number | undefined) ?? 1e-6,
    theta: (pos.base as number | undefined) ?? 10000,
    linearFactor: scaling?.factor as number | undefined,
    window: mixer.window as number | undefined,
    bias,
  };
}

/** The HF config.json of a shape. */
export function llamaHfConfig(s: LlamaShape): HfConfig {
  const arch = {
    llama: 'LlamaForCausalLM',
    mistral: 'MistralForCausalLM',
    qwen2: 'Qwen2ForCausalLM',
  };
  const hf: HfConfig = {
    architectures: [arch[s.modelType]],
    model_type: s.modelType,
    vocab_size: s.vocabSize,
    hidden_size: s.dModel,
    intermediate_size: s.hiddenDim,
    num_hidden_layers: s.numLayers,
    num_attention_heads: s.numHeads,
    num_key_value_heads: s.numKvHeads,
    head_dim: s.headDim,
    max_position_embeddings: s.maxLength,
    hidden_act: 'silu',
    rms_norm_eps: s.eps,
    rope_theta: s.theta,
    rope_scaling:
      s.linearFactor !== undefined ? { rope_type: 'linear', factor: s.linearFactor } : null,
    tie_word_embeddings: s.tied,
    torch_dtype: 'float32',
  };
  if (s.modelType === 'llama') hf.attention_bias = s.bias === 'all';
  if (s.modelType === 'mistral') hf.sliding_window = s.window ?? null;
  if (s.modelType === 'qwen2') hf.use_sliding_window = false;
  return hf;
}

/** Every HF tensor of a shape and its attnkit parameters. */
export function llamaTensors(s: LlamaShape): TensorMapping[] {
  const { dModel: d, numHeads: h, numKvHeads: kv, headDim: hd, hiddenDim: f } = s;
  const out: TensorMapping[] = [
    same('model.embed_tokens.weight', 'embed.weight', [s.vocabSize, d]),
  ];
  for (let i = 0; i < s.numLayers; i++) {
    const p = `model.layers.${i}.`;
    const a = `layers_${i}.`;
    const widths = { q: h * hd, k: kv * hd, v: kv * hd };
    for (const [n, w] of Object.entries(widths)) {
      out.push(transposed(`${p}self_attn.${n}_proj.weight`, `${a}mixer.${n}.weight`, w, d));
      if (s.bias !== 'none')
        out.push(same(`${p}self_attn.${n}_proj.bias`, `${a}mixer.${n}.bias`, [w]));
    }
    out.push(transposed(`${p}self_attn.o_proj.weight`, `${a}mixer.o.weight`, d, h * hd));
    if (s.bias === 'all') out.push(same(`${p}self_attn.o_proj.bias`, `${a}mixer.o.bias`, [d]));
    out.push(transposed(`${p}mlp.gate_proj.weight`, `${a}ff.gate.weight`, f, d));
    out.push(transposed(`${p}mlp.up_proj.weight`, `${a}ff.up.weight`, f, d));
    out.push(transposed(`${p}mlp.down_proj.weight`, `${a}ff.down.weight`, d, f));
    out.push(same(`${p}input_layernorm.weight`, `${a}norm1.weight`, [d]));
    out.push(same(`${p}post_attention_layernorm.weight`, `${a}norm2.weight`, [d]));
  }
  out.push(same('model.norm.weight', 'finalNorm.weight', [d]));
  if (!s.tied) out.push(transposed('lm_head.weight', 'head.weight', s.vocabSize, d));
  return out;
}

/**
 * attnkit parameters with no HF tensor: Qwen2 has no o_proj bias, attnkit's `bias` covers all
 * four projections, so it is zero on import and must be zero on export.
 */
export function llamaImplicitZeros(s: LlamaShape): [string, number[]][] {
  if (s.bias !== 'qkv') return [];
  return Array.from({ length: s.numLayers }, (_, i) => [`layers_${i}.mixer.o.bias`, [s.dModel]]);
}
