import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, ShapeError, State } from '@attnkit/core';
import { Linformer, type LinformerConfig } from '@attnkit/attention';
import { maxAbsDiff } from '@attnkit/core/testing';
import { casesOf, checkGolden } from './batch-a-fixture';

const make = (extra: Partial<LinformerConfig> = {}, seed = 3) =>
  new Linformer(
    { type: 'linformer', dModel: 8, numHeads: 2, maxLength: 6, projectedLength: 3, ...extra },
    { rng: new Rng(seed) },
  );
const input = (t: number) => tf.randomNormal([2, t, 8], 0, 1, 'float32', 2) as tf.Tensor3D;

describe('linformer (Wang et al. 2020)', () => {
  it.each(casesOf('linformer'))(
    '%s: output and input gradient match PyTorch (T < maxLength: the first T columns of E, F)',
    (_name, c) => checkGolden(c),
  );

  it('takes inputs up to maxLength; longer ones get a ShapeError naming both lengths', () => {
    const m = make();
    expect(m.forward(input(6)).shape).toEqual([2, 6, 8]);
    expect(m.forward(input(1)).shape).toEqual([2, 1, 8]);
    expect(() => m.forward(input(7))).toThrow(ShapeError);
    expect(() => m.forward(input(7))).toThrow(/maxLength=6.*7 tokens/);
    const grouped = make({ numKvHeads: 1 });
    expect(grouped.forward(input(4)).shape).toEqual([2, 4, 8]);
    [m, grouped].forEach((mod) => mod.dispose());
  });

  it('is encoder only: causal use and decoding are refused with clear typed errors', () => {
    const m = make();
    expect(m.capabilities).toMatchObject({ causal: 'never', decoding: false });
    expect(() => m.forward(input(3), { causal: true })).toThrow(/never causal/);
    expect(() => m.forward(input(3), { state: new State() })).toThrow(/cannot decode/);
    expect(() => make({ causal: true } as never)).toThrow(ConfigError);
    expect(() => make({ maxLength: 0 })).toThrow(/maxLength/);
    expect(() => make({ projectedLength: 0 })).toThrow(/projectedLength/);
    expect(() => make({ sharing: 'layerwise' } as never)).toThrow(/sharing/);
    m.dispose();
  });

  it("'key-value' sharing uses one projection for keys and values", () => {
    const shared = make({ sharing: 'key-value' });
    expect(Object.keys(shared.stateDict()).sort()).toEqual(
      ['k.weight', 'keyProjection', 'o.weight', 'q.weight', 'v.weight'].sort(),
    );
    expect(shared.valueProjection).toBe(shared.keyProjection);
    // Same weights with F set to E in the headwise module: same output.
    const headwise = make({}, 9);
    headwise.loadStateDict({
      ...shared.stateDict(),
      valueProjection: shared.keyProjection,
    });
    const x = input(5);
    expect(maxAbsDiff(shared.forward(x), headwise.forward(x))).toBeLessThan(1e-6);
    [shared, headwise].forEach((m) => m.dispose());
  });
});
