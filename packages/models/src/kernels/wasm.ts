// Kernel patches for tfjs-backend-wasm: faster transposed matmul and tile, and the AdamW kernel
// of the contract (@attnkit/kernels' ADAMW), which the wasm backend lacks. The CLI applies them.
import * as tf from '@tensorflow/tfjs-core';
import { ADAMW, type AdamWAttrs, type AdamWInputs } from '@attnkit/kernels';

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmBackend {
  disposeData(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.TypedArray;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

let patched = false;

/**
 * Faster kernels for the wasm backend, measured on a llama-tiny training step (2 cores):
 * `BatchMatMul` with a transposed operand runs a slow generic loop in tfjs-backend-wasm 4.22
 * (480×64 · (128×64)ᵀ: 4.4 ms against 0.7 ms untransposed), so the operand is transposed first
 * and the fast path does the product; `Tile` copies element by element (2 ms for 30k floats),
 * so it is redone here with block copies (outputs bit-identical; a step drops from ~110 to ~45
 * ms); and AdamW's fused `AttnkitAdamW` kernel, which the wasm backend lacks. Called once the
 * wasm backend is active; does nothing on other backends or twice.
 */
export function patchWasmKernels(): boolean {
  if (patched || tf.getBackend() !== 'wasm') return false;
  const matMul = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  const tile = tf.getKernel('Tile', 'wasm');
  if (!matMul || !transpose || !tile) return false;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    kernelFunc: (args: KernelArgs) => {
      const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return matMul.kernelFunc(args);
      const backend = args.backend as unknown as WasmBackend;
      const temps: tf.TensorInfo[] = [];
      const swapLast = (x: tf.TensorInfo) => {
        const rank = x.shape.length;
        const perm = [...Array(rank).keys()];
        [perm[rank - 1], perm[rank - 2]] = [rank - 2, rank - 1];
        const y = transpose.kernelFunc({ inputs: { x }, backend: args.backend, attrs: { perm } });
        temps.push(y as tf.TensorInfo);
        return y as tf.TensorInfo;
      };
      const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const out = matMul.kernelFunc({
        ...args,
        inputs: { a: transposeA ? swapLast(a) : a, b: transposeB ? swapLast(b) : b },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
      for (const t of temps) backend.disposeData(t.dataId);
      return out;
    },
  });
  tf.unregisterKernel('Tile', 'wasm');
  tf.registerKernel({
    kernelName: 'Tile',
    backendName: 'wasm',
    kernelFunc: (args: KernelArgs) => {
      const backend = args.backend as unknown as WasmBackend;
      const x = args.inputs.x as tf.TensorInfo;
      const { reps } = args.attrs as { reps: number[] };
      const { values, shape } = tileValues(backend.typedArrayFromHeap(x), x.shape, reps);
      const out = backend.makeOutput(shape, x.dtype);
      backend.typedArrayFromHeap(out).set(values);
      return out;
    },
  });
  tf.registerKernel({
    kernelName: ADAMW,
    backendName: 'wasm',
    kernelFunc: (args: KernelArgs) => adamwOnHeap(args),
  });
  patched = true;
  return true;
}

/**
 * AdamW's update (Loshchilov & Hutter 2019, Alg. 2) in one pass over the wasm heap, as
 * AdamW.step's ops compute it, with the scalars rounded to float32 as its scalar tensors are:
 * one kernel per parameter instead of about sixteen, which is a third of a tiny model's step.
 */
function adamwOnHeap(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as unknown as WasmBackend;
  const { param, m, v, grad } = args.inputs as AdamWInputs<tf.TensorInfo>;
  const a = args.attrs as AdamWAttrs;
  const f = Math.fround;
  const [lr, b1, b2, eps, wd] = [a.lr, a.beta1, a.beta2, a.epsilon, a.weightDecay].map(f);
  const [c1, c2] = [f(1 - a.beta1 ** a.step), f(1 - a.beta2 ** a.step)];
  const [nb1, nb2] = [f(1 - a.beta1), f(1 - a.beta2)];
  const scale = f(a.gradScale ?? 1);
  const p0 = backend.typedArrayFromHeap(param).slice() as Float32Array;
  const m0 = backend.typedArrayFromHeap(m).slice() as Float32Array;
  const v0 = backend.typedArrayFromHeap(v).slice() as Float32Array;
  const g = backend.typedArrayFromHeap(grad).slice() as Float32Array;
  if (scale !== 1) for (let i = 0; i < g.length; i++) g[i] = f(g[i]! * scale);
  for (let i = 0; i < p0.length; i++) {
    const m1 = f(f(m0[i]! * b1) + f(g[i]! * nb1));
    const v1 = f(f(v0[i]! * b2) + f(f(g[i]! * g[i]!) * nb2));
    let update = f(f(m1 / c1) / f(f(Math.sqrt(f(v1 / c2))) + eps));
    if (wd > 0) update = f(update + f(p0[i]! * wd));
    p0[i] = f(p0[i]! - f(update * lr));
    m0[i] = m1;
    v0[i] = v1;
  }
  return [p0, m0, v0].map((values) => {
    const out = backend.makeOutput([...param.shape], 'float32');
    backend.typedArrayFromHeap(out).set(values);
    return out;
  });
}

/** Row-major tiling by block copies, innermost axis first. */
export function tileValues(
  input: tf.TypedArray,
  inShape: readonly number[],
  reps: readonly number[],
): { values: tf.TypedArray; shape: number[] } {
  let values: tf.TypedArray = input.slice();
  const shape = [...inShape];
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const r = reps[axis]!;
    if (r === 1) continue;
    let row = 1;
    for (let i = axis; i < shape.length; i++) row *= shape[i]!;
    const outer = row === 0 ? 0 : values.length / row;
    const next = new (values.constructor as new (n: number) => tf.TypedArray)(values.length * r);
    for (let o = 0; o < outer; o++) {
      const block = values.subarray(o * row, (o + 1) * row);
      for (let k = 0; k < r; k++) next.set(block as never, (o * r + k) * row);
    }
    values = next;
    shape[axis] = shape[axis]! * r;
  }
  return { values, shape };
}
