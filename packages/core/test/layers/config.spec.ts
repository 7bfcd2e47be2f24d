import { z } from 'zod';
import { ConfigError, parseConfig } from '@attnkit/core';

describe('parseConfig', () => {
  const schema = z.strictObject({ type: z.literal('demo'), width: z.number().int().positive() });

  it('returns the parsed config', () => {
    expect(parseConfig('demo', schema, { type: 'demo', width: 3 })).toEqual({
      type: 'demo',
      width: 3,
    });
  });

  it('throws a ConfigError naming the block, the path and the value', () => {
    expect(() => parseConfig('demo', schema, { type: 'demo', width: -3 })).toThrow(ConfigError);
    expect(() => parseConfig('demo', schema, { type: 'demo', width: -3 })).toThrow(
      'demo: $.width expected a value > 0, got -3',
    );
    expect(() => parseConfig('demo', schema, { type: 'demo', width: 3, hieght: 1 })).toThrow(
      /unknown option 'hieght'/,
    );
  });
});
