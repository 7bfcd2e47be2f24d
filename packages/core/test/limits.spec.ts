import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Module,
  type ModuleOptions,
  build,
  estimateConfig,
  formatBytes,
  initTensor,
  parseJson,
  register,
} from '@attnkit/core';

// A block without an estimate: only the allocation backstop stands between it and the heap.
class Wide extends Module<{ type: string; width: number }> {
  constructor(config: { type: string; width: number }, options: ModuleOptions = {}) {
    super(config, options);
    this.addParameter('a', initTensor('zeros', [config.width], this.rng));
    this.addParameter('b', initTensor('zeros', [config.width], this.rng));
  }
}
register(
  'limits-spec-wide',
  (c, o) => new Wide(c, o),
  z.strictObject({ type: z.literal('limits-spec-wide'), width: z.number().int().positive() }),
  { category: 'limits-spec' },
);

describe('resource limits in build', () => {
  it('refuses a config over maxParameters before allocating, naming field, value and limit', () => {
    const before = tf.memory().numTensors;
    const started = Date.now();
    expect(() => build({ type: 'linear', inFeatures: 4, outFeatures: 2e9 })).toThrow(ConfigError);
    expect(() => build({ type: 'linear', inFeatures: 4, outFeatures: 2e9 })).toThrow(
      /^linear: \$\.outFeatures expected at most maxParameters 536870912 .*got outFeatures 2000000000 asking for 10000000000 parameters$/,
    );
    expect(Date.now() - started).toBeLessThan(1000);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes limits the caller raises or lowers', () => {
    const config = { type: 'linear', inFeatures: 8, outFeatures: 8 };
    expect(() => build(config, { maxParameters: 71 })).toThrow(/at most maxParameters 71/);
    expect(() => build(config, { maxBytes: 100 })).toThrow(/at most maxBytes 100 .*288 bytes/);
    const ok = build(config, { maxParameters: 72 });
    expect(ok.numParams()).toBe(72);
    ok.dispose();
    expect(estimateConfig(config)).toEqual({ parameters: 72, bytes: 288 });
  });

  it('stops a block without an estimate at the budget, before the weight over it is allocated', () => {
    const before = tf.memory().numTensors;
    expect(() =>
      build<Module>({ type: 'limits-spec-wide', width: 60 }, { maxParameters: 100 }),
    ).toThrow(
      /initTensor: shape \[60\] expected at most maxParameters 100 .*asking for 120 parameters/,
    );
    expect(tf.memory().numTensors).toBe(before);
    const ok = build<Module>({ type: 'limits-spec-wide', width: 50 }, { maxParameters: 100 });
    expect(ok.numParams()).toBe(100);
    ok.dispose();
  });

  it('bounds every integer field', () => {
    expect(() => build({ type: 'linear', inFeatures: 4, outFeatures: 2 ** 40 })).toThrow(
      /^linear: \$\.outFeatures expected an integer of at most 2147483647, got 1099511627776$/,
    );
  });

  it('refuses a config nested thousands of levels deep with a typed error', () => {
    let deep: unknown = true;
    for (let i = 0; i < 10_000; i++) deep = { bias: deep };
    expect(() =>
      build<Module>({ type: 'linear', inFeatures: 4, outFeatures: 2, bias: deep }),
    ).toThrow(/^linear: \$ expected a config nested at most 64 levels/);
  });

  it('names the unknown key beside a missing required one', () => {
    expect(() => build<Module>({ type: 'linear', inFeaturs: 4, outFeatures: 2 })).toThrow(
      /\$\.inFeatures expected number, got nothing \(missing\) \(unknown option 'inFeaturs' given beside it\)/,
    );
  });
});

describe('parseJson', () => {
  it('refuses deep and long documents with a typed error, without recursing', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    expect(() => parseJson('reader', "'x.json'", deep)).toThrow(
      /^reader: 'x\.json' expected JSON nested at most 64 levels, got 200000 levels$/,
    );
    expect(() => parseJson('reader', 'text', '{"a": 1}', { maxLength: 4 })).toThrow(ConfigError);
    expect(() => parseJson('reader', 'text', '{"a": ')).toThrow(/expected valid JSON/);
    expect(parseJson('reader', 'text', '{"a": "[[[["}')).toEqual({ a: '[[[[' });
  });

  it('quotes a huge bad document briefly', () => {
    const message = (() => {
      try {
        parseJson('reader', 'text', `{"${'k'.repeat(5_000_000)}": nope}`);
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    expect(message.length).toBeGreaterThan(0);
    expect(message.length).toBeLessThan(400);
  });
});

describe('formatBytes', () => {
  it('says when a size overflows instead of printing NaN', () => {
    expect(formatBytes(2 ** 60)).toMatch(/beyond 2\^53/);
    expect(formatBytes(Infinity)).toMatch(/overflows/);
    expect(formatBytes(4 * 2 ** 30)).toBe('4294967296 bytes (4.0 GiB)');
  });
});
