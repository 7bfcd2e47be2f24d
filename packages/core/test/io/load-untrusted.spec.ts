import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Module,
  SafetensorsError,
  StateDictError,
  initTensor,
  loadModule,
  readSafetensorsHeader,
  register,
  saveModule,
  build,
  type ModuleOptions,
} from '@attnkit/core';
import { forge } from './forge';

// A block without an estimate: `rows` weights of `width` each.
class Rows extends Module<{ type: string; rows: number; width: number }> {
  constructor(config: { type: string; rows: number; width: number }, options: ModuleOptions = {}) {
    super(config, options);
    for (let i = 0; i < config.rows; i++) {
      this.addParameter(`r${i}`, initTensor('zeros', [config.width], this.rng));
    }
  }
}
register(
  'untrusted-spec-rows',
  (c, o) => new Rows(c, o),
  z.strictObject({
    type: z.literal('untrusted-spec-rows'),
    rows: z.number().int().positive(),
    width: z.number().int().positive(),
  }),
  { category: 'untrusted-spec' },
);

describe('loadModule checks before it allocates (issue 16)', () => {
  let dir: string;
  let configPath: string;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-untrusted-'));
    configPath = path.join(dir, 'config.json');
    const small = build({ type: 'linear', inFeatures: 2, outFeatures: 2 });
    await saveModule(dir, small, { overwrite: true });
    small.dispose();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const refusesFast = async (config: unknown, error: RegExp | (new (...a: never[]) => Error)) => {
    fs.writeFileSync(configPath, typeof config === 'string' ? config : JSON.stringify(config));
    const before = tf.memory().numTensors;
    const started = Date.now();
    await expect(loadModule(dir)).rejects.toThrow(error);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(tf.memory().numTensors).toBe(before);
  };

  it('a 40-byte config asking for gigabytes: a typed error naming the file', async () => {
    await refusesFast({ type: 'linear', inFeatures: 2, outFeatures: 1e9 }, ConfigError);
    await refusesFast(
      { type: 'linear', inFeatures: 2, outFeatures: 1e9 },
      new RegExp(`^linear: '${configPath}' \\$\\.outFeatures expected at most maxParameters`),
    );
  });

  it('a config asking for more than the weights file holds is refused before building', async () => {
    // 100M parameters are under the default limit, but the file holds 6.
    await refusesFast({ type: 'linear', inFeatures: 10_000, outFeatures: 10_000 }, StateDictError);
    await refusesFast(
      { type: 'linear', inFeatures: 10_000, outFeatures: 10_000 },
      /weights in '.*model\.safetensors' expected the parameters '.*config\.json' builds \(100010000\), got 6 parameters in the file/,
    );
    // Without an estimate the build's backstop stops at the file's size plus the slack.
    const rows = build<Module>({ type: 'untrusted-spec-rows', rows: 1, width: 2 });
    await saveModule(dir, rows, { overwrite: true });
    rows.dispose();
    await refusesFast({ type: 'untrusted-spec-rows', rows: 64, width: 2 ** 16 }, StateDictError);
    await refusesFast(
      { type: 'untrusted-spec-rows', rows: 64, width: 2 ** 16 },
      /expected the parameters '.*config\.json' builds \(more than 1048578\), got 2 parameters in the file/,
    );
  });

  it('the caller can raise and lower the limits', async () => {
    fs.writeFileSync(configPath, JSON.stringify({ type: 'linear', inFeatures: 2, outFeatures: 2 }));
    await expect(loadModule(dir, { maxParameters: 5 })).rejects.toThrow(
      /expected at most maxParameters 5/,
    );
    const ok = await loadModule(dir, { maxParameters: 6 });
    expect(ok.numParams()).toBe(6);
    ok.dispose();
  });

  it('a config.json nested thousands of levels deep: a typed error naming the file', async () => {
    const deep =
      '{"type":"linear","inFeatures":2,"outFeatures":2,"bias":' +
      '['.repeat(50_000) +
      ']'.repeat(50_000) +
      '}';
    await refusesFast(
      deep,
      new RegExp(`^loadModule: '${configPath}' expected JSON nested at most 64 levels`),
    );
  });

  it('nested config errors name the file', async () => {
    await refusesFast(
      { type: 'linear', inFeatures: 2, outFeatures: 2, bias: 'x'.repeat(1_000_000) },
      new RegExp(
        `^linear: '${configPath}' \\$\\.bias expected boolean, got '${'x'.repeat(120)}\\.\\.\\. \\(1000000 characters\\)'$`,
      ),
    );
  });
});

describe('safetensors headers from anyone', () => {
  it('a header nested thousands of levels deep is a typed error', () => {
    const header = '{"a":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    expect(() => readSafetensorsHeader(forge(header))).toThrow(SafetensorsError);
    expect(() => readSafetensorsHeader(forge(header))).toThrow(
      /header expected JSON nested at most 16 levels, got 100001 levels/,
    );
  });

  it('a 10 MB tensor name does not make a 10 MB message', () => {
    const name = 'w'.repeat(10_000_000);
    const header = { [name]: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } };
    let message = '';
    try {
      readSafetensorsHeader(forge(header, 4));
    } catch (error) {
      expect(error).toBeInstanceOf(SafetensorsError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/data_offsets expected 8 bytes/);
    expect(message.length).toBeLessThan(400);
  });

  it('a byte size that overflows says so', () => {
    const header = { w: { dtype: 'F32', shape: [2 ** 52, 2 ** 52], data_offsets: [0, 0] } };
    expect(() => readSafetensorsHeader(forge(header))).toThrow(
      /shape expected a shape whose byte size fits in 2\^53 .*got \[4503599627370496,4503599627370496\] of 4-byte F32, a byte size that overflows/,
    );
    // Dimensions whose product overflows to Infinity, times an empty one: 0 bytes, not NaN.
    const empty = {
      w: { dtype: 'F32', shape: [...new Array(20).fill(2 ** 52), 0], data_offsets: [0, 4] },
    };
    expect(() => readSafetensorsHeader(forge(empty, 4))).toThrow(/data_offsets expected 0 bytes/);
  });
});
