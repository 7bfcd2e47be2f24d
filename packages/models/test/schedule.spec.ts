import * as tf from '@tensorflow/tfjs-core';
import { expectNoLeaks } from '@attnkit/core/testing';
import {
  clipByGlobalNorm,
  clipScale,
  cosineSchedule,
  crossEntropy,
  globalNorm,
  wsdSchedule,
} from '@attnkit/models';

describe('cosineSchedule', () => {
  it('warms up linearly, peaks, and decays by a cosine to the floor', () => {
    const lr = cosineSchedule({ peakLr: 1, totalSteps: 110, warmupSteps: 10, minLr: 0.1 });
    expect(lr(5)).toBeCloseTo(0.5);
    expect(lr(10)).toBeCloseTo(1);
    expect(lr(60)).toBeCloseTo(0.55); // halfway: floor + (peak - floor) / 2
    expect(lr(110)).toBeCloseTo(0.1);
    expect(lr(500)).toBeCloseTo(0.1);
    expect(() => cosineSchedule({ peakLr: -1, totalSteps: 5 })).toThrow(/peakLr/);
  });
});

describe('wsdSchedule', () => {
  it('warms up, holds the peak, then decays linearly over the last fraction', () => {
    const lr = wsdSchedule({ peakLr: 1, totalSteps: 100, warmupSteps: 10, minLr: 0.1 });
    expect(lr(5)).toBeCloseTo(0.5);
    expect(lr(10)).toBeCloseTo(1);
    expect(lr(80)).toBeCloseTo(1);
    expect(lr(90)).toBeCloseTo(0.55);
    expect(lr(100)).toBeCloseTo(0.1);
    expect(lr(200)).toBeCloseTo(0.1);
    const late = wsdSchedule({ peakLr: 2, totalSteps: 10, decayFraction: 0.5, minLr: 0 });
    expect([5, 6, 10].map(late)).toEqual([2, 1.6, 0]);
    expect(() => wsdSchedule({ peakLr: 1, totalSteps: 10, decayFraction: 2 })).toThrow(
      /decayFraction/,
    );
  });
});

describe('clipByGlobalNorm', () => {
  it('scales all gradients together when the global norm is too large', async () => {
    await expectNoLeaks(() => {
      const grads = new Map([
        ['a', tf.tensor([3, 0])],
        ['b', tf.tensor([[4]])],
      ]);
      const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
      expect(norm).toBeCloseTo(5);
      expect(Array.from(clipped.get('a')!.dataSync())[0]).toBeCloseTo(0.6, 4);
      expect(Array.from(clipped.get('b')!.dataSync())[0]).toBeCloseTo(0.8, 4);
      const { grads: same } = clipByGlobalNorm(grads, 10);
      expect(Array.from(same.get('a')!.dataSync())).toEqual([3, 0]);
      tf.dispose([...grads.values(), ...clipped.values(), ...same.values()]);
    });
  });
});

describe('crossEntropy', () => {
  it('is the weighted mean negative log-likelihood', () => {
    const logits = tf.tensor3d([
      [
        [0, Math.log(3)],
        [Math.log(3), 0],
      ],
    ]);
    const targets = tf.tensor2d([[1, 1]], [1, 2], 'int32');
    const all = crossEntropy(logits, targets).dataSync()[0]!;
    expect(all).toBeCloseTo((-Math.log(0.75) - Math.log(0.25)) / 2, 5);
    const first = crossEntropy(logits, targets, tf.tensor2d([[1, 0]])).dataSync()[0]!;
    expect(first).toBeCloseTo(-Math.log(0.75), 5);
  });
});

describe('globalNorm and clipScale', () => {
  it('take the norm over every tensor together, and the factor that brings it to maxNorm', () => {
    const grads = [tf.tensor([3, 0]), tf.tensor([[4]]), tf.zeros([0, 3])];
    expect(globalNorm(grads)).toBeCloseTo(5, 5);
    expect(globalNorm([])).toBe(0);
    expect(clipScale(5, 1)).toBeCloseTo(0.2, 6);
    expect(clipScale(5, 10)).toBe(1);
    expect(clipScale(5, Infinity)).toBe(1);
    tf.dispose(grads);
  });
});
