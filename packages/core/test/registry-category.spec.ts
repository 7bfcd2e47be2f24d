import { z } from 'zod';
import {
  ConfigError,
  Module,
  build,
  register,
  registeredTypes,
  registryInfo,
  validateConfig,
} from '@attnkit/core';

interface PlugConfig {
  type: 'category-spec-plug';
  width: number;
}
class Plug extends Module<PlugConfig> {}
const plugSchema = z.strictObject({
  type: z.literal('category-spec-plug'),
  width: z.number().int().positive(),
});
const info = {
  paper: 'Nobody 2026',
  summary: 'A probe.',
  example: { type: 'category-spec-plug', width: 1 },
};
register('category-spec-plug', (c: PlugConfig, o) => new Plug(c, o), plugSchema, {
  category: 'category-spec',
  info,
});

register(
  'category-spec-old',
  (c: PlugConfig, o) => new Plug(c, o),
  plugSchema.extend({ type: z.literal('category-spec-old') }) as never,
  {
    category: 'category-spec',
    deprecated: "use 'category-spec-plug'",
    info: { summary: 'Old name.', example: { type: 'category-spec-old', width: 1 } },
  },
);

describe('registry categories and metadata', () => {
  it('returns the category, metadata and option names of a type', () => {
    expect(registryInfo('category-spec-plug')).toEqual({
      category: 'category-spec',
      info,
      configKeys: ['type', 'width'],
      hasEstimate: false,
    });
    expect(registryInfo('category-spec-nothing')).toBeUndefined();
    expect(registryInfo('linear')!.category).toBe('layer');
  });

  it('builds a type in a slot of its own category, or of one of several', () => {
    const config = { type: 'category-spec-plug', width: 2 };
    build(config, { category: 'category-spec' }).dispose();
    build(config, { category: ['norm', 'category-spec'] }).dispose();
    expect(validateConfig(config, '$', 'category-spec').type).toBe('category-spec-plug');
  });

  it('refuses a type of another category, naming the path and listing what fits', () => {
    const norm = { type: 'rms-norm', dim: 4 };
    expect(() => build(norm, { category: 'category-spec', path: '$.slot' })).toThrow(ConfigError);
    expect(() => build(norm, { category: 'category-spec', path: '$.slot' })).toThrow(
      "registry: $.slot.type expected a registered category-spec (category-spec-plug), got 'rms-norm' (a norm)",
    );
    expect(() => validateConfig(norm, '$', ['layer', 'feedforward'])).toThrow(
      /^registry: \$\.type expected a registered layer or feedforward \(.*linear.*mlp.*\), got 'rms-norm' \(a norm\)$/,
    );
  });

  it('checks the category before the fields, so a wrong block is named first', () => {
    expect(() => build<Module>({ type: 'rms-norm' }, { category: 'category-spec' })).toThrow(
      /\(a norm\)/,
    );
  });

  it('builds a deprecated alias, warns once per process and lists it only when asked', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      build<Module>({ type: 'category-spec-old', width: 1 }).dispose();
      build<Module>(
        { type: 'category-spec-old', width: 2 },
        { category: 'category-spec' },
      ).dispose();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn).toHaveBeenCalledWith(
        "attnkit: type 'category-spec-old' is deprecated; use 'category-spec-plug'",
      );
    } finally {
      warn.mockRestore();
    }
    expect(registeredTypes('category-spec')).toEqual(['category-spec-plug']);
    expect(registeredTypes('category-spec', { deprecated: true })).toEqual([
      'category-spec-old',
      'category-spec-plug',
    ]);
    expect(registryInfo('category-spec-old')!.deprecated).toBe("use 'category-spec-plug'");
    expect(registryInfo('category-spec-plug')!.deprecated).toBeUndefined();
  });
});
