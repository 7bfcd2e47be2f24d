import * as tf from '@tensorflow/tfjs-core';
import {
  ConfigError,
  ShapeError,
  checkDtype,
  checkInt,
  checkLastAxis,
  checkNumber,
  checkOneOf,
  checkRank,
  checkShape,
  describe as describeValue,
} from '@attnkit/core';

describe('checks', () => {
  const x = tf.zeros([2, 3, 4]);
  afterAll(() => x.dispose());

  it('checkRank names block, argument, expected and actual rank', () => {
    expect(() => checkRank('mha', 'x', x, 3)).not.toThrow();
    expect(() => checkRank('mha', 'x', x, 4)).toThrow(ShapeError);
    expect(() => checkRank('mha', 'x', x, 4)).toThrow('mha: x expected rank 4, got rank 3 [2,3,4]');
  });

  it('checkShape matches sizes with wildcards', () => {
    expect(() => checkShape('b', 'x', x, [2, null, 4])).not.toThrow();
    expect(() => checkShape('b', 'x', x, [2, null, 5])).toThrow(
      'b: x expected shape [2,*,5], got shape [2,3,4]',
    );
    expect(() => checkShape('b', 'x', x, [2, 3])).toThrow(ShapeError);
  });

  it('checkDtype and checkLastAxis', () => {
    expect(() => checkDtype('b', 'ids', x, ['float32'])).not.toThrow();
    expect(() => checkDtype('b', 'ids', x, ['int32'])).toThrow(
      'b: ids expected dtype int32, got dtype float32',
    );
    expect(() => checkLastAxis('b', 'x', x, 4)).not.toThrow();
    expect(() => checkLastAxis('b', 'x', x, 8)).toThrow(
      'b: x expected last axis 8, got shape [2,3,4]',
    );
  });

  it('checkInt refuses fractions, NaN, strings and values below the minimum', () => {
    expect(checkInt('b', 'n', 3)).toBe(3);
    expect(checkInt('b', 'n', 0, 0)).toBe(0);
    expect(() => checkInt('b', 'n', 0)).toThrow('b: n expected an integer >= 1, got 0');
    expect(() => checkInt('b', 'n', 2.5)).toThrow(ConfigError);
    expect(() => checkInt('b', 'n', Number.NaN)).toThrow(/got NaN/);
    expect(() => checkInt('b', 'n', '3')).toThrow(/got '3'/);
  });

  it('checkNumber honours inclusive and exclusive bounds and refuses non-finite values', () => {
    expect(checkNumber('b', 'p', 0.5, { min: 0, max: 1 })).toBe(0.5);
    expect(checkNumber('b', 'p', 0, { min: 0 })).toBe(0);
    expect(() => checkNumber('b', 'p', 0, { min: 0, minExclusive: true })).toThrow(
      'b: p expected a finite number > 0, got 0',
    );
    expect(() => checkNumber('b', 'p', 2, { min: 0, max: 1 })).toThrow(
      'b: p expected a finite number >= 0 and <= 1, got 2',
    );
    expect(() => checkNumber('b', 'p', Number.POSITIVE_INFINITY)).toThrow(/got Infinity/);
    expect(() => checkNumber('b', 'p', Number.NaN)).toThrow(/finite number, got NaN/);
  });

  it('checkOneOf lists the choices', () => {
    expect(checkOneOf('b', 'norm', 'rms', ['rms', 'layer'])).toBe('rms');
    expect(() => checkOneOf('b', 'norm', 'batch', ['rms', 'layer'])).toThrow(
      "b: norm expected one of 'rms', 'layer', got 'batch'",
    );
  });

  it('describe prints values compactly', () => {
    expect(describeValue('a')).toBe("'a'");
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(null)).toBe('null');
    expect(describeValue({ a: [1, 2] })).toBe('{"a":[1,2]}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describeValue(cyclic)).toBe('{"self":[circular]}');
  });

  it('describe stays short and does not recurse on deep or huge values', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { x: deep };
    expect(describeValue(deep)).toBe('{"x":{"x":{"x":{"x":{...}}}}}');
    const huge = 'n'.repeat(10_000_000);
    expect(describeValue(huge).length).toBeLessThan(200);
    expect(describeValue({ [huge]: [huge] }).length).toBeLessThan(200);
    expect(describeValue(new Array(10_000_000).fill(7)).length).toBeLessThan(200);
  });
});
