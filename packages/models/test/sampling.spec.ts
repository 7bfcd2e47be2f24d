import { Rng } from '@attnkit/core';
import {
  applyRepetitionPenalty,
  checkSamplingOptions,
  sampleToken,
  samplingProbabilities,
} from '@attnkit/models';

const logits = Float32Array.from([2, 1, 0, -1]);

describe('sampling', () => {
  it('greedy picks the argmax', () => {
    expect(sampleToken(logits, { temperature: 0 }, new Rng(0))).toBe(0);
  });

  it('top-k keeps the k best and renormalises', () => {
    const p = samplingProbabilities(logits, { topK: 2 });
    expect(p[2]).toBe(0);
    expect(p[3]).toBe(0);
    expect(p[0]! + p[1]!).toBeCloseTo(1);
    expect(p[0]! / p[1]!).toBeCloseTo(Math.E);
  });

  it('top-p keeps the smallest set reaching p', () => {
    const full = samplingProbabilities(logits, {});
    const p = samplingProbabilities(logits, { topP: full[0]! + 0.01 });
    expect(p[0]! > 0 && p[1]! > 0 && p[2] === 0).toBe(true);
    expect(samplingProbabilities(logits, { topP: 0.1 })[0]).toBe(1);
  });

  it('temperature sharpens or flattens', () => {
    const cold = samplingProbabilities(logits, { temperature: 0.5 });
    const hot = samplingProbabilities(logits, { temperature: 2 });
    expect(cold[0]!).toBeGreaterThan(hot[0]!);
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    expect(Array.from(applyRepetitionPenalty(logits, [0, 3], 2))).toEqual([1, 1, 0, -2]);
  });

  it('seeded draws repeat and follow the distribution', () => {
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 2000 }, () => sampleToken(logits, {}, rng));
    };
    expect(draw(1)).toEqual(draw(1));
    const counts = [0, 0, 0, 0];
    for (const t of draw(2)) counts[t]!++;
    const p = samplingProbabilities(logits, {});
    counts.forEach((c, i) => expect(Math.abs(c / 2000 - p[i]!)).toBeLessThan(0.04));
  });

  it('rejects bad options by name', () => {
    expect(() => checkSamplingOptions({ topP: 0 })).toThrow(/topP/);
    expect(() => checkSamplingOptions({ temperature: -1 })).toThrow(/temperature/);
    expect(() => checkSamplingOptions({ topK: 1.5 })).toThrow(/topK/);
  });
});
