import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, StateDictError, ConfigError } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

class Affine extends Module<{ dim: number }> {
  readonly scale: tf.Variable;
  readonly shift: tf.Variable;
  constructor(config: { dim: number }, rng = new Rng(1)) {
    super(config, { rng });
    this.scale = this.addParameter('scale', tf.ones([config.dim]));
    this.shift = this.addParameter(
      'shift',
      tf.tensor1d(Array.from({ length: config.dim }, () => rng.normal())),
    );
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.add(tf.mul(x, this.scale), this.shift);
  }
}

class Stack extends Module<{ dim: number }> {
  readonly first: Affine;
  readonly second: Affine;
  constructor(config: { dim: number }) {
    super(config);
    this.first = this.addModule('first', new Affine(config, new Rng(2)));
    this.second = this.addModule('second', new Affine(config, new Rng(3)));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.second.forward(this.first.forward(x));
  }
}

describe('Module', () => {
  it('names parameters with dotted paths and counts them', () => {
    const m = new Stack({ dim: 3 });
    expect([...m.namedParameters().keys()]).toEqual([
      'first.scale',
      'first.shift',
      'second.scale',
      'second.shift',
    ]);
    expect(m.numParams()).toBe(12);
    m.dispose();
  });

  it('round-trips a state dict into a fresh module', () => {
    const a = new Stack({ dim: 3 });
    const b = new Stack({ dim: 3 });
    b.loadStateDict(a.stateDict());
    const x = tf.tensor1d([1, 2, 3]);
    expect(Array.from(b.forward(x).dataSync())).toEqual(Array.from(a.forward(x).dataSync()));
    a.dispose();
    b.dispose();
  });

  it('accepts its own state dict (variables loaded onto themselves keep their values)', async () => {
    await expectNoLeaks(() => {
      const m = new Stack({ dim: 3 });
      const before = Array.from(m.first.shift.dataSync());
      m.loadStateDict(m.stateDict());
      expect(Array.from(m.first.shift.dataSync())).toEqual(before);
      m.dispose();
    });
  });

  it('reports missing, unexpected and mismatched entries together', () => {
    const m = new Stack({ dim: 3 });
    const state = {
      'first.scale': tf.ones([4]),
      'first.shift': tf.zeros([3]),
      'second.shift': tf.zeros([3]),
      'extra.weight': tf.zeros([1]),
    };
    expect(() => m.loadStateDict(state)).toThrow(StateDictError);
    try {
      m.loadStateDict(state);
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toContain('missing: second.scale');
      expect(msg).toContain('unexpected: extra.weight');
      expect(msg).toContain('first.scale (expected float32[3], got float32[4])');
    }
    // non-strict still refuses shape mismatches but tolerates missing/unexpected names
    expect(() => m.loadStateDict(state, { strict: false })).toThrow(/mismatched/);
    tf.dispose(Object.values(state));
    m.dispose();
  });

  it('loads non-strictly when only names differ', () => {
    const m = new Stack({ dim: 2 });
    const state = { 'first.scale': tf.tensor1d([5, 6]), 'other.x': tf.zeros([1]) };
    m.loadStateDict(state, { strict: false });
    expect(Array.from(m.first.scale.dataSync())).toEqual([5, 6]);
    tf.dispose(Object.values(state));
    m.dispose();
  });

  it('propagates train/eval to children', () => {
    const m = new Stack({ dim: 2 });
    expect(m.training).toBe(true);
    m.eval();
    expect(m.first.training).toBe(false);
    m.train();
    expect(m.second.training).toBe(true);
    m.dispose();
  });

  it('refuses duplicate and malformed parameter names', () => {
    class Bad extends Module<object> {
      constructor(name: string) {
        super({});
        this.addParameter('w', tf.zeros([1]));
        this.addParameter(name, tf.zeros([1]));
      }
    }
    expect(() => new Bad('w')).toThrow(ConfigError);
    expect(() => new Bad('a.b')).toThrow(/letters, digits or _/);
  });

  it('frees every variable on dispose and leaks nothing in forward/backward', async () => {
    await expectNoLeaks(() => {
      const m = new Stack({ dim: 4 });
      const x = tf.ones([2, 4]);
      const f = () => tf.sum(m.forward(x)) as tf.Scalar;
      const { value, grads } = tf.variableGrads(f);
      value.dispose();
      tf.dispose(grads);
      x.dispose();
      m.dispose();
      m.dispose();
    });
  });
});
