import { z } from 'zod';
import {
  ConfigError,
  Linear,
  Module,
  RegistryError,
  build,
  configKeys,
  disposeOnThrow,
  isRegistered,
  register,
  registeredTypes,
  validateConfig,
} from '@attnkit/core';
import * as tf from '@tensorflow/tfjs-core';
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

interface NestConfig {
  type: 'registry-spec-nest';
  children: object[];
  failAfter?: boolean;
}

/** Builds its children from configs (each may nest), owns a parameter, and can fail last. */
class Nest extends Module<NestConfig> {
  constructor(config: NestConfig, options = {}) {
    super(config, options);
    this.addParameter('own', tf.zeros([2]));
    config.children.forEach((child, i) =>
      this.addModule(`c${i}`, build(child, { path: `$.children[${i}]` })),
    );
    if (config.failAfter) throw new ConfigError('registry-spec-nest', 'failAfter', 'false', 'true');
  }
}

const nestSchema = z.strictObject({
  type: z.literal('registry-spec-nest'),
  children: z.array(z.looseObject({})),
  failAfter: z.boolean().optional(),
});

register('registry-spec-nest', (c: NestConfig, o) => new Nest(c, o), nestSchema, {
  category: 'registry-spec-nest',
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
    expect(() => build<Module>({ type: 'registry-spec-unknown' })).toThrow(RegistryError);
    expect(() => build<Module>({ type: 'registry-spec-unknown' })).toThrow(
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

  it('frees what a factory built before it threw, at every depth', async () => {
    const linear = { type: 'linear', inFeatures: 3, outFeatures: 2 };
    const nest = (children: object[], failAfter = false) => ({
      type: 'registry-spec-nest',
      children,
      failAfter,
    });
    await expectNoLeaks(() => {
      // a bad third child after two good ones (one nested two deep)
      expect(() =>
        build(nest([linear, nest([linear, linear]), { ...linear, inFeatures: 0 }])),
      ).toThrow(/\$\.children\[2\]\.inFeatures/);
      // every child fine, the parent fails after building them
      expect(() => build(nest([nest([linear]), linear], true))).toThrow(/failAfter/);
      // a grandchild fails inside a child
      expect(() => build(nest([linear, nest([linear], true)]))).toThrow(/failAfter/);
    });
    await expectNoLeaks(() => {
      // what succeeds is returned whole
      const ok = build<Nest>(nest([linear, nest([linear])]));
      expect(ok.numParams()).toBe(2 + 8 + 2 + 8);
      ok.dispose();
    });
  });

  it('disposeOnThrow frees modules constructed directly, and leaves earlier ones alone', async () => {
    const kept = new Linear({ inFeatures: 2, outFeatures: 2 });
    await expectNoLeaks(() => {
      expect(() =>
        disposeOnThrow(() => {
          new Linear({ inFeatures: 4, outFeatures: 4 });
          throw new Error('late failure');
        }),
      ).toThrow('late failure');
    });
    expect(kept.isDisposed).toBe(false);
    expect(disposeOnThrow(() => 7)).toBe(7);
    kept.dispose();
  });

  it('passes the build path into error messages', () => {
    expect(() =>
      build<Module>({ type: 'registry-spec-probe', width: 0 }, { path: '$.block.mixer' }),
    ).toThrow(/\$\.block\.mixer\.width/);
  });
});
