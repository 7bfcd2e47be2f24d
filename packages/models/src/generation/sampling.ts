import type { Rng } from '@attnkit/core';
import { checkInt, checkNumber } from '@attnkit/core';

export interface SamplingOptions {
  /** 0 = greedy (argmax); default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0 = all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = all). */
  topP?: number;
  /** > 1 discourages tokens already in the sequence (Keskar et al. 2019, CTRL, sec. 4.1). */
  repetitionPenalty?: number;
}

export function checkSamplingOptions(o: SamplingOptions): void {
  if (o.temperature !== undefined)
    checkNumber('generate', 'temperature', o.temperature, { min: 0 });
  if (o.topK !== undefined) checkInt('generate', 'topK', o.topK, 0);
  if (o.topP !== undefined)
    checkNumber('generate', 'topP', o.topP, { min: 0, max: 1, minExclusive: true });
  if (o.repetitionPenalty !== undefined) {
    checkNumber('generate', 'repetitionPenalty', o.repetitionPenalty, {
      min: 0,
      minExclusive: true,
    });
  }
}

/** CTRL's penalty: positive logits of seen tokens are divided by it, negative ones multiplied. */
export function applyRepetitionPenalty(
  logits: Float32Array,
  seen: Iterable<number>,
  penalty: number,
): Float32Array {
  const out = Float32Array.from(logits);
  if (penalty === 1) return out;
  for (const id of new Set(seen)) {
    if (id < 0 || id >= out.length) continue;
    out[id] = out[id]! > 0 ? out[id]! / penalty : out[id]! * penalty;
  }
  return out;
}

/**
 * Probabilities after temperature, top-k (Fan et al. 2018) and nucleus top-p (Holtzman et al.
 * 2020) filtering; filtered tokens get probability 0.
 */
export function samplingProbabilities(logits: Float32Array, o: SamplingOptions): Float64Array {
  const n = logits.length;
  const t = o.temperature ?? 1;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => logits[b]! - logits[a]! || a - b,
  );
  const probs = new Float64Array(n);
  const max = logits[order[0]!]!;
  let sum = 0;
  for (const i of order) {
    probs[i] = Math.exp((logits[i]! - max) / t);
    sum += probs[i]!;
  }
  for (let i = 0; i < n; i++) probs[i]! /= sum;
  let keep = o.topK && o.topK > 0 ? Math.min(o.topK, n) : n;
  const topP = o.topP ?? 1;
  if (topP < 1) {
    let mass = 0;
    for (let r = 0; r < keep; r++) {
      mass += probs[order[r]!]!;
      if (mass >= topP) {
        keep = r + 1;
        break;
      }
    }
  }
  let kept = 0;
  for (let r = 0; r < n; r++) {
    if (r >= keep) probs[order[r]!] = 0;
    else kept += probs[order[r]!]!;
  }
  for (let i = 0; i < n; i++) probs[i]! /= kept;
  return probs;
}

/** Picks the next token: argmax at temperature 0, else a draw from the filtered distribution. */
export function sampleToken(logits: Float32Array, o: SamplingOptions, rng: Rng): number {
  if ((o.temperature ?? 1) === 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  const probs = samplingProbabilities(logits, o);
  let u = rng.uniform();
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) continue;
    last = i;
    u -= probs[i]!;
    if (u < 0) return i;
  }
  return last;
}
