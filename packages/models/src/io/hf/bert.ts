// BERT (Devlin et al. 2019) in Hugging Face's layout <-> attnkit's encoder: word + learned
// position + token-type embeddings summed and LayerNorm'd, post-LN blocks with biases everywhere
// and GELU, optional tanh pooler, optional masked-LM head (dense, GELU, LayerNorm, decoder tied to
// the word embeddings plus a vocabulary bias) or sequence classifier. BertModel's tensors carry no
// prefix; those of BertForMaskedLM / BertForSequenceClassification sit under `bert.`.
import { ConfigError } from '@attnkit/core';
import type { EncoderConfig } from '../../assemblies/encoder';
import { type FieldReader, type HfConfig, type TensorMapping, same, transposed } from './mapping';

export const BERT_ARCHITECTURES = [
  'BertModel',
  'BertForMaskedLM',
  'BertForSequenceClassification',
] as const;
export type BertArchitecture = (typeof BERT_ARCHITECTURES)[number];

type Activation = 'gelu' | 'gelu-tanh' | 'relu' | 'silu';

/** The shape of a BERT model: the pivot between the two configs and the tensor names. */
export interface BertShape {
  architecture: BertArchitecture;
  vocabSize: number;
  dModel: number;
  numLayers: number;
  numHeads: number;
  hiddenDim: number;
  maxLength: number;
  typeVocabSize: number;
  eps: number;
  activation: Activation;
  /** The tanh pooler (pooler.dense) on the [CLS] state. */
  pooler: boolean;
  /** Classes of BertForSequenceClassification's classifier. */
  numLabels?: number;
}

const LEGACY_FIELDS = [
  'directionality',
  'pooler_fc_size',
  'pooler_num_attention_heads',
  'pooler_num_fc_layers',
  'pooler_size_per_head',
  'pooler_type',
];

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

/**
 * Reads an HF BERT config.json; any field it cannot honour throws by name. `tensors` (the names
 * in the safetensors header) tells whether a bare BertModel was saved with its pooler.
 */
export function readBert(r: FieldReader, tensors: ReadonlySet<string>): BertShape {
  const architecture = readArchitecture(r, BERT_ARCHITECTURES, 'BertModel');
  const dModel = r.int('hidden_size');
  const numHeads = r.int('num_attention_heads');
  if (dModel % numHeads !== 0)
    r.fail('num_attention_heads', `a divisor of hidden_size ${dModel}`, numHeads);
  const shape: BertShape = {
    architecture,
    vocabSize: r.int('vocab_size'),
    dModel,
    numLayers: r.int('num_hidden_layers'),
    numHeads,
    hiddenDim: r.int('intermediate_size'),
    maxLength: r.int('max_position_embeddings', 512),
    typeVocabSize: r.int('type_vocab_size', 2),
    eps: r.num('layer_norm_eps', 1e-12),
    activation: readActivation(r),
    // The classifier reads the pooler; the other two have one when the file holds it
    // (bert-base-uncased's BertForMaskedLM file does).
    pooler:
      architecture === 'BertForSequenceClassification' ||
      tensors.has(`${architecture === 'BertModel' ? '' : 'bert.'}pooler.dense.weight`),
    numLabels: readLabels(r, architecture === 'BertForSequenceClassification'),
  };
  r.only('position_embedding_type', 'absolute', 'learned absolute positions');
  r.only('is_decoder', false, 'an encoder attends both ways');
  r.only('add_cross_attention', false, 'an encoder without cross-attention');
  if (architecture === 'BertForMaskedLM')
    r.only('tie_word_embeddings', true, "the MLM decoder is the word embeddings' transpose");
  else r.raw('tie_word_embeddings'); // no decoder to tie
  // Fields of the original TensorFlow BERT that HF keeps but never reads (bert-base-chinese).
  for (const f of LEGACY_FIELDS) r.raw(f);
  r.finish();
  return shape;
}

/** The attnkit encoder config of a BERT shape. */
export function bertConfig(s: BertShape): EncoderConfig {
  const norm = { type: 'layer-norm', eps: s.eps };
  return {
    type: 'encoder',
    vocabSize: s.vocabSize,
    dModel: s.dModel,
    numLayers: s.numLayers,
    maxLength: s.maxLength,
    positional: { type: 'learned' },
    block: {
      mixer: { type: 'mha', numHeads: s.numHeads, bias: true },
      feedForward: { type: 'mlp', hiddenDim: s.hiddenDim, activation: s.activation, bias: true },
      norm,
      placement: 'post',
    },
    pooling: 'cls',
    ...(s.pooler ? { poolerActivation: 'tanh' } : {}),
    ...(s.numLabels !== undefined ? { numClasses: s.numLabels } : {}),
    typeVocabSize: s.typeVocabSize,
    embeddingNorm: norm,
    ...(s.architecture === 'BertForMaskedLM'
      ? { mlmHead: { activation: s.activation, norm } }
      : {}),
  };
}

type Obj = Record<string, unknown>;

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

/** The BERT shape of an attnkit encoder, or a ConfigError naming what BERT cannot hold. */
export function bertShapeOf(config: Obj): BertShape {
  const arch = 'BERT';
  extraKeys(
    config,
    [
      'type',
      'vocabSize',
      'dModel',
      'numLayers',
      'maxLength',
      'positional',
      'block',
      'pooling',
      'poolerActivation',
      'numClasses',
      'typeVocabSize',
      'embeddingNorm',
      'mlmHead',
      'linearInit',
    ],
    '$',
    arch,
  );
  const pos = config.positional as Obj;
  if (pos?.type !== 'learned') throw exportError('$.positional.type', "'learned'", pos?.type);
  extraKeys(pos, ['type', 'dim', 'maxLength'], '$.positional', arch);
  if ((config.pooling ?? 'cls') !== 'cls')
    throw exportError('$.pooling', "'cls' (BERT pools [CLS])", config.pooling);
  const b = readBlock(config, 'post', arch);
  if (config.typeVocabSize === undefined)
    throw exportError('$.typeVocabSize', 'a size (BERT has token-type embeddings)', undefined);
  sameEps(config.embeddingNorm as Obj | undefined, '$.embeddingNorm', b.eps, arch);
  const mlm = config.mlmHead as Obj | undefined;
  if (mlm) {
    extraKeys(mlm, ['activation', 'norm'], '$.mlmHead', arch);
    if ((mlm.activation ?? 'gelu') !== b.activation)
      throw exportError(
        '$.mlmHead.activation',
        `the feed-forward's ${b.activation} (one hidden_act)`,
        mlm.activation ?? 'gelu',
      );
    sameEps((mlm.norm ?? { type: 'layer-norm' }) as Obj, '$.mlmHead.norm', b.eps, arch);
  }
  const pooler = config.poolerActivation;
  if (pooler !== undefined && pooler !== 'tanh')
    throw exportError('$.poolerActivation', "'tanh' or none", pooler);
  const numLabels = config.numClasses as number | undefined;
  let architecture: BertArchitecture = 'BertModel';
  if (mlm) {
    architecture = 'BertForMaskedLM';
    if (numLabels !== undefined)
      throw exportError('$.numClasses', 'none with an mlmHead (one HF head)', numLabels);
  } else if (numLabels !== undefined) {
    architecture = 'BertForSequenceClassification';
    if (!pooler)
      throw exportError('$.poolerActivation', "'tanh' (the classifier reads the pooler)", pooler);
  }
  return {
    architecture,
    vocabSize: config.vocabSize as number,
    dModel: config.dModel as number,
    numLayers: config.numLayers as number,
    numHeads: b.numHeads,
    hiddenDim: b.hiddenDim,
    maxLength: config.maxLength as number,
    typeVocabSize: config.typeVocabSize as number,
    eps: b.eps,
    activation: b.activation,
    pooler: pooler === 'tanh',
    numLabels,
  };
}

/** `id2label` / `label2id` of `n` generic labels. */
export function labelMaps(n: number): HfConfig {
  const names = Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  return {
    id2label: Object.fromEntries(names.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(names.map((l, i) => [l, i])),
  };
}

/** The HF config.json of a shape. */
export function bertHfConfig(s: BertShape): HfConfig {
  return {
    architectures: [s.architecture],
    model_type: 'bert',
    vocab_size: s.vocabSize,
    hidden_size: s.dModel,
    num_hidden_layers: s.numLayers,
    num_attention_heads: s.numHeads,
    intermediate_size: s.hiddenDim,
    hidden_act: hfActivation(s.activation),
    max_position_embeddings: s.maxLength,
    type_vocab_size: s.typeVocabSize,
    layer_norm_eps: s.eps,
    position_embedding_type: 'absolute',
    ...(s.numLabels !== undefined ? labelMaps(s.numLabels) : {}),
    torch_dtype: 'float32',
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

/** Every HF tensor of a shape and its attnkit parameters. */
export function bertTensors(s: BertShape): TensorMapping[] {
  const { dModel: d, hiddenDim: f } = s;
  const p = s.architecture === 'BertModel' ? '' : 'bert.';
  const out: TensorMapping[] = [
    same(`${p}embeddings.word_embeddings.weight`, 'embed.weight', [s.vocabSize, d]),
    same(`${p}embeddings.position_embeddings.weight`, 'positional.weight', [s.maxLength, d]),
    same(`${p}embeddings.token_type_embeddings.weight`, 'tokenTypes.weight', [s.typeVocabSize, d]),
    ...layerNorm(`${p}embeddings.LayerNorm`, 'embedNorm', d),
  ];
  for (let i = 0; i < s.numLayers; i++) {
    const h = `${p}encoder.layer.${i}.`;
    const a = `layers_${i}.`;
    for (const [hf, ak] of [
      ['query', 'q'],
      ['key', 'k'],
      ['value', 'v'],
    ]) {
      out.push(...linearWithBias(`${h}attention.self.${hf}`, `${a}mixer.${ak}`, d, d));
    }
    out.push(...linearWithBias(`${h}attention.output.dense`, `${a}mixer.o`, d, d));
    out.push(...layerNorm(`${h}attention.output.LayerNorm`, `${a}norm1`, d));
    out.push(...linearWithBias(`${h}intermediate.dense`, `${a}ff.up`, f, d));
    out.push(...linearWithBias(`${h}output.dense`, `${a}ff.down`, d, f));
    out.push(...layerNorm(`${h}output.LayerNorm`, `${a}norm2`, d));
  }
  if (s.pooler) out.push(...linearWithBias(`${p}pooler.dense`, 'readout.pooler', d, d));
  if (s.architecture === 'BertForMaskedLM') {
    out.push(...linearWithBias('cls.predictions.transform.dense', 'mlm.dense', d, d));
    out.push(...layerNorm('cls.predictions.transform.LayerNorm', 'mlm.norm', d));
    out.push(same('cls.predictions.bias', 'mlm.bias', [s.vocabSize]));
  }
  if (s.numLabels !== undefined)
    out.push(...linearWithBias('classifier', 'readout.classifier', s.numLabels, d));
  return out;
}
