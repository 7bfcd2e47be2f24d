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
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { Encoder } from '../assemblies/encoder';
import type { EncoderDecoder } from '../assemblies/encoder-decoder';
import type { ViT } from '../assemblies/vit';
import { writeFileAtomic } from '../io/files';
import { tokenizerFromJSON } from '../tokenizers';
import type { Tokenizer } from '../tokenizers';
import { CliError } from './errors';

/** What `attnkit train` records about how a run was made (run.json). */
export interface RunInfo {
  preset?: string;
  task?: string;
  taskOptions?: Record<string, number>;
  data?: string;
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

/** A run's tokenizer and model must agree on the vocabulary (the trainer sets one from the other). */
export function checkRunVocab(dir: string, tokenizer: Tokenizer, modelVocab: unknown): void {
  if (tokenizer.vocabSize !== modelVocab) {
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
  if (tokenizer)
    writeFileAtomic(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()) + '\n');
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
  const tokenizer = tokenizerFromJSON(readJson(path.join(dir, 'tokenizer.json'), 'run tokenizer'));
  const info = readRunInfo(path.join(dir, 'run.json'));
  const model = await loadModule<DecoderLM | Encoder | EncoderDecoder>(dir, { rng: new Rng(0) });
  try {
    checkRunVocab(dir, tokenizer, model.config.vocabSize);
  } catch (error) {
    model.dispose();
    throw error;
  }
  const kind = RUN_KINDS[String(config?.type) as keyof typeof RUN_KINDS] ?? 'lm';
  return { kind, model, tokenizer, info } as LoadedRun;
}

/** Adds the outcome of training (`result`) to the run's run.json. */
export function writeRunSummary(dir: string, result: Record<string, unknown>): void {
  const file = path.join(dir, 'run.json');
  const info = readRunInfo(file);
  writeFileAtomic(file, JSON.stringify({ ...info, result }, null, 2) + '\n');
}
