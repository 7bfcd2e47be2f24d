// Split a projection into attention heads (rotated) and merge them back, one pass each
// (csrc/rotary.cc's rotary_heads). Names, inputs and attrs are @attnkit/kernels' SPLIT_HEADS /
// MERGE_HEADS contract; each kernel is the other's gradient.
import * as tf from '@tensorflow/tfjs-core';
import {
  MERGE_HEADS,
  SPLIT_HEADS,
  type HeadsAttrs,
  type HeadsInputs,
  type HeadsOutputs,
} from '@attnkit/kernels';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32, sizeOf } from './util';

const MOVE = { [SPLIT_HEADS]: 1, [MERGE_HEADS]: 2 } as const;

function makeHeads(kernel: typeof SPLIT_HEADS | typeof MERGE_HEADS) {
  return ({ addon }: KernelContext): NativeKernel =>
    ({ inputs, attrs, backend }: KernelArgs) => {
      const fail = (what: string): never => {
        throw new TypeError(`${kernel}: ${what}`);
      };
      const { x } = inputs as Partial<HeadsInputs<tf.TensorInfo>>;
      const a = (attrs ?? {}) as Partial<HeadsAttrs>;
      const split = kernel === SPLIT_HEADS;
      const want = split ? '[batch, time, heads·headDim]' : '[batch, heads, time, headDim]';
      if (!x || x.shape.length !== (split ? 3 : 4)) fail(`x must be ${want}, got [${x?.shape}]`);
      if (x!.dtype !== 'float32') fail(`x must be float32, got ${x!.dtype}`);
      const heads = a.heads;
      if (!(typeof heads === 'number' && Number.isInteger(heads) && heads >= 1))
        fail(`heads must be an integer >= 1, got ${String(heads)}`);
      const [b, t, d] = split
        ? [x!.shape[0]!, x!.shape[1]!, x!.shape[2]! / heads!]
        : [x!.shape[0]!, x!.shape[2]!, x!.shape[3]!];
      if (split ? !Number.isInteger(d) || d < 1 : x!.shape[1] !== heads || d < 1)
        fail(`x ${want} with heads = ${heads} and headDim >= 1, got [${x!.shape}]`);
      const freq = a.inverseFrequencies ?? [];
      const positions = a.positions ?? [];
      if (!Array.isArray(freq) || !freq.every(Number.isFinite) || 2 * freq.length > d)
        fail(`inverseFrequencies must hold at most headDim / 2 = ${d / 2} finite numbers`);
      if (freq.length > 0 && (positions.length !== t || !positions.every(Number.isFinite)))
        fail(`positions must hold ${t} finite numbers, got ${positions.length}`);
      if (a.layout !== 'half' && a.layout !== 'interleaved')
        fail(`layout must be 'half' or 'interleaved', got ${String(a.layout)}`);
      const size = sizeOf(x!.shape);
      if (size > 2 ** 31 - 1) fail(`x has more than 2^31 - 1 elements`);
      const y = allocF32(size);
      if (size > 0) {
        const interleaved = a.layout === 'interleaved' ? 1 : 0;
        const dims = Int32Array.of(b, t, d, freq.length, interleaved, heads!, MOVE[kernel]);
        const pos = freq.length > 0 ? Float32Array.from(positions) : new Float32Array(t);
        addon.rotaryApply(f32(backend, x!), pos, Float32Array.from(freq), y, dims, split ? 1 : -1);
      }
      const shape = split ? [b, heads!, t, d] : [b, t, heads! * d];
      const out: HeadsOutputs<tf.TensorInfo> = [backend.makeTensorInfo(shape, 'float32', y)];
      return out;
    };
}

export const makeSplitHeads = makeHeads(SPLIT_HEADS);
export const makeMergeHeads = makeHeads(MERGE_HEADS);

/** Each kernel's gradient is the other with the same attrs (nothing saved). */
function headsGradConfig(kernelName: string, inverse: string): tf.GradConfig {
  return {
    kernelName,
    gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const inputs: HeadsInputs<tf.Tensor> = { x: dy as tf.Tensor };
      const [dx] = tf.engine().runKernel(inverse, inputs, attrs) as HeadsOutputs<tf.Tensor>;
      return { x: () => dx };
    },
  };
}

export const splitHeadsGradConfig = headsGradConfig(SPLIT_HEADS, MERGE_HEADS);
export const mergeHeadsGradConfig = headsGradConfig(MERGE_HEADS, SPLIT_HEADS);
