import * as tf from '@tensorflow/tfjs-core';
import { State, StateDictError, ConfigError } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

/** A state with one tensor of its own, a child, and a non-tensor field. */
class Inner extends State {
  put(t: tf.Tensor): void {
    this.setTensor('h', t);
  }
  get h(): tf.Tensor | undefined {
    return this.tensor('h');
  }
}

class Outer extends State {
  readonly inner = this.addChild('inner', new Inner());
  note = 'start';
  put(t: tf.Tensor): void {
    this.setTensor('x', t);
  }
  get x(): tf.Tensor | undefined {
    return this.tensor('x');
  }
  protected override fields(): Record<string, unknown> {
    return { note: this.note };
  }
  protected override restoreFields(fields: Record<string, unknown>): void {
    this.note = String(fields.note);
  }
}

function filled(): Outer {
  const s = new Outer();
  s.put(
    tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
    ]),
  );
  s.inner.put(tf.tensor1d([10, 20, 30]));
  s.advance(7);
  s.note = 'seven';
  return s;
}

describe('State', () => {
  it('names its tensors (children prefixed) and counts their bytes', () => {
    const s = filled();
    expect(Object.keys(s.tensors()).sort()).toEqual(['inner.h', 'x']);
    expect(s.bytes).toBe((6 + 3) * 4);
    expect(s.length).toBe(7);
    s.dispose();
  });

  it('reorders every tensor along the batch axis, children too', () => {
    const s = filled();
    s.reorder([2, 0, 0]);
    expectClose(s.x!, [
      [5, 6],
      [1, 2],
      [1, 2],
    ]);
    expectClose(s.inner.h!, [30, 10, 10]);
    expect(() => s.reorder([3])).toThrow(ConfigError);
    expect(() => s.reorder([])).toThrow(/non-empty list of batch rows in \[0, 3\)/);
    s.dispose();
  });

  it('saves to safetensors and restores tensors, counts and fields', async () => {
    const s = filled();
    const bytes = await s.save();
    const t = new Outer();
    t.restore(bytes);
    expect(t.length).toBe(7);
    expect(t.note).toBe('seven');
    expectClose(t.x!, s.x!);
    expectClose(t.inner.h!, s.inner.h!);
    s.dispose();
    t.dispose();
  });

  it('refuses a file of another kind or with other tensors, and leaks nothing doing so', async () => {
    const s = filled();
    const bytes = await s.save();
    s.dispose();
    await expectNoLeaks(() => {
      expect(() => new Inner().restore(bytes)).toThrow(StateDictError);
      expect(() => new Inner().restore(bytes)).toThrow(/a state saved by a Inner, got a Outer/);
    });
    const empty = await new Outer().save();
    const t = filled();
    expect(() => t.restore(empty)).not.toThrow();
    expect(Object.keys(t.tensors())).toEqual([]);
    t.dispose();
  });

  it('frees replaced tensors at once, and a gradient through replaced state is still right', () => {
    const s = new Inner();
    const before = tf.memory().numTensors;
    s.put(tf.ones([2]));
    s.put(tf.zeros([2]));
    expect(tf.memory().numTensors).toBe(before + 1);
    // A memory update inside tf.grad: the replaced tensor is an input of the recorded ops.
    const w = tf.scalar(3);
    const g = tf.grad((a: tf.Tensor) => {
      s.put(tf.mul(a, tf.ones([2])));
      s.put(tf.mul(s.h!, a)); // reads the previous h, then replaces it
      return tf.sum(s.h!);
    })(w);
    expectClose(g, 2 * 2 * 3); // d/da sum(a·a·1) = 2a per element
    g.dispose();
    w.dispose();
    s.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
