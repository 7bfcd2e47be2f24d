import * as tf from '@tensorflow/tfjs-core';
import { ShapeError, State, StateDictError, checkInt, describe, formatShape } from '@attnkit/core';
import { retentionPolicies, type RetentionOptions } from './retention';

export interface KVCacheOptions extends RetentionOptions {
  /** Name of a registered retention policy (default 'window-sinks'). */
  policy?: string;
  /** Keys per block for `summaries()` (block selection: MoBA, Quest, landmark retrieval). */
  summaryBlock?: number;
}

/**
 * Keys and values of the tokens seen so far, [batch, kvHeads, kept, headDim], with their
 * absolute positions. After each step its retention policy (a registry name) drops what no
 * future query needs, so a sliding window keeps memory bounded.
 */
export class KVCache extends State {
  /** Absolute positions of the kept keys. */
  positions: number[] = [];
  private readonly retain;
  private summaryMemo: BlockSummaries | null = null;

  constructor(readonly options: KVCacheOptions = {}) {
    super();
    this.retain = retentionPolicies.get(options.policy ?? 'window-sinks', 'options.policy');
    if (options.summaryBlock !== undefined) {
      checkInt('KVCache', 'options.summaryBlock', options.summaryBlock, 1);
    }
  }

  /**
   * Which kept keys each KV head may still attend, bool [batch, kvHeads, kept] (all when null):
   * a policy that drops keys per head (H2O, SnapKV) marks them here instead of reshaping the
   * cache; the mixers mask the rest.
   */
  get valid(): tf.Tensor3D | null {
    return this.tensor<tf.Tensor3D>('valid') ?? null;
  }

  /** Sets the per-head validity of the kept keys (see `valid`); null clears it. */
  setValid(valid: tf.Tensor3D | null): void {
    const keys = this.keys;
    if (valid) {
      const want = keys ? [keys.shape[0], keys.shape[1], keys.shape[2]] : [];
      if (!keys || valid.dtype !== 'bool' || valid.shape.join(',') !== want.join(',')) {
        throw new ShapeError(
          'KVCache',
          'valid',
          `a bool tensor of shape ${formatShape(want)} (batch, kvHeads, kept keys)`,
          `${valid.dtype} ${formatShape(valid.shape)}`,
        );
      }
    }
    this.setTensor('valid', valid ? tf.clone(valid) : null);
  }

  /**
   * Mean key of each block of `summaryBlock` positions among the kept keys (block b holds
   * positions [b·B, (b+1)·B)), [batch, kvHeads, blocks, headDim], with the block indices; kept
   * until the keys change. For block selection (MoBA's gate, Lu et al. 2025 eq. 3; Quest).
   */
  summaries(): BlockSummaries | null {
    const size = this.options.summaryBlock;
    const keys = this.keys;
    if (size === undefined || !keys) return null;
    if (!this.summaryMemo) {
      const blocks: number[] = [];
      const counts: number[] = [];
      const slot = new Map<number, number>();
      const ordinal = this.positions.map((p) => {
        const block = Math.floor(p / size);
        if (!slot.has(block)) {
          slot.set(block, blocks.length);
          blocks.push(block);
          counts.push(0);
        }
        counts[slot.get(block)!]! += 1;
        return slot.get(block)!;
      });
      const means = tf.tidy(() => {
        const byTime = tf.transpose(keys, [2, 0, 1, 3]); // segments along axis 0
        const sums = tf.unsortedSegmentSum(byTime, tf.tensor1d(ordinal, 'int32'), blocks.length);
        const mean = tf.div(sums, tf.tensor4d(counts, [blocks.length, 1, 1, 1]));
        return tf.keep(tf.transpose(mean, [1, 2, 0, 3]) as tf.Tensor4D);
      });
      this.summaryMemo = { means, blocks };
    }
    return this.summaryMemo;
  }

  get keys(): tf.Tensor4D | null {
    return this.tensor<tf.Tensor4D>('keys') ?? null;
  }

  get values(): tf.Tensor4D | null {
    return this.tensor<tf.Tensor4D>('values') ?? null;
  }

  /** Appends new keys/values; returns everything a query of this step may attend to. */
  append(
    keys: tf.Tensor4D,
    values: tf.Tensor4D,
    positions: number[],
  ): { keys: tf.Tensor4D; values: tf.Tensor4D; positions: number[] } {
    const old = this.keys;
    const valid = this.valid;
    if (valid) {
      const fresh = tf.ones([keys.shape[0], keys.shape[1], keys.shape[2]], 'bool');
      this.setTensor('valid', tf.concat([valid, fresh], 2));
      fresh.dispose();
    }
    this.forgetSummaries();
    this.setTensor('keys', old ? tf.concat([old, keys], 2) : tf.clone(keys));
    this.setTensor('values', old ? tf.concat([this.values!, values], 2) : tf.clone(values));
    this.positions = [...this.positions, ...positions];
    this.advance(keys.shape[2]);
    return { keys: this.keys!, values: this.values!, positions: this.positions };
  }

  /** Drops keys the retention policy lets go (outside the window, not a sink). Call after attending. */
  evict(): void {
    if (!this.keys) return;
    const keep = this.retain(this.positions, this.length, this.options);
    if (keep === undefined) return;
    const index = tf.tensor1d(keep, 'int32');
    // Kept rows are a sink prefix plus a recent suffix: gather along the time axis.
    this.forgetSummaries();
    this.setTensor('keys', tf.gather(this.keys, index, 2));
    this.setTensor('values', tf.gather(this.values!, index, 2));
    if (this.valid) this.setTensor('valid', tf.gather(this.valid, index, 2));
    index.dispose();
    this.positions = keep.map((i) => this.positions[i]!);
  }

  protected override fields(): Record<string, unknown> {
    return { positions: this.positions };
  }

  protected override restoreFields(fields: Record<string, unknown>): void {
    this.forgetSummaries();
    this.positions = restoredPositions(this.kind, fields.positions, this.keys?.shape[2] ?? 0);
  }

  override reorder(indices: readonly number[]): void {
    this.forgetSummaries();
    super.reorder(indices);
  }

  override dispose(): void {
    this.forgetSummaries();
    super.dispose();
    this.positions = [];
  }

  private forgetSummaries(): void {
    this.summaryMemo?.means.dispose();
    this.summaryMemo = null;
  }
}

/** Mean keys per block of positions, and the absolute index of each block. */
export interface BlockSummaries {
  /** [batch, kvHeads, blocks, headDim] */
  means: tf.Tensor4D;
  blocks: number[];
}

/** Positions from a saved state, checked against the number of kept keys. */
export function restoredPositions(kind: string, value: unknown, kept: number): number[] {
  if (
    !Array.isArray(value) ||
    value.length !== kept ||
    !value.every((p) => Number.isInteger(p) && p >= 0)
  ) {
    throw new StateDictError(
      kind,
      'bytes.positions',
      `${kept} integer positions >= 0`,
      describe(value),
    );
  }
  return value as number[];
}
