// Splitting a projection into attention heads (with the rotary embedding folded in) and merging
// them back as the active backend's kernels (architecture contract 7; @attnkit/kernels'
// SPLIT_HEADS / MERGE_HEADS, each the other's gradient). Here in core so that every projected
// mixer of @attnkit/attention can call them.
import * as tf from '@tensorflow/tfjs-core';
import {
  MERGE_HEADS,
  SPLIT_HEADS,
  type HeadsAttrs,
  type HeadsInputs,
  type HeadsOutputs,
} from '@attnkit/kernels';
import type { RotaryParameters } from '../contracts';
import { hasKernelPair } from './has-kernel-pair';

function attrs(heads: number, rotary?: RotaryParameters, positions?: readonly number[]) {
  const turns = rotary !== undefined && rotary.inverseFrequencies.length > 0;
  const out: HeadsAttrs = {
    heads,
    inverseFrequencies: turns ? [...rotary.inverseFrequencies] : [],
    positions: turns ? [...(positions ?? [])] : [],
    layout: rotary?.layout ?? 'half',
  };
  return out;
}

/**
 * x `[batch, time, heads·headDim]` as heads `[batch, heads, time, headDim]`, rotated at
 * `positions` when `rotary` is given (RoFormer eq. 34): one kernel each way where the backend
 * has both; undefined otherwise (the caller reshapes, transposes and rotates).
 */
export function splitHeadsKernel(
  x: tf.Tensor3D,
  heads: number,
  rotary?: RotaryParameters,
  positions?: readonly number[],
): tf.Tensor4D | undefined {
  if (!hasKernelPair(SPLIT_HEADS, MERGE_HEADS) || x.dtype !== 'float32') return undefined;
  const headDim = x.shape[2] / heads;
  if (!Number.isInteger(headDim) || headDim < 1) return undefined;
  if (rotary && (rotary.headDim !== headDim || positions?.length !== x.shape[1])) return undefined;
  if (rotary && 2 * rotary.inverseFrequencies.length > headDim) return undefined;
  const inputs: HeadsInputs<tf.Tensor> = { x };
  const [y] = tf
    .engine()
    .runKernel(SPLIT_HEADS, inputs, attrs(heads, rotary, positions)) as HeadsOutputs<tf.Tensor>;
  return y as tf.Tensor4D;
}

/** Heads `[batch, heads, time, headDim]` as `[batch, time, heads·headDim]`, or undefined. */
export function mergeHeadsKernel(x: tf.Tensor4D): tf.Tensor3D | undefined {
  if (!hasKernelPair(MERGE_HEADS, SPLIT_HEADS) || x.dtype !== 'float32') return undefined;
  const inputs: HeadsInputs<tf.Tensor> = { x };
  const [y] = tf
    .engine()
    .runKernel(MERGE_HEADS, inputs, attrs(x.shape[1])) as HeadsOutputs<tf.Tensor>;
  return y as tf.Tensor3D;
}
