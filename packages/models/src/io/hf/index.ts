// Hugging Face checkpoints both ways: config.json (HF field names) + model.safetensors (HF tensor
// names) of the Llama family (llama, mistral, qwen2) and GPT-2 <-> attnkit's decoder-lm.
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

export const HF_MODEL_TYPES = [...LLAMA_TYPES, 'gpt2'] as const;
export type HfModelType = (typeof HF_MODEL_TYPES)[number];

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

export interface ImportedHuggingFace {
  model: DecoderLM;
  /** The attnkit config the model was built from. */
  config: DecoderLmConfig;
  modelType: HfModelType;
}

/** Buffers HF checkpoints carry that are not parameters (causal masks, cached frequencies). */
const BUFFER_NAME = /(^|\.)(attn\.bias|attn\.masked_bias|rotary_emb\.inv_freq)$/;
const CONFIG = 'config.json';
const WEIGHTS = 'model.safetensors';

interface Plan {
  modelType: HfModelType;
  config: DecoderLmConfig;
  tensors: TensorMapping[];
  zeros: [string, number[]][];
}

function planImport(hf: HfConfig, file: string): Plan {
  const r = new FieldReader(hf, file);
  const modelType = hf.model_type;
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
 * URL, read through `HfFiles`; a directory with `@attnkit/models/node`) of a Llama, Mistral, Qwen2 or GPT-2 model into attnkit's decoder-lm. Checks come first,
 * as in `loadModule`: every config field is mapped, listed as irrelevant or refused by name; the
 * built config is validated and held to the resource limits; the safetensors header is validated
 * and every tensor's name and shape compared with what the config needs; only then is anything
 * allocated.
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
  const plan = planImport(hf, configFile);
  const limits = resolveLimits(options);
  try {
    checkConfigLimits(validateConfig(plan.config), '$', limits);
  } catch (error) {
    throw inFile(error, configFile);
  }
  let header;
  try {
    header = readSafetensorsHeader(weights);
  } catch (error) {
    throw inFile(error, weightsFile);
  }
  const expected = new Map(plan.tensors.map((m) => [m.hf, m]));
  for (const [name, entry] of Object.entries(header.tensors)) {
    const m = expected.get(name);
    if (!m) {
      if (BUFFER_NAME.test(name)) continue;
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
    if (!(name in header.tensors)) {
      throw new StateDictError(
        'importHuggingFace',
        `${weightsFile} tensor '${name}'`,
        'present',
        'missing',
      );
    }
  }
  const model = build<DecoderLM>(plan.config, limits);
  const state: Record<string, tf.Tensor> = {};
  let decoded: Record<string, tf.Tensor> = {};
  try {
    decoded = decodeSafetensors(weights).tensors;
    for (const m of plan.tensors) {
      for (const [name, t] of m.toAttnkit(decoded[m.hf]!)) state[name] = t;
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
  return { model, config: plan.config, modelType: plan.modelType };
}

export interface ExportHuggingFaceOptions {
  /** The HF architecture to write; default gpt2 for learned positions, else llama. */
  modelType?: HfModelType;
}

function planExport(model: DecoderLM, modelType?: HfModelType) {
  const config = model.config as unknown as Record<string, unknown>;
  if (config.type !== 'decoder-lm') {
    throw new ConfigError('exportHuggingFace', 'model', 'a decoder-lm', String(config.type));
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
      HF_MODEL_TYPES.join(', '),
      String(type),
    );
  }
  const s = llamaShapeOf(config, type as LlamaType);
  return { hf: llamaHfConfig(s), tensors: llamaTensors(s), zeros: llamaImplicitZeros(s) };
}

/**
 * An attnkit decoder-lm as a Hugging Face checkpoint in memory: config.json's object (HF field
 * names) and model.safetensors' bytes (HF tensor names, F32). Refuses by name any part of the
 * config the chosen HF architecture cannot hold.
 */
export async function toHuggingFace(
  model: DecoderLM,
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
