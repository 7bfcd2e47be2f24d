import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  Rng,
  build,
  computeFans,
  initSpecSchema,
  initTensor,
  initializerNames,
  initializers,
  registerInitializer,
  type Linear,
} from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

function stats(t: tf.Tensor): { mean: number; std: number; min: number; max: number } {
  const v = Array.from(t.dataSync());
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, min: Math.min(...v), max: Math.max(...v) };
}

describe('initTensor', () => {
  it('gives the same numbers for the same seed and different ones for another', () => {
    for (const name of initializerNames) {
      const a = initTensor(name, [16, 8], new Rng(5));
      const b = initTensor(name, [16, 8], new Rng(5));
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      tf.dispose([a, b]);
    }
    const a = initTensor('normal', [32], new Rng(5));
    const c = initTensor('normal', [32], new Rng(6));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    tf.dispose([a, c]);
  });

  it('matches each distribution in mean, spread and bounds', () => {
    const shape = [200, 100];
    const { fanIn, fanOut } = computeFans(shape);
    const rng = new Rng(1);
    const close = (a: number, b: number, tol: number) => expect(Math.abs(a - b)).toBeLessThan(tol);

    const n = stats(initTensor({ name: 'normal', std: 0.5, mean: 1 }, shape, rng));
    close(n.mean, 1, 0.02);
    close(n.std, 0.5, 0.02);

    const tn = stats(initTensor({ name: 'truncated-normal', std: 1 }, shape, rng));
    expect(tn.max).toBeLessThanOrEqual(2);
    expect(tn.min).toBeGreaterThanOrEqual(-2);
    close(tn.std, 0.88, 0.03); // std of N(0,1) truncated at ±2

    const u = stats(initTensor({ name: 'uniform', min: 2, max: 4 }, shape, rng));
    expect(u.min).toBeGreaterThanOrEqual(2);
    expect(u.max).toBeLessThan(4);
    close(u.mean, 3, 0.02);

    const xu = stats(initTensor('xavier-uniform', shape, rng));
    close(xu.std, Math.sqrt(2 / (fanIn + fanOut)), 0.003);
    const xn = stats(initTensor('xavier-normal', shape, rng));
    close(xn.std, Math.sqrt(2 / (fanIn + fanOut)), 0.003);
    const ku = stats(initTensor('kaiming-uniform', shape, rng));
    close(ku.std, Math.sqrt(2 / fanIn), 0.005);
    const kn = stats(initTensor('kaiming-normal', shape, rng));
    close(kn.std, Math.sqrt(2 / fanIn), 0.005);

    expect(stats(initTensor('zeros', [3], rng)).max).toBe(0);
    expect(stats(initTensor('ones', [3], rng)).min).toBe(1);
  });

  it('computes fans for vectors, matrices and kernels', () => {
    expect(computeFans([4, 6])).toEqual({ fanIn: 4, fanOut: 6 });
    expect(computeFans([3, 3, 4, 6])).toEqual({ fanIn: 36, fanOut: 54 });
    expect(computeFans([5])).toEqual({ fanIn: 5, fanOut: 5 });
  });

  it('takes fans from [in, out] by default, or from the caller', () => {
    const rng = new Rng(2);
    // kaiming-normal std = sqrt(2 / fanIn): 400 rows make fanIn 400, not the 50 columns.
    const byShape = stats(initTensor('kaiming-normal', [400, 50], rng));
    expect(Math.abs(byShape.std - Math.sqrt(2 / 400))).toBeLessThan(0.003);
    const given = stats(initTensor('kaiming-normal', [400, 50], rng, { fanIn: 8, fanOut: 8 }));
    expect(Math.abs(given.std - 0.5)).toBeLessThan(0.02);
    const gained = stats(initTensor({ name: 'xavier-normal', gain: 3 }, [400, 50], rng));
    expect(Math.abs(gained.std - 3 * Math.sqrt(2 / 450))).toBeLessThan(0.006);
  });

  it('refuses bad specs, shapes and fans with ConfigErrors naming the field', () => {
    const rng = new Rng(0);
    expect(() => initTensor({ name: 'uniform', min: 1, max: 1 }, [2], rng)).toThrow(
      /spec\.max expected uniform bounds with min < max/,
    );
    expect(() => initTensor({ name: 'normal', std: -1 }, [2], rng)).toThrow(ConfigError);
    expect(() => initTensor({ name: 'normal', std: NaN }, [2], rng)).toThrow(/spec\.std/);
    expect(() => initTensor({ name: 'normal', sd: 1 } as never, [2], rng)).toThrow(
      /unknown option 'sd'/,
    );
    expect(() => initTensor('bogus' as never, [2], rng)).toThrow(
      /spec expected one of 'zeros', 'ones'/,
    );
    expect(() => initTensor('zeros', [2, -1], rng)).toThrow(/shape expected non-negative/);
    expect(() => initTensor('zeros', [2.5], rng)).toThrow(ConfigError);
    expect(() => initTensor('xavier-uniform', [2, 2], rng, { fanIn: 0, fanOut: 2 })).toThrow(
      /fans\.fanIn/,
    );
  });

  it('is validated inside layer configs with the JSON path', () => {
    const base = { type: 'linear', inFeatures: 2, outFeatures: 2 };
    expect(() => build({ ...base, init: { name: 'normal', std: -0.1 } })).toThrow(
      /linear: \$\.init\.std expected a value > 0, got -0\.1/,
    );
    expect(() => build({ ...base, init: { name: 'uniform', min: 0.5 } })).toThrow(/\$\.init\.max/);
    expect(() => build({ ...base, init: 'he-normal' })).toThrow(
      /\$\.init expected one of 'zeros'.*got 'he-normal'/,
    );
    expect(initSpecSchema.parse({ name: 'uniform', min: -1, max: 1 })).toEqual({
      name: 'uniform',
      min: -1,
      max: 1,
    });
  });

  it('leaks nothing', async () => {
    await expectNoLeaks(() => initTensor('normal', [4, 4], new Rng(0)).dispose());
  });
});

describe('initializer registry', () => {
  it('takes a user initializer by name, in a spec and in a layer config', () => {
    registerInitializer('test-sevens', (values) => void values.fill(7), { summary: 'all sevens' });
    expect(initializers.info('test-sevens')?.summary).toBe('all sevens');
    const t = initTensor({ name: 'test-sevens' }, [2, 2], new Rng(0));
    expect(Array.from(t.dataSync())).toEqual([7, 7, 7, 7]);
    t.dispose();
    const layer = build<Linear>({
      type: 'linear',
      inFeatures: 2,
      outFeatures: 3,
      init: 'test-sevens',
    });
    expect(Array.from(layer.weight.dataSync())).toEqual([7, 7, 7, 7, 7, 7]);
    layer.dispose();
    expect(initializers.info('xavier-uniform')?.paper).toMatch(/Glorot/);
  });
});
