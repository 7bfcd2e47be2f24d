import type * as tf from '@tensorflow/tfjs-core';
import { State } from '@attnkit/core';

/**
 * Recurrent memory's decoding state: the memory slots [b, M, dModel] written at the last segment
 * boundary and the current partial segment's inputs [b, p, dModel] (p < segmentLength) with their
 * positions, so its size is bounded by (M + segmentLength)·dModel whatever the tokens seen.
 */
export class RecurrentMemoryState extends State {
  private partialPositions: number[] = [];

  /** The memory after the last complete segment; undefined before the first write. */
  get memory(): tf.Tensor3D | undefined {
    return this.tensor<tf.Tensor3D>('memory');
  }

  /** The inputs of the segment in progress; undefined at a boundary. */
  get partial(): tf.Tensor3D | undefined {
    return this.tensor<tf.Tensor3D>('partial');
  }

  /** Absolute positions of the partial segment's tokens. */
  get positions(): readonly number[] {
    return this.partialPositions;
  }

  update(
    memory: tf.Tensor3D,
    partial: tf.Tensor3D | undefined,
    positions: number[],
    tokens: number,
  ): void {
    this.setTensor('memory', memory);
    this.setTensor('partial', partial ?? null);
    this.partialPositions = partial ? positions : [];
    this.advance(tokens);
  }

  protected override fields(): Record<string, unknown> {
    return { positions: this.partialPositions };
  }

  protected override restoreFields(fields: Record<string, unknown>): void {
    const p = fields.positions;
    this.partialPositions = Array.isArray(p) ? p.map(Number) : [];
  }
}
