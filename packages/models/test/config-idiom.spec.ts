// One config idiom: constructing a registered class directly refuses a bad config exactly as
// build() does (the same ConfigError, block and JSON path), and builds the same module otherwise.
import * as core from '@attnkit/core';
import {
  build,
  registeredTypes,
  registryInfo,
  type Module,
  type ModuleOptions,
} from '@attnkit/core';
import * as attention from '@attnkit/attention';
import '@attnkit/positional';
import '@attnkit/routing';
import '@attnkit/models';

type Ctor = new (config: never, options?: ModuleOptions) => Module;

/** The class a registered type builds, found by building its registered example. */
function classOf(type: string): Ctor {
  const m = build(registryInfo(type)!.info.example);
  m.dispose();
  return m.constructor as Ctor;
}

const message = (f: () => unknown): string => {
  try {
    (f() as Module).dispose();
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
  return 'no error';
};

describe('constructors parse their config as build() does', () => {
  it.each(registeredTypes())('%s: a misspelt option is the same ConfigError', (type) => {
    const example = registryInfo(type)!.info.example as Record<string, unknown>;
    const Class = classOf(type);
    const bad = { ...example, misspelt: 1 };
    const viaBuild = message(() => build(bad));
    expect(viaBuild).toBe(
      `ConfigError: ${type}: $.misspelt expected only known options, got unknown option 'misspelt'`,
    );
    expect(message(() => new Class(bad as never))).toBe(viaBuild);
    // and the example itself builds either way
    expect(message(() => new Class(example as never))).toBe('no error');
  });
});

describe('mqa keeps its own config', () => {
  it('has one key/value head without numKvHeads in its config, and reloads once saved', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const m = build<attention.MultiHeadAttention>({ type: 'mqa', dModel: 8, numHeads: 4 });
    expect(m.numKvHeads).toBe(1);
    expect(m.config).not.toHaveProperty('numKvHeads');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mqa-'));
    try {
      await core.saveModule(dir, m);
      const loaded = await core.loadModule<attention.MultiHeadAttention>(dir);
      expect(loaded.numKvHeads).toBe(1);
      loaded.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      m.dispose();
    }
  });
});
