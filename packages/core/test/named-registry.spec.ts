import { NamedRegistry, RegistryError } from '@attnkit/core';

describe('NamedRegistry', () => {
  it('registers, lists in order, returns values and their info', () => {
    const r = new NamedRegistry<number>('widget');
    r.register('one', 1, { summary: 'the first' });
    r.register('two', 2);
    expect(r.names()).toEqual(['one', 'two']);
    expect(r.get('two')).toBe(2);
    expect(r.has('one')).toBe(true);
    expect(r.info('one')).toEqual({ summary: 'the first' });
    expect(r.info('three')).toBeUndefined();
  });

  it('refuses duplicates unless overriding, and names the known entries on a miss', () => {
    const r = new NamedRegistry<number>('widget');
    r.register('one', 1);
    expect(() => r.register('one', 5)).toThrow(RegistryError);
    r.register('one', 5, {}, { override: true });
    expect(r.get('one')).toBe(5);
    expect(() => r.get('uno')).toThrow("widget: name expected one of one, got 'uno'");
    expect(() => r.get('uno', '$.featureMap')).toThrow(
      /widget: \$\.featureMap expected one of one/,
    );
    expect(() => new NamedRegistry('empty').get('x')).toThrow(/none yet/);
    expect(() => r.register('', 1)).toThrow(RegistryError);
  });
});
