import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@attnkit/core';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';
import { applyRotary } from '@attnkit/positional';
import { type RotaryCase, fixture, randn, range } from '../helpers';

const golden = fixture<{ cases: RotaryCase[] }>('rotary.json');
const scaled = { type: 'yarn' as const, factor: 4, originalMaxPosition: 16 };

describe('applyRotary', () => {
  it.each(golden.cases)('matches the reference: $name', (c) => {
    const x = tf.tensor4d(c.x);
    const y = applyRotary(x, c.positions, c.config);
    expectClose(y, c.expected, { atol: 2e-5, rtol: 1e-4 });
    tf.dispose([x, y]);
  });

  it.each([
    ['half', undefined],
    ['interleaved', undefined],
    ['half', scaled],
  ] as const)('keeps the norm of every head vector (%s, %p)', (layout, scaling) => {
    const x = randn([2, 3, 5, 8]) as tf.Tensor4D;
    const y = applyRotary(x, range(0, 5), { headDim: 8, layout, scaling });
    expectClose(tf.norm(y, 2, -1), tf.norm(x, 2, -1), { atol: 1e-5 });
    tf.dispose([x, y]);
  });

  it.each(['half', 'interleaved'] as const)(
    'makes q_m . k_n depend only on m - n (%s)',
    (layout) => {
      const q = randn([1, 1, 1, 8], 2) as tf.Tensor4D;
      const k = randn([1, 1, 1, 8], 3) as tf.Tensor4D;
      const config = { headDim: 8, layout, scaling: scaled };
      const dot = (m: number, n: number) =>
        tf.tidy(
          () =>
            tf.sum(tf.mul(applyRotary(q, [m], config), applyRotary(k, [n], config))).dataSync()[0]!,
        );
      for (const shift of [1, 17, 250]) {
        expect(dot(3 + shift, 1 + shift)).toBeCloseTo(dot(3, 1), 4);
        expect(dot(1 + shift, 9 + shift)).toBeCloseTo(dot(1, 9), 4);
      }
      expect(Math.abs(dot(3, 1) - dot(1, 3))).toBeGreaterThan(1e-3); // direction matters
      tf.dispose([q, k]);
    },
  );

  it.each(['half', 'interleaved'] as const)(
    'rotating a sequence equals rotating it token by token with offsets (%s)',
    (layout) => {
      const config = { headDim: 12, rotaryDim: 8, layout };
      const x = randn([2, 2, 6, 12]) as tf.Tensor4D;
      const full = applyRotary(x, range(10, 16), config);
      const steps = Array.from({ length: 6 }, (_, t) =>
        tf.tidy(() => applyRotary(tf.slice(x, [0, 0, t, 0], [-1, -1, 1, -1]), [10 + t], config)),
      );
      const stepped = tf.concat(steps, 2);
      expectClose(stepped, full, { atol: 1e-6 });
      tf.dispose([x, full, stepped, ...steps]);
    },
  );

  it("'half' and 'interleaved' are the same rotation up to a channel permutation", () => {
    const d = 8;
    // interleaved channel 2i <- half channel i, 2i+1 <- half channel i + d/2
    const perm = Array.from({ length: d }, (_, c) => (c % 2 === 0 ? c / 2 : (c - 1) / 2 + d / 2));
    const x = randn([1, 2, 4, d]) as tf.Tensor4D;
    const p = range(3, 7);
    const half = applyRotary(x, p, { headDim: d, layout: 'half' });
    const inter = applyRotary(tf.gather(x, perm, 3) as tf.Tensor4D, p, {
      headDim: d,
      layout: 'interleaved',
    });
    expectClose(inter, tf.gather(half, perm, 3), { atol: 1e-6 });
    expect(
      tf
        .max(tf.abs(tf.sub(half, applyRotary(x, p, { headDim: d, layout: 'interleaved' }))))
        .dataSync()[0],
    ).toBeGreaterThan(0.01);
  });

  it('is the identity at position 0 and on the pass-through channels', () => {
    const x = randn([1, 1, 2, 6]) as tf.Tensor4D;
    const y = applyRotary(x, [0, 5], { headDim: 6, rotaryDim: 2 });
    const [x0, y0] = [x, y].map((t) => tf.slice(t, [0, 0, 0, 0], [1, 1, 1, 6]));
    expectClose(y0!, x0!, { atol: 1e-7 });
    expectClose(
      tf.slice(y, [0, 0, 0, 2], [-1, -1, -1, -1]),
      tf.slice(x, [0, 0, 0, 2], [-1, -1, -1, -1]),
      {
        atol: 0,
      },
    );
  });

  it('has the right gradient (finite differences) and does not leak', async () => {
    const x = randn([1, 2, 3, 4]) as tf.Tensor4D;
    const p = range(2, 5);
    await expectNoLeaks(() => {
      finiteDifferenceCheck(
        (v) => applyRotary(v as tf.Tensor4D, p, { headDim: 4, layout: 'interleaved' }),
        [x],
      );
      finiteDifferenceCheck(
        (v) => applyRotary(v as tf.Tensor4D, p, { headDim: 4, scaling: scaled }),
        [x],
      );
    });
    tf.dispose([x, p]);
  });

  it('rejects wrong head widths and position counts', () => {
    const x = tf.zeros([1, 1, 3, 6]) as tf.Tensor4D;
    expect(() => applyRotary(x, [0, 1, 2], { headDim: 8 })).toThrow(ShapeError);
    expect(() => applyRotary(x, [0, 1, 2], { headDim: 8 })).toThrow(
      /rotary: x expected shape \[\*,\*,\*,8\]/,
    );
    expect(() => applyRotary(x, [0, 1], { headDim: 6 })).toThrow(
      /rotary: positions expected 3 positions/,
    );
    tf.dispose(x);
  });
});
