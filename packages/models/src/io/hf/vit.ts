// ViT (Dosovitskiy et al. 2021, eqs. 1-4) in Hugging Face's layout <-> attnkit's vit: a P×P
// stride-P convolution as patch embedding (weight [d, C, P, P]; attnkit's linear reads a patch
// flattened (row, column, channel), so [P·P·C, d]), a class token, learned positions over the
// class token and the patches ([1, N + 1, d]: attnkit's `classTokenPosition`), pre-LN blocks,
// a final LayerNorm, then ViTModel's optional tanh pooler or ViTForImageClassification's
// classifier on the class token. ViTModel's tensors carry no prefix; the classifier's sit under
// `vit.`. HF feeds NCHW pixels, attnkit NHWC images: the same numbers, transposed.
import * as tf from '@tensorflow/tfjs-core';
import type { VitConfig } from '../../assemblies/vit';
import {
  type EncoderLayerNames,
  encoderLayerTensors,
  exportError,
  extraKeys,
  hfActivation,
  labelMaps,
  layerNorm,
  linearWithBias,
  readActivation,
  readArchitecture,
  readBlock,
  readLabels,
  sameEps,
} from './encoders';
import { type FieldReader, type HfConfig, type TensorMapping, same } from './mapping';

export const VIT_ARCHITECTURES = ['ViTModel', 'ViTForImageClassification'] as const;
export type VitArchitecture = (typeof VIT_ARCHITECTURES)[number];

export interface VitShape {
  architecture: VitArchitecture;
  imageSize: number;
  patchSize: number;
  channels: number;
  dModel: number;
  numLayers: number;
  numHeads: number;
  hiddenDim: number;
  eps: number;
  activation: ReturnType<typeof readActivation>;
  /** HF qkv_bias: false leaves q, k, v without biases (o keeps its own). */
  qkvBias: boolean;
  pooler: boolean;
  numLabels?: number;
}

/** Reads an HF ViT config.json; any field it cannot honour throws by name. */
export function readVit(r: FieldReader, tensors: ReadonlySet<string>): VitShape {
  const architecture = readArchitecture(r, VIT_ARCHITECTURES, 'ViTModel');
  const dModel = r.int('hidden_size');
  const numHeads = r.int('num_attention_heads');
  if (dModel % numHeads !== 0)
    r.fail('num_attention_heads', `a divisor of hidden_size ${dModel}`, numHeads);
  const imageSize = r.int('image_size', 224);
  const patchSize = r.int('patch_size', 16);
  if (imageSize % patchSize !== 0)
    r.fail('patch_size', `a divisor of image_size ${imageSize}`, patchSize);
  const shape: VitShape = {
    architecture,
    imageSize,
    patchSize,
    channels: r.int('num_channels', 3),
    dModel,
    numLayers: r.int('num_hidden_layers'),
    numHeads,
    hiddenDim: r.int('intermediate_size'),
    eps: r.num('layer_norm_eps', 1e-12),
    activation: readActivation(r),
    qkvBias: r.bool('qkv_bias', true),
    pooler: architecture === 'ViTModel' && tensors.has('pooler.dense.weight'),
    numLabels: readLabels(r, architecture === 'ViTForImageClassification'),
  };
  r.only('pooler_output_size', dModel, 'the pooler keeps hidden_size');
  r.only('pooler_act', 'tanh', "attnkit's ViT pooler here is tanh");
  r.only('is_decoder', false, 'an encoder attends both ways');
  r.raw('encoder_stride'); // the masked-image-modelling decoder's, not the encoder's
  r.finish();
  return shape;
}

export function vitConfig(s: VitShape): VitConfig {
  const norm = { type: 'layer-norm', eps: s.eps };
  return {
    type: 'vit',
    imageSize: s.imageSize,
    patchSize: s.patchSize,
    channels: s.channels,
    dModel: s.dModel,
    numLayers: s.numLayers,
    positional: { type: 'learned' },
    block: {
      mixer: { type: 'mha', numHeads: s.numHeads, bias: true },
      feedForward: { type: 'mlp', hiddenDim: s.hiddenDim, activation: s.activation, bias: true },
      norm,
      placement: 'pre',
    },
    finalNorm: norm,
    pooling: 'cls',
    classTokenPosition: true,
    ...(s.pooler ? { poolerActivation: 'tanh' } : {}),
    ...(s.numLabels !== undefined ? { numClasses: s.numLabels } : {}),
  };
}

type Obj = Record<string, unknown>;

/**
 * The ViT shape of an attnkit vit, or a ConfigError naming what HF ViT cannot hold. `qkvBias`
 * false (the q, k, v biases are all zero) writes HF's qkv_bias false, without those tensors.
 */
export function vitShapeOf(config: Obj, qkvBias = true): VitShape {
  const arch = 'ViT';
  extraKeys(
    config,
    [
      'type',
      'imageSize',
      'patchSize',
      'channels',
      'dModel',
      'numLayers',
      'positional',
      'block',
      'finalNorm',
      'pooling',
      'classTokenPosition',
      'poolerActivation',
      'numClasses',
      'linearInit',
    ],
    '$',
    arch,
  );
  const pos = config.positional as Obj;
  if (pos?.type !== 'learned') throw exportError('$.positional.type', "'learned'", pos?.type);
  extraKeys(pos, ['type', 'dim', 'maxLength'], '$.positional', arch);
  if ((config.pooling ?? 'cls') !== 'cls')
    throw exportError('$.pooling', "'cls' (HF ViT has a class token)", config.pooling);
  if (config.classTokenPosition !== true)
    throw exportError(
      '$.classTokenPosition',
      'true (HF ViT places the class token too)',
      config.classTokenPosition ?? false,
    );
  const b = readBlock(config, 'pre', arch);
  sameEps(
    (config.finalNorm ?? (config.block as Obj).norm) as Obj | undefined,
    '$.finalNorm',
    b.eps,
    arch,
  );
  const pooler = config.poolerActivation;
  if (pooler !== undefined && pooler !== 'tanh')
    throw exportError('$.poolerActivation', "'tanh' or none", pooler);
  const numLabels = config.numClasses as number | undefined;
  if (numLabels !== undefined && pooler)
    throw exportError(
      '$.poolerActivation',
      'none with numClasses (ViTForImageClassification has no pooler)',
      pooler,
    );
  return {
    architecture: numLabels === undefined ? 'ViTModel' : 'ViTForImageClassification',
    imageSize: config.imageSize as number,
    patchSize: config.patchSize as number,
    channels: (config.channels as number | undefined) ?? 3,
    dModel: config.dModel as number,
    numLayers: config.numLayers as number,
    numHeads: b.numHeads,
    hiddenDim: b.hiddenDim,
    eps: b.eps,
    activation: b.activation,
    qkvBias,
    pooler: pooler === 'tanh',
    numLabels,
  };
}

export function vitHfConfig(s: VitShape): HfConfig {
  return {
    architectures: [s.architecture],
    model_type: 'vit',
    hidden_size: s.dModel,
    num_hidden_layers: s.numLayers,
    num_attention_heads: s.numHeads,
    intermediate_size: s.hiddenDim,
    hidden_act: hfActivation(s.activation),
    layer_norm_eps: s.eps,
    image_size: s.imageSize,
    patch_size: s.patchSize,
    num_channels: s.channels,
    qkv_bias: s.qkvBias,
    ...(s.numLabels !== undefined ? labelMaps(s.numLabels) : {}),
    torch_dtype: 'float32',
  };
}

/** HF's conv weight [d, C, P, P] <-> attnkit's patch linear [P·P·C, d] (rows, columns, channels). */
function patchConv(hf: string, name: string, s: VitShape): TensorMapping {
  const { dModel: d, channels: c, patchSize: p } = s;
  return {
    hf,
    shape: [d, c, p, p],
    toAttnkit: (t) => [
      [name, tf.tidy(() => tf.reshape(tf.transpose(t, [2, 3, 1, 0]), [p * p * c, d]))],
    ],
    fromAttnkit: (state) =>
      tf.tidy(() => tf.transpose(tf.reshape(state[name]!, [p, p, c, d]), [3, 2, 0, 1])),
  };
}

/** HF's position_embeddings [1, N + 1, d] <-> attnkit's learned table [N + 1, d]. */
function positions(hf: string, name: string, n: number, d: number): TensorMapping {
  return {
    hf,
    shape: [1, n, d],
    toAttnkit: (t) => [[name, tf.reshape(t, [n, d])]],
    fromAttnkit: (state) => tf.reshape(state[name]!, [1, n, d]),
  };
}

export function vitTensors(s: VitShape): TensorMapping[] {
  const { dModel: d, hiddenDim: f } = s;
  const p = s.architecture === 'ViTModel' ? '' : 'vit.';
  const n = (s.imageSize / s.patchSize) ** 2 + 1;
  const out: TensorMapping[] = [
    same(`${p}embeddings.cls_token`, 'classToken', [1, 1, d]),
    positions(`${p}embeddings.position_embeddings`, 'positional.weight', n, d),
    patchConv(`${p}embeddings.patch_embeddings.projection.weight`, 'patches.projection.weight', s),
    same(`${p}embeddings.patch_embeddings.projection.bias`, 'patches.projection.bias', [d]),
  ];
  // ViT's names in the encoder layer layout it shares with BERT (pre-LN: norm before each).
  const names: EncoderLayerNames = {
    selfAttention: 'attention',
    norms: ['layernorm_before', 'layernorm_after'],
    qkvBias: s.qkvBias,
  };
  for (let i = 0; i < s.numLayers; i++) out.push(...encoderLayerTensors(p, i, d, f, names));
  out.push(...layerNorm(`${p}layernorm`, 'finalNorm', d));
  if (s.pooler) out.push(...linearWithBias(`${p}pooler.dense`, 'readout.pooler', d, d));
  if (s.numLabels !== undefined)
    out.push(...linearWithBias('classifier', 'readout.classifier', s.numLabels, d));
  return out;
}

/** qkv_bias false: attnkit's `bias` covers all four projections, so q, k, v biases are zeros. */
export function vitImplicitZeros(s: VitShape): [string, number[]][] {
  if (s.qkvBias) return [];
  return Array.from({ length: s.numLayers }, (_, i) =>
    ['q', 'k', 'v'].map((n): [string, number[]] => [`layers_${i}.mixer.${n}.bias`, [s.dModel]]),
  ).flat();
}
