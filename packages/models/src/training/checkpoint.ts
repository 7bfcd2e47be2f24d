import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { AttnkitError, decodeSafetensors, encodeSafetensors, parseJson } from '@attnkit/core';
import { recoverDir, writeDirAtomic } from '../io/files';
import type { TrainableModel } from './objective';
import type { Trainer } from './trainer';

/** A checkpoint's own error: missing files, or a checkpoint of a different model. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export interface CheckpointInfo {
  step: number;
  modelConfig: unknown;
  data: unknown;
  rngs: number[][];
  /** Anything the caller saved alongside (metrics so far, CLI options). */
  extra: Record<string, unknown>;
}

/**
 * Saves weights, optimizer moments, step, RNG states and the data source position into `dir`
 * (model.safetensors, optimizer.safetensors, state.json), replacing it atomically.
 */
export async function saveCheckpoint(
  dir: string,
  trainer: Trainer<TrainableModel>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const info: CheckpointInfo = {
    step: trainer.step,
    modelConfig: trainer.model.config,
    data: trainer.source.getState(),
    rngs: trainer.options.rngs.map((r) => r.getState()),
    extra,
  };
  const metadata = {
    format: 'attnkit',
    type: String((trainer.model.config as { type?: string }).type),
  };
  const weights = await encodeSafetensors(trainer.model.stateDict(), metadata);
  const moments = await encodeSafetensors(trainer.optimizer.stateTensors());
  writeDirAtomic(
    dir,
    (tmp) => {
      fs.writeFileSync(path.join(tmp, 'model.safetensors'), weights);
      fs.writeFileSync(path.join(tmp, 'optimizer.safetensors'), moments);
      // Last: a copy with a readable state.json is complete (checkpointRank).
      fs.writeFileSync(path.join(tmp, 'state.json'), JSON.stringify(info, null, 2));
    },
    checkpointRank,
  );
}

/**
 * A copy of a checkpoint is complete when its state.json (written last) reads and names its
 * step; newer means a later step. Recovery keeps the newest complete copy.
 */
export function checkpointRank(copy: string): number | undefined {
  try {
    const names = fs.readdirSync(copy);
    if (!['model.safetensors', 'optimizer.safetensors'].every((f) => names.includes(f)))
      return undefined;
    return parseCheckpointInfo(fs.readFileSync(path.join(copy, 'state.json'), 'utf8'), copy).step;
  } catch {
    return undefined;
  }
}

/** Most bytes of a state.json (its JSON holds the model config, RNG states and metrics). */
export const MAX_CHECKPOINT_STATE_BYTES = 2 ** 26;

/**
 * Parses and checks a state.json: JSON within length and depth limits, a step that is a
 * non-negative integer, four uint32 words per RNG state, objects where objects belong.
 */
export function parseCheckpointInfo(text: string, dir: string): CheckpointInfo {
  const refuse = (what: string) => new CheckpointError(`checkpoint: ${dir}/state.json ${what}`);
  let json: unknown;
  try {
    json = parseJson('checkpoint', 'state.json', text, { maxLength: MAX_CHECKPOINT_STATE_BYTES });
  } catch (error) {
    const e = error as AttnkitError;
    throw refuse(`expected ${e.expected}, got ${e.actual}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(json)) throw refuse('expected a JSON object');
  const { step, rngs, extra, modelConfig } = json;
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
    throw refuse(`"step" expected a non-negative integer, got ${cut(JSON.stringify(step))}`);
  }
  const isWord = (v: unknown) =>
    Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
  const isRngState = (s: unknown) => Array.isArray(s) && s.length === 4 && s.every(isWord);
  if (!Array.isArray(rngs) || !rngs.every(isRngState)) {
    throw refuse('"rngs" expected an array of RNG states (4 uint32 values each)');
  }
  if (!isObject(modelConfig)) throw refuse('"modelConfig" expected a config object');
  if (extra !== undefined && !isObject(extra)) throw refuse('"extra" expected an object');
  return { ...json, step, rngs, modelConfig, data: json.data, extra: extra ?? {} };
}

const cut = (s: string | undefined, length = 40) =>
  s === undefined ? 'nothing' : s.length > length ? `${s.slice(0, length)}…` : s;

/**
 * Reads `dir`'s state.json without touching any tensor. Recovers first: after a crash inside a
 * checkpoint write, the newest complete copy becomes `dir` and the other copies are removed.
 */
export function readCheckpointInfo(dir: string): CheckpointInfo {
  recoverDir(dir, checkpointRank);
  const file = path.join(dir, 'state.json');
  if (!fs.existsSync(file)) throw new CheckpointError(`checkpoint: no state.json in ${dir}`);
  if (fs.statSync(file).size > MAX_CHECKPOINT_STATE_BYTES) {
    throw new CheckpointError(
      `checkpoint: ${file} expected at most ${MAX_CHECKPOINT_STATE_BYTES} bytes, got ${fs.statSync(file).size}`,
    );
  }
  return parseCheckpointInfo(fs.readFileSync(file, 'utf8'), dir);
}

/**
 * Restores a checkpoint into `trainer` so training continues exactly where it stopped.
 * Refuses, before changing anything, a checkpoint written for a different model config.
 */
export function loadCheckpoint(dir: string, trainer: Trainer<TrainableModel>): CheckpointInfo {
  const info = readCheckpointInfo(dir);
  const diff = firstDifference(trainer.model.config, info.modelConfig, '$');
  if (diff) {
    throw new CheckpointError(
      `checkpoint: ${dir} was written for a different model; ${cut(diff.path, 120)} expected ${cut(diff.want, 120)}, got ${cut(diff.got, 120)}`,
    );
  }
  if (info.rngs.length !== trainer.options.rngs.length) {
    throw new CheckpointError(
      `checkpoint: expected ${trainer.options.rngs.length} RNG states, got ${info.rngs.length}`,
    );
  }
  const read = (file: string) => decodeSafetensors(fs.readFileSync(path.join(dir, file))).tensors;
  const weights = read('model.safetensors');
  try {
    const moments = read('optimizer.safetensors');
    try {
      restore(dir, trainer, info, weights, moments);
    } finally {
      tf.dispose(Object.values(moments));
    }
  } finally {
    tf.dispose(Object.values(weights));
  }
  return info;
}

/**
 * Everything that can fail is checked or undone before the trainer changes: the weights match
 * the model (names, shapes, dtypes), the data source takes its state (else it is put back), the
 * optimizer checks its moments before assigning them, the RNG states were checked when parsed.
 */
function restore(
  dir: string,
  trainer: Trainer<TrainableModel>,
  info: CheckpointInfo,
  weights: Record<string, tf.Tensor>,
  moments: Record<string, tf.Tensor>,
): void {
  const params = trainer.model.namedParameters();
  const names = Object.keys(weights);
  const bad =
    names.find((n) => {
      const p = params.get(n);
      return (
        !p || p.dtype !== weights[n]!.dtype || !tf.util.arraysEqual(p.shape, weights[n]!.shape)
      );
    }) ?? [...params.keys()].find((n) => !(n in weights));
  if (bad !== undefined) {
    throw new CheckpointError(
      `checkpoint: ${dir}/model.safetensors does not match the model at '${cut(bad)}'`,
    );
  }
  const source = trainer.source.getState();
  try {
    trainer.source.setState(info.data);
  } catch (error) {
    throw new CheckpointError(
      `checkpoint: ${dir}/state.json "data": ${cut((error as Error).message)}`,
    );
  }
  try {
    trainer.optimizer.loadStateTensors(moments, info.step);
  } catch (error) {
    trainer.source.setState(source);
    throw new CheckpointError(
      `checkpoint: ${dir}/optimizer.safetensors: ${cut((error as Error).message, 200)}`,
    );
  }
  trainer.model.loadStateDict(weights);
  info.rngs.forEach((s, i) => trainer.options.rngs[i]!.setState(s));
}

/** The first JSON path where two configs differ, with both values, or undefined when equal. */
function firstDifference(
  want: unknown,
  got: unknown,
  at: string,
): { path: string; want: string; got: string } | undefined {
  const isObject = (v: unknown) => typeof v === 'object' && v !== null;
  if (isObject(want) && isObject(got) && Array.isArray(want) === Array.isArray(got)) {
    const a = want as Record<string, unknown>;
    const b = got as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference(a[key], b[key], `${at}.${key}`);
      if (d) return d;
    }
    return undefined;
  }
  const [w, g] = [JSON.stringify(want) ?? 'nothing', JSON.stringify(got) ?? 'nothing'];
  return w === g ? undefined : { path: at, want: w, got: g };
}
