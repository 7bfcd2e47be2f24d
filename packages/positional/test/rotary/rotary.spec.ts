import * as tf from '@tensorflow/tfjs-core';
import { build, registeredTypes } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { RotaryPositional, applyRotary } from '@attnkit/positional';
import { randn, range } from '../helpers';

describe('RotaryPositional', () => {
  it('builds from the registry with defaults and rotates like applyRotary', () => {
    expect(registeredTypes('positional')).toContain('rotary');
    const rope = build<RotaryPositional>({ type: 'rotary', headDim: 8 });
    expect(rope.kind).toBe('rotate');
    expect(rope.config).toEqual({ type: 'rotary', headDim: 8, base: 10000, layout: 'half' });
    expect(rope.logitScale).toBe(1);
    expect(rope.numParams()).toBe(0);
    const x = randn([1, 2, 3, 8]) as tf.Tensor4D;
    const p = range(4, 7);
    const outputs = [
      rope.rotate(x, p),
      applyRotary(x, p, { headDim: 8 }),
      applyRotary(x, p, rope.config),
    ];
    expectClose(outputs[0]!, outputs[1]!, { atol: 0 });
    expectClose(outputs[0]!, outputs[2]!, { atol: 0 });
    tf.dispose([x, p, ...outputs]);
  });

  it('exposes the YaRN temperature as logitScale', () => {
    const rope = new RotaryPositional({
      headDim: 8,
      scaling: { type: 'yarn', factor: 16, originalMaxPosition: 32 },
    });
    expect(rope.logitScale).toBeCloseTo((0.1 * Math.log(16) + 1) ** 2, 12);
    expect(rope.inverseFrequencies).toHaveLength(4);
  });

  it('passes gradients to its input and does not leak (forward, backward, dispose)', async () => {
    const x = randn([1, 1, 3, 4]) as tf.Tensor4D;
    const p = range(0, 3);
    await expectNoLeaks(() => {
      const rope = new RotaryPositional({ headDim: 4, layout: 'interleaved' });
      const y = rope.rotate(x, p);
      // the rotation is orthogonal: d|R x|^2/dx = 2x
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.square(rope.rotate(v as tf.Tensor4D, p))))(x);
      const twice = tf.mul(x, 2);
      expectClose(g, twice, { atol: 1e-5 });
      tf.dispose([y, g, twice]);
      rope.dispose();
    });
    tf.dispose([x, p]);
  });

  it('reports config errors through the registry with the JSON path', () => {
    expect(() => build({ type: 'rotary', headDim: 8, rotaryDim: 12 })).toThrow(
      'rotary: rotaryDim expected <= headDim=8, got 12',
    );
    expect(() => build<Module>({ type: 'rotary' })).toThrow(/\$.headDim/);
  });
});
