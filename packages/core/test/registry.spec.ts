import { z } from 'zod';
import {
  ConfigError,
  Linear,
  Module,
  RegistryError,
  build,
  configKeys,
  isRegistered,
  register,
  registeredTypes,
  validateConfig,
} from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

interface ProbeConfig {
  type: 'registry-spec-probe';
  width: number;
  mode?: 'a' | 'b';
  inner?: { depth: number };
}

class Probe extends Module<ProbeConfig> {}

const probeSchema = z.strictObject({
  type: z.literal('registry-spec-probe'),
  width: z.number().int().positive(),
  mode: z.enum(['a', 'b']).optional(),
  inner: z.strictObject({ depth: z.number().int().min(1) }).optional(),
});

register('registry-spec-probe', (c: ProbeConfig, o) => new Probe(c, o), probeSchema, {
  category: 'registry-spec',
});

describe('registry', () => {
  it('builds a registered type from JSON and lists it by category', () => {
    const m = build<Probe>({ type: 'registry-spec-probe', width: 3 });
    expect(m).toBeInstanceOf(Probe);
    expect(m.config.width).toBe(3);
    expect(isRegistered('registry-spec-probe')).toBe(true);
    expect(isRegistered('registry-spec-nothing')).toBe(false);
    expect(registeredTypes('registry-spec')).toEqual(['registry-spec-probe']);
    expect(registeredTypes()).toContain('linear');
  });

  it('builds core layers with their parameters and leaves no tensors once disposed', async () => {
    await expectNoLeaks(() => {
      const layer = build<Linear>({ type: 'linear', inFeatures: 4, outFeatures: 2 });
      expect(layer.numParams()).toBe(4 * 2 + 2);
      layer.dispose();
    });
  });

  it('reports the option names of an object schema', () => {
    expect(configKeys('registry-spec-probe')).toEqual(['type', 'width', 'mode', 'inner']);
    expect(configKeys('registry-spec-nothing')).toBeUndefined();
  });

  it('refuses a second registration unless asked to override', () => {
    const factory = (c: ProbeConfig) => new Probe(c);
    expect(() => register('registry-spec-probe', factory, probeSchema)).toThrow(RegistryError);
    expect(() => register('registry-spec-probe', factory, probeSchema)).toThrow(
      /'registry-spec-probe' already registered/,
    );
    expect(() =>
      register('registry-spec-probe', factory, probeSchema, {
        override: true,
        category: 'registry-spec',
      }),
    ).not.toThrow();
  });

  it('names an unknown type and lists the known ones', () => {
    expect(() => build({ type: 'registry-spec-unknown' })).toThrow(RegistryError);
    expect(() => build({ type: 'registry-spec-unknown' })).toThrow(
      /registry: \$\.type expected a registered type \(.*registry-spec-probe.*\), got 'registry-spec-unknown'/,
    );
  });

  it('refuses configs that are not objects or lack a string type', () => {
    expect(() => validateConfig(null)).toThrow('registry: $ expected a config object');
    expect(() => validateConfig([1])).toThrow(ConfigError);
    expect(() => validateConfig({ width: 3 })).toThrow(
      'registry: $.type expected a string naming a registered type, got undefined',
    );
    expect(() => validateConfig({ type: 7 })).toThrow(/got 7$/);
  });

  it('names the JSON path, the expected and the actual value of a bad field', () => {
    const bad = (config: object, path?: string) => () => validateConfig(config, path);
    expect(bad({ type: 'registry-spec-probe', width: -2 })).toThrow(
      'registry-spec-probe: $.width expected a value > 0, got -2',
    );
    expect(bad({ type: 'registry-spec-probe', width: Number.NaN })).toThrow(ConfigError);
    expect(bad({ type: 'registry-spec-probe' })).toThrow(
      'registry-spec-probe: $.width expected number, got nothing (missing)',
    );
    expect(bad({ type: 'registry-spec-probe', width: 2, widht: 2 })).toThrow(
      "registry-spec-probe: $.widht expected only known options, got unknown option 'widht'",
    );
    expect(bad({ type: 'registry-spec-probe', width: 2, mode: 'c' })).toThrow(
      "registry-spec-probe: $.mode expected one of 'a', 'b', got 'c'",
    );
    expect(
      bad({ type: 'registry-spec-probe', width: 2, inner: { depth: 0 } }, '$.layers[1]'),
    ).toThrow('registry-spec-probe: $.layers[1].inner.depth expected a value >= 1, got 0');
  });

  it('passes the build path into error messages', () => {
    expect(() =>
      build({ type: 'registry-spec-probe', width: 0 }, { path: '$.block.mixer' }),
    ).toThrow(/\$\.block\.mixer\.width/);
  });
});
