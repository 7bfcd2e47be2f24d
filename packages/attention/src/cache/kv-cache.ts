import * as tf from '@tensorflow/tfjs-core';
import { State, StateDictError, describe } from '@attnkit/core';
import { retentionPolicies, type RetentionOptions } from './retention';

export interface KVCacheOptions extends RetentionOptions {
  /** Name of a registered retention policy (default 'window-sinks'). */
  policy?: string;
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

  constructor(readonly options: KVCacheOptions = {}) {
    super();
    this.retain = retentionPolicies.get(options.policy ?? 'window-sinks', 'options.policy');
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
    this.setTensor('keys', tf.gather(this.keys, index, 2));
    this.setTensor('values', tf.gather(this.values!, index, 2));
    index.dispose();
    this.positions = keep.map((i) => this.positions[i]!);
  }

  protected override fields(): Record<string, unknown> {
    return { positions: this.positions };
  }

  protected override restoreFields(fields: Record<string, unknown>): void {
    this.positions = restoredPositions(this.kind, fields.positions, this.keys?.shape[2] ?? 0);
  }

  override dispose(): void {
    super.dispose();
    this.positions = [];
  }
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
