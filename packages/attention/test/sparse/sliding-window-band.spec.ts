import * as tf from '@tensorflow/tfjs-core';
import { expectClose, expectNoLeaks, mixerContract } from '@attnkit/core/testing';
import { makeMixer, randomInput, type Mixer } from '../helpers';

// A dense band mask built entry by entry: |i - j| <= ⌊window/2⌋ (Longformer, sec. 3.1).
function denseBand(t: number, window: number): tf.Tensor4D {
  const rows: boolean[] = [];
  for (let i = 0; i < t; i++) for (let j = 0; j < t; j++) rows.push(Math.abs(i - j) <= window >> 1);
  return tf.tensor4d(rows, [1, 1, t, t], 'bool');
}

/** Output and input gradient of sum(y²) at x. */
function run(m: Mixer, x: tf.Tensor3D, context: Record<string, unknown>) {
  const f = (input: tf.Tensor) => tf.sum(tf.square(m.forward(input as tf.Tensor3D, context)));
  return { y: m.forward(x, context), dx: tf.grad(f)(x) };
}

describe('sliding-window, bidirectional (causal: false = Longformer band)', () => {
  for (const check of mixerContract({
    type: 'sliding-window',
    dModel: 8,
    numHeads: 2,
    window: 2,
    causal: false,
  })) {
    it(check.name, async () => check.run());
  }

  it.each([
    [2, 6],
    [3, 7],
    [4, 5],
    [16, 5],
  ])('window %i over %i tokens equals mha with a dense band mask (outputs, gradients)', (w, t) => {
    const band = makeMixer({ type: 'sliding-window', window: w, causal: false });
    const full = makeMixer({ type: 'mha', causal: false });
    const x = randomInput(t, 4);
    const mask = denseBand(t, w);
    const a = run(band, x, {});
    const b = run(full, x, { mask });
    expectClose(a.y, b.y, { atol: 1e-4 });
    expectClose(a.dx, b.dx, { atol: 1e-4 });
    // A real window changes the output; one wider than the sequence is full attention.
    const plain = full.forward(x, {});
    const diff = tf.max(tf.abs(tf.sub(a.y, plain))).dataSync()[0]!;
    if (w >> 1 >= t - 1) expect(diff).toBeLessThan(1e-5);
    else expect(diff).toBeGreaterThan(1e-3);
    tf.dispose([x, mask, a.y, a.dx, b.y, b.dx, plain]);
    band.dispose();
    full.dispose();
  });

  it('context causal: false on an unset config gives the same band; a given mask narrows it', () => {
    const fixed = makeMixer({ type: 'sliding-window', window: 2, causal: false });
    const either = makeMixer({ type: 'sliding-window', window: 2 });
    const x = randomInput(6, 2);
    expectClose(either.forward(x, { causal: false }), fixed.forward(x), { atol: 1e-6 });
    // Masking the first key everywhere: as the band mask and that mask together on mha.
    const first = tf.tensor4d([false, true, true, true, true, true], [1, 1, 1, 6], 'bool');
    const full = makeMixer({ type: 'mha', causal: false });
    const both = tf.logicalAnd(denseBand(6, 2), first);
    expectClose(fixed.forward(x, { mask: first }), full.forward(x, { mask: both }), {
      atol: 1e-4,
    });
    tf.dispose([x, first, both]);
    [fixed, either, full].forEach((m) => m.dispose());
  });

  it('causal runs keep the causal window (the existing behaviour)', () => {
    const m = makeMixer({ type: 'sliding-window', window: 3 });
    const full = makeMixer({ type: 'mha' });
    const x = randomInput(6, 2);
    const rows: boolean[] = [];
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) rows.push(j <= i && i - j < 3);
    const mask = tf.tensor4d(rows, [1, 1, 6, 6], 'bool');
    expectClose(m.forward(x), full.forward(x, { mask }), { atol: 1e-4 });
    tf.dispose([x, mask]);
    m.dispose();
    full.dispose();
  });

  it('leaks nothing', async () => {
    await expectNoLeaks(() => {
      const m = makeMixer({ type: 'sliding-window', window: 2, causal: false });
      const x = randomInput(5, 3);
      const mask = tf.ones([1, 1, 5, 5], 'bool');
      tf.dispose([m.forward(x), m.forward(x, { mask }), x, mask]);
      m.dispose();
    });
  });
});
