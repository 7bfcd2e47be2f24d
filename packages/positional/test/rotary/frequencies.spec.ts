import { ConfigError } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import { resolveRotary } from '@attnkit/positional';
import { type RotaryCase, fixture } from '../helpers';

const golden = fixture<{ cases: RotaryCase[] }>('rotary.json');

describe('resolveRotary', () => {
  it.each(golden.cases)('frequencies and logit scale match the reference: $name', (c) => {
    const r = resolveRotary(c.config);
    expectClose(r.invFreq, c.invFreq, { atol: 1e-9, rtol: 1e-6 });
    expect(r.logitScale).toBeCloseTo(c.logitScale, 6);
  });

  it('uses YaRN temperature (0.1 ln s + 1)^2 and attentionFactor^2 when given', () => {
    const yarn = { type: 'yarn' as const, factor: 8, originalMaxPosition: 64 };
    expect(resolveRotary({ headDim: 8, scaling: yarn }).logitScale).toBeCloseTo(
      (0.1 * Math.log(8) + 1) ** 2,
      12,
    );
    const given = resolveRotary({ headDim: 8, scaling: { ...yarn, attentionFactor: 1.5 } });
    expect(given.logitScale).toBe(2.25);
    expect(resolveRotary({ headDim: 8, scaling: { type: 'linear', factor: 2 } }).logitScale).toBe(
      1,
    );
  });

  it('YaRN keeps the fastest dimensions and interpolates the slowest', () => {
    const plain = resolveRotary({ headDim: 32 }).invFreq;
    const yarn = resolveRotary({
      headDim: 32,
      scaling: { type: 'yarn', factor: 4, originalMaxPosition: 64 },
    }).invFreq;
    expect(yarn[0]).toBeCloseTo(plain[0]!, 12);
    expect(yarn[15]).toBeCloseTo(plain[15]! / 4, 12);
  });

  it('rejects bad dimensions and scaling factors, naming block, argument and value', () => {
    const bad: [object, RegExp][] = [
      [{ headDim: 7 }, /rotary: headDim \(the rotary dimension\) expected an even integer, got 7/],
      [{ headDim: 8, rotaryDim: 5 }, /rotary: rotaryDim expected an even integer, got 5/],
      [{ headDim: 8, rotaryDim: 10 }, /rotary: rotaryDim expected <= headDim=8, got 10/],
      [
        { headDim: 8, scaling: { type: 'linear', factor: 0 } },
        /scaling.factor expected a finite number > 0, got 0/,
      ],
      [
        { headDim: 8, scaling: { type: 'ntk', factor: -2 } },
        /scaling.factor expected a finite number > 0, got -2/,
      ],
      [
        { headDim: 8, scaling: { type: 'ntk', factor: 0.5 } },
        /scaling.factor \(ntk extends the context\) expected a finite number >= 1, got 0.5/,
      ],
      [
        { headDim: 8, scaling: { type: 'yarn', factor: 0.5, originalMaxPosition: 16 } },
        /yarn extends the context\) expected a finite number >= 1, got 0.5/,
      ],
      [
        {
          headDim: 8,
          scaling: { type: 'yarn', factor: 2, originalMaxPosition: 16, betaFast: 1, betaSlow: 2 },
        },
        /betaFast \(> betaSlow=2\) expected a finite number > 2, got 1/,
      ],
      [
        { headDim: 8, scaling: { type: 'yarn', factor: 2 } },
        /rotary: \$.scaling.originalMaxPosition/,
      ],
      [{ headDim: 8, scaling: { type: 'log', factor: 2 } }, /rotary: \$.scaling.type/],
      [{ headDim: 8, layout: 'pairs' }, /rotary: \$.layout expected one of 'half', 'interleaved'/],
      [{ headDim: 8, base: 1 }, /rotary: base expected a finite number > 1, got 1/],
      [{ headDim: 8, heads: 2 }, /unknown option 'heads'/],
    ];
    for (const [config, message] of bad) {
      expect(() => resolveRotary(config as never)).toThrow(ConfigError);
      expect(() => resolveRotary(config as never)).toThrow(message);
    }
    // linear accepts a factor below 1 (it stretches positions)
    expect(resolveRotary({ headDim: 4, scaling: { type: 'linear', factor: 0.5 } }).invFreq[0]).toBe(
      2,
    );
  });
});
