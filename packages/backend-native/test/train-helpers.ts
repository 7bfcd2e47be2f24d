// Shared by the fused training kernels' specs: one computation on cpu (the composite) and on
// native (the kernel), outputs and the gradients of every input compared, and the kernels that ran.
import * as tf from '@tensorflow/tfjs-core';
import { maxAbsDiff } from '@attnkit/core/testing';
import './helpers';

export async function on<T>(backend: string, f: () => T | Promise<T>): Promise<T> {
  const initial = tf.getBackend();
  await tf.setBackend(backend);
  // No 'install tfjs-node' banner when cpu is first used here (ATTNKIT_TEST_BACKEND=native).
  (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  try {
    return await f();
  } finally {
    await tf.setBackend(initial);
  }
}

/**
 * f's output, then the gradient of Σ f(xs)·w (w fixed, seeded) with respect to each of the
 * differentiable inputs (the first `differentiable` of them; all by default).
 */
export function valuesAndGrads(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: () => tf.Tensor[],
  differentiable?: number,
): Float32Array[] {
  return tf.tidy(() => {
    const xs = inputs();
    const out = f(...xs);
    const w = tf.randomUniform(out.shape, -1, 1, 'float32', 99);
    const n = differentiable ?? xs.length;
    const loss = (...d: tf.Tensor[]) => tf.sum(tf.mul(f(...d, ...xs.slice(n)), w)) as tf.Scalar;
    const grads = tf.grads(loss)(xs.slice(0, n));
    return [out, ...grads].map((t) => Float32Array.from(t.dataSync() as Float32Array));
  });
}

/**
 * The composite on cpu and the kernel on native agree (max abs error <= tol) on the output and
 * every gradient, and native ran each of `kernels`.
 */
export async function expectKernelMatchesComposite(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: () => tf.Tensor[],
  kernels: string[],
  options: { differentiable?: number; tol?: number } = {},
): Promise<void> {
  const composite = await on('cpu', () => valuesAndGrads(f, inputs, options.differentiable));
  const fused = await on('native', () => valuesAndGrads(f, inputs, options.differentiable));
  expect(fused.length).toBe(composite.length);
  composite.forEach((expected, i) => {
    expect(fused[i]!.length).toBe(expected.length);
    expect(maxAbsDiff(fused[i]!, expected)).toBeLessThanOrEqual(options.tol ?? 1e-4);
  });
  const profile = await on('native', () =>
    tf.profile(() => void valuesAndGrads(f, inputs, options.differentiable)),
  );
  const names = profile.kernels.map((k) => k.name);
  for (const k of kernels) expect(names).toContain(k);
}

/** The names of the kernels f ran on `backend`. */
export async function kernelsRun(backend: string, f: () => void): Promise<string[]> {
  const profile = await on(backend, () => tf.profile(f));
  return profile.kernels.map((k) => k.name);
}

/** "Name: message" of what f throws, or 'nothing' (the addon's errors come from another realm). */
export function thrown(f: () => unknown): string {
  try {
    f();
    return 'nothing';
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}
