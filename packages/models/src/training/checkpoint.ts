import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decodeSafetensors, encodeSafetensors } from '@attnkit/core';
import { recoverDir, writeDirAtomic } from '../io/files';
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
  trainer: Trainer,
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
    const step = (
      JSON.parse(fs.readFileSync(path.join(copy, 'state.json'), 'utf8')) as {
        step?: unknown;
      }
    ).step;
    return typeof step === 'number' && Number.isInteger(step) && step >= 0 ? step : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads `dir`'s state.json without touching any tensor. Recovers first: after a crash inside a
 * checkpoint write, the newest complete copy becomes `dir` and the other copies are removed.
 */
export function readCheckpointInfo(dir: string): CheckpointInfo {
  recoverDir(dir, checkpointRank);
  const file = path.join(dir, 'state.json');
  if (!fs.existsSync(file)) throw new CheckpointError(`checkpoint: no state.json in ${dir}`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as CheckpointInfo;
}

/**
 * Restores a checkpoint into `trainer` so training continues exactly where it stopped.
 * Refuses, before changing anything, a checkpoint written for a different model config.
 */
export function loadCheckpoint(dir: string, trainer: Trainer): CheckpointInfo {
  const info = readCheckpointInfo(dir);
  const diff = firstDifference(trainer.model.config, info.modelConfig, '$');
  if (diff) {
    throw new CheckpointError(
      `checkpoint: ${dir} was written for a different model; ${diff.path} expected ${diff.want}, got ${diff.got}`,
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
      trainer.model.loadStateDict(weights);
      trainer.optimizer.loadStateTensors(moments, info.step);
    } finally {
      tf.dispose(Object.values(moments));
    }
  } finally {
    tf.dispose(Object.values(weights));
  }
  trainer.source.setState(info.data);
  info.rngs.forEach((s, i) => trainer.options.rngs[i]!.setState(s));
  return info;
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
