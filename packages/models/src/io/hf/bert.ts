// BERT (Devlin et al. 2019) in Hugging Face's layout <-> attnkit's encoder: word + learned
// position + token-type embeddings summed and LayerNorm'd, post-LN blocks with biases everywhere
// and GELU, optional tanh pooler, optional masked-LM head (dense, GELU, LayerNorm, decoder tied to
// the word embeddings plus a vocabulary bias) or sequence classifier. BertModel's tensors carry no
// prefix; those of BertForMaskedLM / BertForSequenceClassification sit under `bert.`.
import type { EncoderConfig } from '../../assemblies/encoder';
import {
  type Activation,
  type EncoderLayerNames,
  type Obj,
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

export const BERT_ARCHITECTURES = [
  'BertModel',
  'BertForMaskedLM',
  'BertForSequenceClassification',
] as const;
export type BertArchitecture = (typeof BERT_ARCHITECTURES)[number];

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

/** BERT's names in the encoder layer layout it shares with ViT (post-LN: norm after each sublayer). */
const BERT_LAYER: EncoderLayerNames = {
  selfAttention: 'self',
  norms: ['attention.output.LayerNorm', 'output.LayerNorm'],
  qkvBias: true,
};

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
  for (let i = 0; i < s.numLayers; i++) out.push(...encoderLayerTensors(p, i, d, f, BERT_LAYER));
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
