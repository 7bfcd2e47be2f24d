import { type PositionalEncoding, build, registeredTypes } from '@attnkit/core';
import type { Module } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import { NoPositional } from '@attnkit/positional';

describe('NoPositional', () => {
  it('is explicitly nothing: kind none, no methods, no parameters', async () => {
    await expectNoLeaks(() => {
      const enc = build<NoPositional>({ type: 'nope' });
      expect(enc.kind).toBe('none');
      expect(enc.numParams()).toBe(0);
      const methods = enc as unknown as Record<string, unknown>;
      expect(methods.embed ?? methods.rotate ?? methods.bias).toBeUndefined();
      expect((enc as PositionalEncoding).logitScale).toBeUndefined();
      enc.dispose();
    });
    expect(new NoPositional().config).toEqual({ type: 'nope' });
  });

  it('takes no options', () => {
    expect(() => build<Module>({ type: 'nope', dim: 4 })).toThrow(
      /nope: \$\.dim expected only known options, got unknown option 'dim'/,
    );
  });

  it('registers every encoding under category positional', () => {
    expect(registeredTypes('positional')).toEqual(
      [
        'alibi',
        'bam',
        'learned',
        'nope',
        'rotary',
        'shaw-relative',
        'sinusoidal',
        'sinusoidal-2d',
        't5-relative',
      ].sort(),
    );
  });
});
