import {
  AttnkitError,
  ConfigError,
  RegistryError,
  SafetensorsError,
  ShapeError,
  StateDictError,
  formatShape,
  withArgument,
} from '@attnkit/core';

describe('errors', () => {
  it('carry block, argument, expected and actual in fields and message', () => {
    const e = new ShapeError('mha', 'x', 'rank 3', 'rank 2 [4,8]');
    expect(e).toBeInstanceOf(AttnkitError);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('ShapeError');
    expect(e.message).toBe('mha: x expected rank 3, got rank 2 [4,8]');
    expect([e.block, e.argument, e.expected, e.actual]).toEqual([
      'mha',
      'x',
      'rank 3',
      'rank 2 [4,8]',
    ]);
  });

  it('put an optional detail before the expectation', () => {
    const e = new SafetensorsError('safetensors', 'header', '8 bytes', '3', 'is truncated');
    expect(e.message).toBe('safetensors: header is truncated; expected 8 bytes, got 3');
  });

  it('each kind keeps its own name', () => {
    for (const Kind of [ConfigError, RegistryError, StateDictError, SafetensorsError]) {
      expect(new Kind('b', 'a', 'e', 'g').name).toBe(Kind.name);
    }
  });

  it('withArgument gives the same kind of error about another argument', () => {
    const e = withArgument(
      new StateDictError('linear', 'weight', '[2,3]', '[3,2]'),
      'layers.0.weight',
    );
    expect(e).toBeInstanceOf(StateDictError);
    expect(e.name).toBe('StateDictError');
    expect(e.message).toBe('linear: layers.0.weight expected [2,3], got [3,2]');
  });

  it('formatShape prints a shape as in numpy-less messages', () => {
    expect(formatShape([2, 3])).toBe('[2,3]');
    expect(formatShape([])).toBe('[]');
  });
});
