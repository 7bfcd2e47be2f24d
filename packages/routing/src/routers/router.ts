import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Module,
  checkInt,
  checkNumber,
  checkRank,
  describe,
  gatherRows,
} from '@attnkit/core';

/** Per-forward routing statistics, plain numbers (read after a forward, e.g. `moe.lastStats`). */
export interface RouterStats {
  /** Tokens routed in this forward. */
  tokens: number;
  /** Active assignments per expert (after capacity drops). */
  load: number[];
  /** Assignments per expert chosen by the router before capacity drops. */
  demand: number[];
  /** Token→expert assignments dropped because an expert was full. */
  droppedAssignments: number;
  /** Tokens left with no active expert (they pass through the residual only). */
  droppedTokens: number;
  /** Per-expert capacity, or null when unlimited. */
  capacity: number | null;
}

/**
 * What every router returns for `tokens` inputs and `k` slots per token. The caller owns
 * the tensors. Inactive slots (dropped, or not chosen by expert-choice) have mask 0, gate 0.
 */
export interface RouterOutput {
  /** int32 [tokens, k] expert of each slot. */
  indices: tf.Tensor2D;
  /** [tokens, k] combine weight of each slot (differentiable w.r.t. the router). */
  gates: tf.Tensor2D;
  /** [tokens, k] 1 for an active slot, 0 for a dropped one. */
  mask: tf.Tensor2D;
  /** [tokens, experts] raw router logits (for the z-loss), or null for parameter-free routers. */
  logits: tf.Tensor2D | null;
  /** [tokens, experts] router probabilities (the P of the load-balance loss). */
  probs: tf.Tensor2D;
  stats: RouterStats;
}

/** Run-time control of experts (or heads) for analysis; indices are expert numbers. */
export interface ExpertControl {
  /** Never selected. */
  disabled?: number[];
  /** Always selected (token-choice: takes a top-k slot first). */
  forced?: number[];
  /** Multiplies each expert's gate (length numExperts). */
  weights?: number[];
}

export interface RouteOptions {
  /** Defaults to the module's training flag. Noise is drawn only in training. */
  training?: boolean;
  /** Number of sequences the tokens are made of (similarity routing groups by sequence). */
  groups?: number;
  /** Tokens may only look at earlier tokens of their sequence (similarity routing). */
  causal?: boolean;
  control?: ExpertControl | null;
  /** Standard-normal noise [tokens, experts] for noisy routing (else drawn from the module's Rng). */
  noise?: tf.Tensor2D;
}

/** Common fields of every router config. */
export interface RouterBaseConfig {
  type: string;
  dim: number;
  numExperts: number;
  topK?: number;
}

/** Base of every router: `route(x [tokens, dim]) -> RouterOutput`. */
export abstract class Router<C extends RouterBaseConfig = RouterBaseConfig> extends Module<C> {
  abstract route(x: tf.Tensor2D, options?: RouteOptions): RouterOutput;

  /** Slots per token in the output. */
  abstract get slots(): number;

  protected checkInput(x: tf.Tensor2D): void {
    checkRank(this.blockName, 'x', x, 2);
    if (x.shape[1] !== this.config.dim) {
      throw new ConfigError(this.blockName, 'x', `last axis ${this.config.dim}`, `[${x.shape}]`);
    }
  }
}

/** Validates the common numbers (clear errors for direct construction, not only via zod). */
export function checkRouterConfig(
  block: string,
  c: { dim: number; numExperts: number; topK?: number; capacityFactor?: number },
): void {
  checkInt(block, 'dim', c.dim);
  checkInt(block, 'numExperts', c.numExperts);
  if (c.topK !== undefined) {
    checkInt(block, 'topK', c.topK);
    if (c.topK > c.numExperts) {
      throw new ConfigError(
        block,
        'topK',
        `an integer <= numExperts (${c.numExperts})`,
        describe(c.topK),
      );
    }
  }
  if (c.capacityFactor !== undefined) {
    checkNumber(block, 'capacityFactor', c.capacityFactor, { min: 0, minExclusive: true });
  }
}

/** Checks a control's expert numbers against `numExperts`. */
export function checkControl(block: string, control: ExpertControl, numExperts: number): void {
  for (const key of ['disabled', 'forced'] as const) {
    for (const e of control[key] ?? []) {
      if (!Number.isInteger(e) || e < 0 || e >= numExperts) {
        throw new ConfigError(
          block,
          `control.${key}`,
          `experts in [0, ${numExperts})`,
          describe(e),
        );
      }
    }
  }
  if (control.weights && control.weights.length !== numExperts) {
    throw new ConfigError(
      block,
      'control.weights',
      `${numExperts} weights`,
      `${control.weights.length}`,
    );
  }
  const both = (control.disabled ?? []).filter((e) => (control.forced ?? []).includes(e));
  if (both.length) {
    throw new ConfigError(block, 'control', 'no expert both disabled and forced', describe(both));
  }
}

/** Expert capacity of Switch (Fedus et al. 2021, eq. 3), times k for top-k routing. */
export function expertCapacity(
  tokens: number,
  numExperts: number,
  topK: number,
  factor: number,
): number {
  return Math.max(1, Math.ceil((factor * tokens * topK) / numExperts));
}

/**
 * Top-k selection per row in JavaScript (ties: the lower expert wins), with control applied:
 * disabled experts are never chosen, forced ones first. Returns int indices [tokens*k].
 */
export function selectTopK(
  scores: ArrayLike<number>,
  tokens: number,
  numExperts: number,
  k: number,
  control: ExpertControl | null | undefined,
): Int32Array {
  const disabled = new Set(control?.disabled ?? []);
  const forced = control?.forced ?? [];
  const available = numExperts - disabled.size;
  if (k > available) {
    throw new ConfigError(
      'router',
      'control.disabled',
      `at least topK=${k} experts left enabled`,
      `${available}`,
    );
  }
  const out = new Int32Array(tokens * k);
  const taken = new Uint8Array(numExperts);
  for (let t = 0; t < tokens; t++) {
    taken.fill(0);
    for (const e of disabled) taken[e] = 1;
    let slot = 0;
    for (const e of forced) {
      if (slot >= k) break;
      out[t * k + slot++] = e;
      taken[e] = 1;
    }
    for (; slot < k; slot++) {
      let best = -1;
      let bestValue = -Infinity;
      for (let e = 0; e < numExperts; e++) {
        const v = scores[t * numExperts + e]!;
        if (!taken[e] && (best < 0 || v > bestValue)) {
          best = e;
          bestValue = v;
        }
      }
      out[t * k + slot] = best;
      taken[best] = 1;
    }
  }
  return out;
}

/**
 * Capacity drops (Switch, Fedus et al. 2021, sec. 2.2): slots claim places in priority order —
 * every token's first choice (in token order), then every second choice, ... (GShard order).
 * Returns the active mask [tokens*k] and the stats.
 */
export function applyCapacity(
  indices: Int32Array,
  tokens: number,
  k: number,
  numExperts: number,
  capacity: number | null,
): { mask: Float32Array; stats: RouterStats } {
  const mask = new Float32Array(tokens * k);
  const load = new Array<number>(numExperts).fill(0);
  const demand = new Array<number>(numExperts).fill(0);
  let dropped = 0;
  for (let slot = 0; slot < k; slot++) {
    for (let t = 0; t < tokens; t++) {
      const e = indices[t * k + slot]!;
      demand[e]!++;
      if (capacity === null || load[e]! < capacity) {
        load[e]!++;
        mask[t * k + slot] = 1;
      } else dropped++;
    }
  }
  return {
    mask,
    stats: {
      tokens,
      load,
      demand,
      droppedAssignments: dropped,
      droppedTokens: countEmpty(mask, tokens, k),
      capacity,
    },
  };
}

/** Tokens whose slots are all inactive. */
export function countEmpty(mask: ArrayLike<number>, tokens: number, k: number): number {
  let n = 0;
  for (let t = 0; t < tokens; t++) {
    let any = false;
    for (let j = 0; j < k; j++) if (mask[t * k + j]! > 0) any = true;
    if (!any) n++;
  }
  return n;
}

/**
 * Gathers `source[t, indices[t, j]]` as a differentiable [tokens, k] tensor: rows of the
 * flattened source through core's gatherRows (its gradient works on every backend).
 */
export function pickColumns(source: tf.Tensor2D, indices: Int32Array, k: number): tf.Tensor2D {
  const [tokens, experts] = source.shape;
  return tf.tidy(() => {
    const flat = Int32Array.from({ length: tokens * k }, (_, i) => {
      return Math.floor(i / k) * experts + indices[i]!;
    });
    const picked = gatherRows(
      tf.reshape(source, [tokens * experts, 1]) as tf.Tensor2D,
      tf.tensor1d(flat, 'int32'),
    );
    return tf.reshape(picked, [tokens, k]) as tf.Tensor2D;
  });
}

/** Per-expert gate multipliers gathered for each slot (all ones without control weights). */
export function slotWeights(
  indices: Int32Array,
  control: ExpertControl | null | undefined,
): Float32Array | null {
  const weights = control?.weights;
  if (!weights) return null;
  return Float32Array.from(indices, (e) => weights[e]!);
}
