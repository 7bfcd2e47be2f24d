import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import {
  AttnkitError,
  DEFAULT_JSON_MAX_LENGTH,
  MAX_CONFIG_INTEGER,
  Rng,
  loadModule,
  parseJson,
  saveModule,
  zodToConfigError,
} from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { DecoderLM } from '../assemblies/decoder-lm';
import type { Encoder } from '../assemblies/encoder';
import type { EncoderDecoder } from '../assemblies/encoder-decoder';
import type { ViT } from '../assemblies/vit';
import { writeFileAtomic } from '../io/files';
import { importHuggingFace } from '../node/hf';
import { loadTokenizer, saveTokenizer } from '../node/tokenizer';
import {
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  attachTokenizer,
  isHfTokenizerJSON,
  tokenizerFromJSON,
} from '../tokenizers';
import type { Tokenizer } from '../tokenizers';
import { CliError } from './errors';

/** What `attnkit train` records about how a run was made (run.json). */
export interface RunInfo {
  preset?: string;
  task?: string;
  taskOptions?: Record<string, number>;
  data?: string;
  /** The tokenizer file `train --tokenizer` read (the run keeps its own copy in tokenizer.json). */
  tokenizer?: string;
  seqLen: number;
  batchSize: number;
  lr: number;
  steps: number;
  seed: number;
  /** Absent in runs written before these options existed: the Trainer defaults then. */
  weightDecay?: number;
  schedule?: 'cosine' | 'wsd';
  warmupSteps?: number;
}

const count = z.number().int().min(1).max(MAX_CONFIG_INTEGER);
const rate = z.number().min(0).max(1e6);

/**
 * run.json as `saveRunFiles` writes it: the fields training and evaluation read, with their
 * ranges (a damaged or hand-edited file is refused, not trained with NaN rates or negative
 * steps); other fields (`result`, a later version's) pass through.
 */
export const runInfoSchema = z.looseObject({
  preset: z.string().max(1000).optional(),
  task: z.string().max(1000).optional(),
  taskOptions: z.record(z.string(), z.number()).optional(),
  data: z.string().max(4096).optional(),
  tokenizer: z.string().max(4096).optional(),
  seqLen: count,
  batchSize: count,
  lr: rate.positive(),
  steps: count,
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  weightDecay: rate.optional(),
  schedule: z.enum(['cosine', 'wsd']).optional(),
  warmupSteps: z.number().int().min(0).max(MAX_CONFIG_INTEGER).optional(),
});

/** Reads and checks a run's run.json (CliError naming the field on a bad one). */
export function readRunInfo(file: string): RunInfo & { result?: unknown } {
  const result = runInfoSchema.safeParse(readJson(file, 'run info'));
  if (!result.success) {
    const error = zodToConfigError('run.json', '$', result.error);
    throw new CliError(
      `run info: ${file}: ${error.argument} expected ${error.expected}, got ${error.actual}`,
    );
  }
  return result.data as RunInfo & { result?: unknown };
}

/**
 * A run's tokenizer and model must agree on the vocabulary (the trainer sets one from the
 * other); a Hugging Face tokenizer may have fewer tokens than its model's padded embedding.
 */
export function checkRunVocab(dir: string, tokenizer: Tokenizer, modelVocab: unknown): void {
  const fits =
    tokenizer.kind === 'hf'
      ? typeof modelVocab === 'number' && tokenizer.vocabSize <= modelVocab
      : tokenizer.vocabSize === modelVocab;
  if (!fits) {
    throw new CliError(
      `run: ${dir}: tokenizer.json has ${tokenizer.vocabSize} tokens, config.json's vocabSize is ${cut(String(modelVocab))}`,
    );
  }
}

const cut = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}…` : s);

export function readJson(file: string, what: string): unknown {
  if (!fs.existsSync(file)) throw new CliError(`${what}: ${file} does not exist`);
  // Depth and length limits first: a run directory may come from anyone.
  const bytes = fs.statSync(file).size;
  if (bytes > DEFAULT_JSON_MAX_LENGTH) {
    throw new CliError(
      `${what}: ${file} expected at most ${DEFAULT_JSON_MAX_LENGTH} bytes, got ${bytes}`,
    );
  }
  try {
    return parseJson(what, file, fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const reason =
      e instanceof AttnkitError ? `expected ${e.expected}, got ${e.actual}` : String(e);
    throw new CliError(`${what}: ${file} is not valid JSON (${reason})`);
  }
}

/**
 * Writes config.json, tokenizer.json (none for an image run), run.json and (unless
 * `weights: false`) model.safetensors.
 * config.json + model.safetensors are core's `saveModule` pair, so `loadModule(runDir)` rebuilds
 * the trained model.
 */
export async function saveRunFiles(
  dir: string,
  model: Module,
  tokenizer: Tokenizer | undefined,
  info: RunInfo,
  options: { weights?: boolean } = {},
): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  if (options.weights ?? true) await saveModule(dir, model, { overwrite: true });
  else writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(model.config, null, 2) + '\n');
  if (tokenizer) saveTokenizer(dir, tokenizer);
  writeFileAtomic(path.join(dir, 'run.json'), JSON.stringify(info, null, 2) + '\n');
}

/**
 * A language-model run (`kind: 'lm'`, with its tokenizer), an image run (a vit), an encoder run
 * or an encoder-decoder run (`seq2seq`), by the config's type.
 */
export type LoadedRun =
  | { kind: 'lm'; model: DecoderLM; tokenizer: Tokenizer; info: RunInfo }
  | { kind: 'encoder'; model: Encoder; tokenizer: Tokenizer; info: RunInfo }
  | { kind: 'seq2seq'; model: EncoderDecoder; tokenizer: Tokenizer; info: RunInfo }
  | { kind: 'image'; model: ViT; tokenizer?: undefined; info: RunInfo };

const RUN_KINDS = { encoder: 'encoder', 'encoder-decoder': 'seq2seq' } as const;

/** Rebuilds a saved run's model (weights loaded) and tokenizer (none for a vit). */
export async function loadRun(dir: string): Promise<LoadedRun> {
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    throw new CliError(
      `run: ${dir} is not a run directory (no config.json); train one with 'attnkit train'`,
    );
  }
  if (!fs.existsSync(path.join(dir, 'model.safetensors'))) {
    throw new CliError(
      `run: ${dir} has no model.safetensors (training did not finish); continue it with 'attnkit train --name ${path.basename(dir)} --resume'`,
    );
  }
  const config = readJson(path.join(dir, 'config.json'), 'run config') as { type?: unknown } | null;
  if (config?.type === 'vit') {
    const info = readRunInfo(path.join(dir, 'run.json'));
    return { kind: 'image', model: await loadModule<ViT>(dir, { rng: new Rng(0) }), info };
  }
  const tokenizer = readRunTokenizer(dir);
  const info = readRunInfo(path.join(dir, 'run.json'));
  const model = await loadModule<DecoderLM | Encoder | EncoderDecoder>(dir, { rng: new Rng(0) });
  try {
    checkRunVocab(dir, tokenizer, model.config.vocabSize);
  } catch (error) {
    model.dispose();
    throw error;
  }
  attachTokenizer(model, tokenizer);
  const kind = RUN_KINDS[String(config?.type) as keyof typeof RUN_KINDS] ?? 'lm';
  return { kind, model, tokenizer, info } as LoadedRun;
}

/** A run's tokenizer.json, with tokenizer_config.json next to a Hugging Face one. */
export function readRunTokenizer(dir: string): Tokenizer {
  return readTokenizerFile(path.join(dir, TOKENIZER_FILE), 'run tokenizer', true);
}

/**
 * A tokenizer.json (attnkit's or Hugging Face's); with `withConfig`, a Hugging Face one takes the
 * tokenizer_config.json beside it (special tokens, chat template) when there is one.
 */
export function readTokenizerFile(file: string, what: string, withConfig: boolean): Tokenizer {
  const json = readJson(file, what);
  const configFile = path.join(path.dirname(file), TOKENIZER_CONFIG_FILE);
  const config =
    withConfig && isHfTokenizerJSON(json) && fs.existsSync(configFile)
      ? readJson(configFile, `${what} config`)
      : undefined;
  return tokenizerFromJSON(json, config);
}

/**
 * A language model with its tokenizer, for `attnkit generate`: a run directory, a saved module
 * (config.json + model.safetensors, no run.json) or a Hugging Face checkpoint directory
 * (config.json with `model_type`, imported by `importHuggingFace`), each with a tokenizer.json
 * (attnkit's or Hugging Face's).
 */
export async function loadTextModel(
  dir: string,
): Promise<LoadedRun | { kind: 'lm'; model: DecoderLM; tokenizer: Tokenizer; info?: undefined }> {
  const configFile = path.join(dir, 'config.json');
  if (fs.existsSync(path.join(dir, 'run.json')) || !fs.existsSync(configFile)) {
    return loadRun(dir);
  }
  const read = readJson(configFile, 'model config');
  const config = (
    typeof read === 'object' && read !== null && !Array.isArray(read) ? read : {}
  ) as Record<string, unknown>;
  const hf = typeof config.model_type === 'string' && !('type' in config);
  const tokenizer = await loadTokenizer(dir);
  if (!tokenizer) throw new CliError(`generate: ${dir} has no tokenizer.json`);
  let model: unknown;
  if (hf) {
    const imported = await importHuggingFace(dir);
    model = imported.model;
  } else {
    model = await loadModule(dir, { rng: new Rng(0) });
  }
  if (!(model instanceof DecoderLM)) {
    (model as Module).dispose();
    const type = hf ? config.model_type : config.type;
    throw new CliError(
      `generate: ${dir} holds a '${cut(String(type))}' model; generate decodes language models (decoder-lm)`,
    );
  }
  try {
    checkRunVocab(dir, tokenizer, model.config.vocabSize);
  } catch (error) {
    model.dispose();
    throw error;
  }
  attachTokenizer(model, tokenizer);
  return { kind: 'lm', model, tokenizer };
}

/** Adds the outcome of training (`result`) to the run's run.json. */
export function writeRunSummary(dir: string, result: Record<string, unknown>): void {
  const file = path.join(dir, 'run.json');
  const info = readRunInfo(file);
  writeFileAtomic(file, JSON.stringify({ ...info, result }, null, 2) + '\n');
}
