import * as tf from '@tensorflow/tfjs-core';
import type { AuxLossCollector } from './contracts';

/**
 * Collects auxiliary losses during one forward. Create it inside the function
 * you differentiate, so the losses join the gradient tape.
 */
export class AuxLosses implements AuxLossCollector {
  private readonly entries: { name: string; loss: tf.Scalar; weight: number }[] = [];

  add(name: string, loss: tf.Scalar, weight = 1): void {
    this.entries.push({ name, loss, weight });
  }

  get size(): number {
    return this.entries.length;
  }

  /** Weighted sum of every collected loss (0 when none). */
  total(): tf.Scalar {
    if (this.entries.length === 0) return tf.scalar(0);
    return tf.tidy(() => tf.addN(this.entries.map((e) => tf.mul(e.loss, e.weight)))) as tf.Scalar;
  }

  /** Plain numbers per name (summed over layers), for logging. */
  values(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.entries)
      out[e.name] = (out[e.name] ?? 0) + e.loss.dataSync()[0]! * e.weight;
    return out;
  }

  /** Frees the collected loss tensors. */
  dispose(): void {
    for (const e of this.entries) e.loss.dispose();
    this.entries.length = 0;
  }
}
