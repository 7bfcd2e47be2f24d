// Hugging Face checkpoints both ways: config.json (HF field names) + model.safetensors (HF tensor
// names) of the Llama family (llama, mistral, qwen2) and GPT-2 <-> attnkit's decoder-lm, BERT <->
// encoder, ViT <-> vit.
import * as tf from '@tensorflow/tfjs-core';
import {
  AttnkitError,
  ConfigError,
  type ResourceLimits,
  SafetensorsError,
  StateDictError,
  build,
  checkConfigLimits,
  decodeSafetensors,
  encodeSafetensors,
  formatShape,
  parseJson,
  readSafetensorsHeader,
  resolveLimits,
  validateConfig,
  withArgument,
} from '@attnkit/core';
import type { DecoderLM, DecoderLmConfig } from '../../assemblies/decoder-lm';
import type { Encoder, EncoderConfig } from '../../assemblies/encoder';
import type { ViT, VitConfig } from '../../assemblies/vit';
import { FieldReader, type HfConfig, type TensorMapping, asObject } from './mapping';
import {
  LLAMA_TYPES,
  type LlamaType,
  llamaConfig,
  llamaHfConfig,
  llamaImplicitZeros,
  llamaShapeOf,
  llamaTensors,
  readLlama,
} from './llama';
import { gpt2Config, gpt2HfConfig, gpt2ShapeOf, gpt2Tensors, readGpt2 } from './gpt2';
import { bertConfig, bertHfConfig, bertShapeOf, bertTensors, readBert } from './bert';
import { readVit, vitConfig, vitHfConfig, vitImplicitZeros, vitShapeOf, vitTensors } from './vit';

export const HF_MODEL_TYPES = [...LLAMA_TYPES, 'gpt2', 'bert', 'vit'] as const;
export type HfModelType = (typeof HF_MODEL_TYPES)[number];
/** The HF model types that import into a decoder-lm. */
export type HfDecoderType = LlamaType | 'gpt2';

/** An HF checkpoint in memory: the parsed (or raw) config.json and the model.safetensors bytes. */
export interface HfCheckpoint {
  config: HfConfig | string;
  weights: Uint8Array;
}

/**
 * The files of an HF checkpoint, read by name (config.json, model.safetensors): a directory in
 * Node (`@attnkit/models/node`), a URL (fetch), or anything else that can read them.
 */
export interface HfFiles {
  /** How errors name a file, e.g. `'ckpt/config.json'`. */
  describe(file: string): string;
  read(file: string): Promise<Uint8Array>;
}

/** An HF checkpoint: in memory, its files, or a URL they are fetched from (`…/resolve/main/`). */
export type HfSource = HfCheckpoint | HfFiles | string;

/** Resource limits the import holds the built model to (see `loadModule`). */
export type ImportHuggingFaceOptions = ResourceLimits;

/**
 * An imported model with the attnkit config it was built from; `modelType` tells which assembly
 * it is: a decoder-lm (llama, mistral, qwen2, gpt2), an encoder (bert) or a vit.
 */
export type ImportedHuggingFace =
  | { model: DecoderLM; config: DecoderLmConfig; modelType: HfDecoderType }
  | { model: Encoder; config: EncoderConfig; modelType: 'bert' }
  | { model: ViT; config: VitConfig; modelType: 'vit' };

/** The models export writes: a decoder-lm, an encoder (as BERT) or a vit. */
export type HfExportable = DecoderLM | Encoder | ViT;

/**
 * Skipped, as HF skips them: buffers that are not parameters (causal masks, cached frequencies,
 * BERT's position and token-type id ranges); BERT's MLM decoder, which HF ties to the word
 * embeddings on load (as attnkit's head is tied); BertForPreTraining's next-sentence head, which
 * BertForMaskedLM does not use (bert-base-uncased's file holds it).
 */
const SKIPPED =
  /(^|\.)(attn\.bias|attn\.masked_bias|rotary_emb\.inv_freq|embeddings\.position_ids|embeddings\.token_type_ids)$|^cls\.predictions\.decoder\.(weight|bias)$|^cls\.seq_relationship\.(weight|bias)$/;

/** The current name of a tensor saved under a legacy one (TF BERT's LayerNorm.gamma / beta). */
const modernName = (name: string) =>
  name
    .replace(/LayerNorm\.gamma$/, 'LayerNorm.weight')
    .replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
const CONFIG = 'config.json';
const WEIGHTS = 'model.safetensors';

interface Plan {
  modelType: HfModelType;
  config: DecoderLmConfig | EncoderConfig | VitConfig;
  tensors: TensorMapping[];
  zeros: [string, number[]][];
}

/** The attnkit config and tensor mapping of an HF config (`names`: the checkpoint's tensors). */
function planImport(hf: HfConfig, file: string, names: ReadonlySet<string>): Plan {
  const r = new FieldReader(hf, file);
  const modelType = hf.model_type;
  if (modelType === 'bert') {
    const s = readBert(r, names);
    return { modelType, config: bertConfig(s), tensors: bertTensors(s), zeros: [] };
  }
  if (modelType === 'vit') {
    const s = readVit(r, names);
    return { modelType, config: vitConfig(s), tensors: vitTensors(s), zeros: vitImplicitZeros(s) };
  }
  if (modelType === 'gpt2') {
    const s = readGpt2(r);
    return { modelType, config: gpt2Config(s), tensors: gpt2Tensors(s), zeros: [] };
  }
  if (!LLAMA_TYPES.includes(modelType as LlamaType)) {
    r.fail('model_type', HF_MODEL_TYPES.join(', '), modelType);
  }
  const s = readLlama(r, modelType as LlamaType);
  return {
    modelType: modelType as LlamaType,
    config: llamaConfig(s),
    tensors: llamaTensors(s),
    zeros: llamaImplicitZeros(s),
  };
}

/** The same typed error with the file named in its argument. */
function inFile(error: unknown, file: string): unknown {
  if (!(error instanceof AttnkitError) || error.argument.includes(file)) return error;
  return withArgument(error, `${file} ${error.argument}`);
}

/** Reads config.json and model.safetensors from a base URL with fetch. */
export function hfUrlFiles(url: string, init?: RequestInit): HfFiles {
  const base = url.endsWith('/') ? url : `${url}/`;
  return {
    describe: (file) => `'${new URL(file, base).href}'`,
    async read(file) {
      const href = new URL(file, base).href;
      let response: Response;
      try {
        response = await fetch(href, init);
      } catch (error) {
        throw new ConfigError(
          'importHuggingFace',
          'url',
          `a URL that fetches`,
          `'${href}' (${error})`,
        );
      }
      if (!response.ok) {
        throw new ConfigError(
          'importHuggingFace',
          'url',
          'a URL that fetches (HTTP 2xx)',
          `'${href}' (HTTP ${response.status})`,
        );
      }
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}

const URL_SCHEME = /^(https?|blob|data|file):/i;

async function readCheckpoint(source: HfSource) {
  if (typeof source !== 'string' && !('read' in source)) {
    return {
      hfText: source.config,
      weights: source.weights,
      configFile: CONFIG,
      weightsFile: WEIGHTS,
    };
  }
  if (typeof source === 'string' && !URL_SCHEME.test(source)) {
    throw new ConfigError(
      'importHuggingFace',
      'source',
      "a URL, files or a checkpoint in memory (a directory needs '@attnkit/models/node')",
      `'${source}'`,
    );
  }
  const files = typeof source === 'string' ? hfUrlFiles(source) : source;
  const hfText = new TextDecoder().decode(await files.read(CONFIG));
  const weights = await files.read(WEIGHTS);
  return {
    hfText,
    weights,
    configFile: files.describe(CONFIG),
    weightsFile: files.describe(WEIGHTS),
  };
}

/**
 * Imports a Hugging Face checkpoint (config.json + model.safetensors: in memory, fetched from a
 * URL, read through `HfFiles`; a directory with `@attnkit/models/node`) of a Llama, Mistral,
 * Qwen2 or GPT-2 model into attnkit's decoder-lm, of a BERT model (BertModel, BertForMaskedLM,
 * BertForSequenceClassification) into an encoder, or of a ViT model (ViTModel,
 * ViTForImageClassification) into a vit. Checks come first, as in `loadModule`: the safetensors
 * header is validated (its tensor names tell whether a BERT or ViT file holds a pooler); every
 * config field is mapped, listed as irrelevant or refused by name; the built config is validated
 * and held to the resource limits; every tensor's name and shape is compared with what the config
 * needs; only then is anything allocated.
 */
export async function importHuggingFace(
  source: HfSource,
  options: ImportHuggingFaceOptions = {},
): Promise<ImportedHuggingFace> {
  const { hfText, weights, configFile, weightsFile } = await readCheckpoint(source);
  const hf = asObject(
    typeof hfText === 'string'
      ? parseJson('importHuggingFace', configFile, hfText, { maxLength: 2 ** 24 })
      : hfText,
    'importHuggingFace',
    configFile,
  );
  let header;
  try {
    header = readSafetensorsHeader(weights);
  } catch (error) {
    throw inFile(error, weightsFile);
  }
  // Current name -> the name in the file (they differ for legacy LayerNorm gamma / beta).
  const fileName = new Map<string, string>();
  for (const name of Object.keys(header.tensors)) {
    const modern = modernName(name);
    if (fileName.has(modern)) {
      throw new StateDictError(
        'importHuggingFace',
        `${weightsFile} tensor '${name}'`,
        'one tensor per parameter',
        `a second copy of '${fileName.get(modern)}'`,
      );
    }
    fileName.set(modern, name);
  }
  const plan = planImport(hf, configFile, new Set(fileName.keys()));
  const limits = resolveLimits(options);
  try {
    checkConfigLimits(validateConfig(plan.config), '$', limits);
  } catch (error) {
    throw inFile(error, configFile);
  }
  const expected = new Map(plan.tensors.map((m) => [m.hf, m]));
  for (const [modern, name] of fileName) {
    const entry = header.tensors[name]!;
    const m = expected.get(modern);
    if (!m) {
      if (SKIPPED.test(name)) continue;
      throw new StateDictError(
        'importHuggingFace',
        `${weightsFile} tensor '${name}'`,
        `only the tensors ${configFile} describes`,
        'a tensor it does not describe',
      );
    }
    if (formatShape(entry.shape) !== formatShape(m.shape)) {
      throw new StateDictError(
        'importHuggingFace',
        `${weightsFile} tensor '${name}'`,
        `shape ${formatShape(m.shape)} (from ${configFile})`,
        formatShape(entry.shape),
      );
    }
    if (!['F32', 'F16', 'BF16'].includes(entry.dtype)) {
      throw new SafetensorsError(
        'importHuggingFace',
        `${weightsFile} tensor '${name}'`,
        'F32, F16 or BF16',
        entry.dtype,
      );
    }
  }
  for (const name of expected.keys()) {
    if (!fileName.has(name)) {
      throw new StateDictError(
        'importHuggingFace',
        `${weightsFile} tensor '${name}'`,
        'present',
        'missing',
      );
    }
  }
  const model = build<HfExportable>(plan.config, limits);
  const state: Record<string, tf.Tensor> = {};
  let decoded: Record<string, tf.Tensor> = {};
  try {
    decoded = decodeSafetensors(weights).tensors;
    for (const m of plan.tensors) {
      for (const [name, t] of m.toAttnkit(decoded[fileName.get(m.hf)!]!)) state[name] = t;
    }
    for (const [name, shape] of plan.zeros) state[name] = tf.zeros(shape);
    model.loadStateDict(state);
  } catch (error) {
    model.dispose();
    throw inFile(error, weightsFile);
  } finally {
    tf.dispose(Object.values(decoded));
    tf.dispose(Object.values(state));
  }
  return { model, config: plan.config, modelType: plan.modelType } as ImportedHuggingFace;
}

export interface ExportHuggingFaceOptions {
  /**
   * The HF architecture to write; default for a decoder-lm gpt2 with learned positions, else
   * llama; bert for an encoder, vit for a vit (the only choices for those).
   */
  modelType?: HfModelType;
}

/** Whether the named parameters of `model` are all exactly zero. */
function allZero(model: HfExportable, names: string[]): boolean {
  const params = model.namedParameters();
  return tf.tidy(() =>
    names.every((n) => {
      const p = params.get(n);
      return p !== undefined && tf.max(tf.abs(p)).dataSync()[0] === 0;
    }),
  );
}

function planExport(model: HfExportable, modelType?: HfModelType) {
  const config = model.config as unknown as Record<string, unknown>;
  const own = { encoder: 'bert', vit: 'vit' }[config.type as string];
  if (own) {
    if (modelType !== undefined && modelType !== own) {
      const want = `'${own}' (or none) for a ${String(config.type)}`;
      throw new ConfigError('exportHuggingFace', 'options.modelType', want, String(modelType));
    }
    const zeros: [string, number[]][] = [];
    if (own === 'bert') {
      const s = bertShapeOf(config);
      return { hf: bertHfConfig(s), tensors: bertTensors(s), zeros };
    }
    const qkv = Array.from({ length: config.numLayers as number }, (_, i) =>
      ['q', 'k', 'v'].map((n) => `layers_${i}.mixer.${n}.bias`),
    ).flat();
    const s = vitShapeOf(config, !allZero(model, qkv));
    return { hf: vitHfConfig(s), tensors: vitTensors(s), zeros };
  }
  if (config.type !== 'decoder-lm') {
    const want = 'a decoder-lm, encoder or vit';
    throw new ConfigError('exportHuggingFace', 'model', want, String(config.type));
  }
  const pos = (config.positional as { type?: string } | undefined)?.type;
  const type = modelType ?? (pos === 'learned' ? 'gpt2' : 'llama');
  if (type === 'gpt2') {
    const s = gpt2ShapeOf(config);
    return { hf: gpt2HfConfig(s), tensors: gpt2Tensors(s), zeros: [] as [string, number[]][] };
  }
  if (!LLAMA_TYPES.includes(type as LlamaType)) {
    throw new ConfigError(
      'exportHuggingFace',
      'options.modelType',
      `${LLAMA_TYPES.join(', ')} or gpt2 for a decoder-lm`,
      String(type),
    );
  }
  const s = llamaShapeOf(config, type as LlamaType);
  return { hf: llamaHfConfig(s), tensors: llamaTensors(s), zeros: llamaImplicitZeros(s) };
}

/**
 * An attnkit decoder-lm, encoder or vit as a Hugging Face checkpoint in memory: config.json's
 * object (HF field names) and model.safetensors' bytes (HF tensor names, F32). Refuses by name any
 * part of the config the chosen HF architecture cannot hold.
 */
export async function toHuggingFace(
  model: HfExportable,
  options: ExportHuggingFaceOptions = {},
): Promise<{ config: HfConfig; weights: Uint8Array }> {
  const plan = planExport(model, options.modelType);
  const state = model.stateDict() as Record<string, tf.Tensor>;
  for (const [name] of plan.zeros) {
    const peak = tf.tidy(() => tf.max(tf.abs(state[name]!)).dataSync()[0]!);
    if (peak !== 0) {
      throw new ConfigError(
        'exportHuggingFace',
        `parameter '${name}'`,
        `zeros (${String(plan.hf.model_type)} has no such tensor)`,
        `values up to ${peak}`,
      );
    }
  }
  const tensors = tf.tidy(() =>
    Object.fromEntries(plan.tensors.map((m) => [m.hf, m.fromAttnkit(state)])),
  );
  try {
    const weights = await encodeSafetensors(tensors, { format: 'pt' });
    return { config: plan.hf, weights };
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
