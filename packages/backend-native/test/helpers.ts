// Runs the same computation on the cpu backend and on native, for comparisons.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '../src/index';

export type Outcome = {
  values?: Float32Array | Int32Array | Uint8Array;
  shape?: number[];
  dtype?: string;
  error?: string;
};

/** f() on 'cpu' then on 'native': values, shape and dtype of its result, or its error message. */
export async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<[Outcome, Outcome]> {
  const initial = tf.getBackend();
  const run = async (name: string): Promise<Outcome> => {
    await tf.setBackend(name);
    try {
      const out = tf.tidy(f);
      const list = Array.isArray(out) ? out : [out];
      const parts = list.map((t) => ({
        values: t.dataSync() as Float32Array,
        shape: t.shape,
        dtype: t.dtype,
      }));
      tf.dispose(list);
      if (parts.length === 1) return parts[0]!;
      const total = parts.reduce((n, p) => n + p.values.length, 0);
      const values = new Float32Array(total);
      let o = 0;
      for (const p of parts) {
        values.set(p.values, o);
        o += p.values.length;
      }
      return { values, shape: parts.flatMap((p) => [...p.shape, -1]), dtype: parts[0]!.dtype };
    } catch (error) {
      return { error: (error as Error).message };
    }
  };
  const cpu = await run('cpu');
  const native = await run('native');
  await tf.setBackend(initial);
  return [cpu, native];
}

/** Expects both outcomes to agree: same error, or same shape/dtype and values within tol. */
export function expectSame([cpu, native]: [Outcome, Outcome], tol = 1e-5): void {
  if (cpu.error !== undefined || native.error !== undefined) {
    expect(native.error).toBe(cpu.error);
    return;
  }
  expect(native.shape).toEqual(cpu.shape);
  expect(native.dtype).toBe(cpu.dtype);
  const a = cpu.values!;
  const b = native.values!;
  expect(b.length).toBe(a.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    if (Number.isNaN(x) || Number.isNaN(y)) {
      expect(Number.isNaN(y)).toBe(Number.isNaN(x));
      continue;
    }
    if (x === y) continue;
    const err = Math.abs(x - y) / Math.max(1, Math.abs(x));
    worst = Math.max(worst, err);
  }
  expect(worst).toBeLessThanOrEqual(tol);
}

/** Seeded uniform values in [-1, 1). */
export function rand(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

/** Runs the enclosing describe block (or file) on 'native', restoring the previous backend after. */
export function useNativeBackend(): void {
  let initial = 'cpu';
  beforeAll(async () => {
    initial = tf.getBackend();
    await tf.setBackend('native');
  });
  afterAll(async () => {
    await tf.setBackend(initial);
  });
}
