// What the Hugging Face encoders (BERT, ViT) share: activation names, architectures and labels
// read from config.json, the checks of an attnkit block on export (mha and MLP with biases,
// LayerNorm with one eps), and nn.Linear / LayerNorm tensor pairs.
import { ConfigError } from '@attnkit/core';
import { type FieldReader, type HfConfig, type TensorMapping, same, transposed } from './mapping';

export type Activation = 'gelu' | 'gelu-tanh' | 'relu' | 'silu';

/** HF hidden_act -> attnkit activation. */
export const ENCODER_ACTIVATIONS: Record<string, Activation> = {
  gelu: 'gelu',
  gelu_new: 'gelu-tanh',
  gelu_pytorch_tanh: 'gelu-tanh',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
};

/** HF's name of an attnkit activation (the first listed). */
export const hfActivation = (a: string) =>
  Object.entries(ENCODER_ACTIVATIONS).find(([, v]) => v === a)![0];

/** The classifier width of a classification config: `num_labels` or the size of `id2label`. */
export function readLabels(r: FieldReader, classifies: boolean): number | undefined {
  const id2label = r.raw('id2label');
  r.raw('label2id');
  const given = r.raw('num_labels');
  if (!classifies) return undefined;
  const fromMap =
    id2label && typeof id2label === 'object' ? Object.keys(id2label).length : undefined;
  if (given !== undefined) {
    const n = r.int('num_labels');
    if (fromMap !== undefined && fromMap !== n)
      r.fail('num_labels', `the ${fromMap} labels of id2label`, n);
    return n;
  }
  if (!fromMap) r.fail('id2label', 'an object with one entry per class', id2label);
  return fromMap;
}

/** The architecture named by `architectures` (absent: the bare model). */
export function readArchitecture<A extends string>(
  r: FieldReader,
  known: readonly A[],
  bare: A,
): A {
  const archs = r.hf.architectures;
  if (archs == null || (Array.isArray(archs) && archs.length === 0)) return bare;
  if (!Array.isArray(archs) || archs.length !== 1 || !known.includes(archs[0] as A))
    r.fail('architectures', `one of ${known.join(', ')}`, archs);
  return archs[0] as A;
}

export function readActivation(r: FieldReader): Activation {
  const act = r.raw('hidden_act') ?? 'gelu';
  const activation = ENCODER_ACTIVATIONS[act as string];
  if (!activation) r.fail('hidden_act', Object.keys(ENCODER_ACTIVATIONS).join(', '), act);
  return activation;
}

export type Obj = Record<string, unknown>;

export const exportError = (argument: string, expected: string, actual: unknown) =>
  new ConfigError(
    'exportHuggingFace',
    argument,
    expected,
    typeof actual === 'string' ? actual : (JSON.stringify(actual) ?? 'nothing'),
  );

/** Refuses fields of `obj` other than `allowed`, by their attnkit path. */
export function extraKeys(obj: Obj, allowed: string[], path: string, arch: string): void {
  for (const [k, v] of Object.entries(obj)) {
    if (!allowed.includes(k) && v !== undefined)
      throw exportError(`${path}.${k}`, `no such field (no ${arch} field holds it)`, v);
  }
}

/** A LayerNorm config at `path` with the expected eps (HF has one layer_norm_eps). */
export function layerNormEps(n: Obj | undefined, path: string, arch: string): number {
  if (n?.type !== 'layer-norm') throw exportError(`${path}.type`, "'layer-norm'", n?.type);
  extraKeys(n, ['type', 'dim', 'eps'], path, arch);
  return (n.eps as number | undefined) ?? 1e-5;
}

/** The block of an attnkit encoder or ViT as HF's: mha with biases, an MLP with biases, LayerNorm. */
export function readBlock(config: Obj, placement: 'pre' | 'post', arch: string) {
  const block = config.block as Obj;
  extraKeys(block, ['mixer', 'feedForward', 'norm', 'placement', 'dropout'], '$.block', arch);
  if ((block.placement ?? 'pre') !== placement)
    throw exportError('$.block.placement', `'${placement}'`, block.placement ?? 'pre');
  const mixer = block.mixer as Obj;
  if (mixer.type !== 'mha') throw exportError('$.block.mixer.type', "'mha'", mixer.type);
  extraKeys(mixer, ['type', 'dModel', 'numHeads', 'bias', 'causal'], '$.block.mixer', arch);
  if (mixer.bias !== true) throw exportError('$.block.mixer.bias', 'true', mixer.bias);
  if (mixer.causal === true) throw exportError('$.block.mixer.causal', 'false', true);
  const ff = block.feedForward as Obj;
  if (ff.type !== 'mlp') throw exportError('$.block.feedForward.type', "'mlp'", ff.type);
  extraKeys(ff, ['type', 'dim', 'hiddenDim', 'activation', 'bias'], '$.block.feedForward', arch);
  if (ff.bias === false) throw exportError('$.block.feedForward.bias', 'true', false);
  const activation = (ff.activation ?? 'gelu') as Activation;
  if (!Object.values(ENCODER_ACTIVATIONS).includes(activation))
    throw exportError(
      '$.block.feedForward.activation',
      'gelu, gelu-tanh, relu or silu',
      activation,
    );
  const eps = layerNormEps((block.norm ?? { type: 'rms-norm' }) as Obj, '$.block.norm', arch);
  return {
    numHeads: mixer.numHeads as number,
    hiddenDim: ff.hiddenDim as number,
    activation,
    eps,
  };
}

/** A second LayerNorm whose eps must equal the blocks'. */
export function sameEps(n: Obj | undefined, path: string, eps: number, arch: string): void {
  const got = layerNormEps(n, path, arch);
  if (got !== eps) throw exportError(`${path}.eps`, `the blocks' eps ${eps}`, got);
}

/** `id2label` / `label2id` of `n` generic labels. */
export function labelMaps(n: number): HfConfig {
  const names = Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  return {
    id2label: Object.fromEntries(names.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(names.map((l, i) => [l, i])),
  };
}

/** An nn.Linear [out, in] with its bias, to an attnkit linear. */
export function linearWithBias(
  hf: string,
  name: string,
  out: number,
  inp: number,
): TensorMapping[] {
  return [
    transposed(`${hf}.weight`, `${name}.weight`, out, inp),
    same(`${hf}.bias`, `${name}.bias`, [out]),
  ];
}

/** A LayerNorm's weight and bias. */
export function layerNorm(hf: string, name: string, d: number): TensorMapping[] {
  return [same(`${hf}.weight`, `${name}.weight`, [d]), same(`${hf}.bias`, `${name}.bias`, [d])];
}

/** The HF names of an encoder layer that differ between BERT and ViT. */
export interface EncoderLayerNames {
  /** The module holding query, key and value under `attention.`: BERT's `self`, ViT's `attention`. */
  selfAttention: string;
  /** The LayerNorms of the attention and of the feed-forward sublayer (attnkit's norm1, norm2). */
  norms: readonly [string, string];
  /** Whether query, key and value have biases (BERT's always do; ViT's as `qkv_bias`). */
  qkvBias: boolean;
}

/**
 * The tensors of HF encoder layer `i` under `prefix` (`bert.`, `vit.` or none), the layout BERT
 * (Devlin et al. 2019) and ViT (Dosovitskiy et al. 2021) share in transformers: attention
 * query/key/value and output dense, intermediate and output dense, two LayerNorms, to attnkit's
 * `layers_i.{mixer.q,k,v,o, ff.up,down, norm1, norm2}`. `d` is the width, `f` the hidden width.
 */
export function encoderLayerTensors(
  prefix: string,
  i: number,
  d: number,
  f: number,
  names: EncoderLayerNames,
): TensorMapping[] {
  const h = `${prefix}encoder.layer.${i}.`;
  const a = `layers_${i}.`;
  const out: TensorMapping[] = [];
  for (const [hf, ak] of [
    ['query', 'q'],
    ['key', 'k'],
    ['value', 'v'],
  ] as const) {
    const [weight, bias] = linearWithBias(
      `${h}attention.${names.selfAttention}.${hf}`,
      `${a}mixer.${ak}`,
      d,
      d,
    );
    out.push(weight!, ...(names.qkvBias ? [bias!] : []));
  }
  out.push(...linearWithBias(`${h}attention.output.dense`, `${a}mixer.o`, d, d));
  out.push(...layerNorm(`${h}${names.norms[0]}`, `${a}norm1`, d));
  out.push(...linearWithBias(`${h}intermediate.dense`, `${a}ff.up`, f, d));
  out.push(...linearWithBias(`${h}output.dense`, `${a}ff.down`, d, f));
  out.push(...layerNorm(`${h}${names.norms[1]}`, `${a}norm2`, d));
  return out;
}
