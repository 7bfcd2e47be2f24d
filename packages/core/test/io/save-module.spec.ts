import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import {
  ConfigError,
  Linear,
  MLP,
  Module,
  RegistryError,
  Rng,
  SafetensorsError,
  StateDictError,
  loadModule,
  loadSafetensors,
  register,
  saveModule,
  type ModuleOptions,
} from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

interface AffineConfig {
  type: 'io-test-affine';
  features: number;
  bias?: boolean;
}

/** y = x W (+ b), plus an int32 step counter: enough to exercise every saved dtype path. */
class Affine extends Module<AffineConfig> {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(config: AffineConfig, options: ModuleOptions = {}) {
    super(config, options);
    const n = config.features;
    this.weight = this.addParameter(
      'weight',
      tf.tensor2d(
        Array.from({ length: n * n }, () => this.rng.normal()),
        [n, n],
      ),
    );
    this.bias =
      config.bias === false
        ? null
        : this.addParameter(
            'bias',
            tf.tensor1d(Array.from({ length: n }, () => this.rng.normal())),
          );
    this.addParameter('steps', tf.scalar(0, 'int32'), false);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      this.bias ? tf.add(tf.matMul(x, this.weight), this.bias) : tf.matMul(x, this.weight),
    );
  }
}

const affineSchema = z.strictObject({
  type: z.literal('io-test-affine'),
  features: z.number().int().positive(),
  bias: z.boolean().optional(),
});
register('io-test-affine', (c: AffineConfig, o) => new Affine(c, o), affineSchema, {
  category: 'test',
});

/** A module whose config names no registered type. */
class Unregistered extends Module<{ type: string }> {}

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-save-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const listing = (dir: string) => fs.readdirSync(dir).sort();
const snapshot = (dir: string) =>
  listing(dir).map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('base64')]);

describe('saveModule / loadModule', () => {
  it('saves config.json + model.safetensors and loads a module with identical outputs', async () => {
    const dir = path.join(root, 'nested', 'affine');
    const m = new Affine({ type: 'io-test-affine', features: 3 }, { rng: new Rng(1) });
    (m.namedParameters().get('steps') as tf.Variable).assign(tf.scalar(41, 'int32'));
    await saveModule(dir, m);
    expect(listing(dir)).toEqual(['config.json', 'model.safetensors']);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))).toEqual({
      type: 'io-test-affine',
      features: 3,
    });
    const { metadata, tensors } = await loadSafetensors(path.join(dir, 'model.safetensors'));
    expect(metadata).toEqual({
      format: 'attnkit',
      type: 'io-test-affine',
      config_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    tf.dispose(Object.values(tensors));

    const back = await loadModule<Affine>(dir, { rng: new Rng(99) });
    expect(back).toBeInstanceOf(Affine);
    expect(back.config).toEqual(m.config);
    const x = tf.tensor2d([1, -2, 0.5, 3, 0, -1], [2, 3]);
    const [y1, y2] = [m.forward(x), back.forward(x)];
    expect(Array.from(y2.dataSync())).toEqual(Array.from(y1.dataSync()));
    expect(back.namedParameters().get('steps')!.dataSync()[0]).toBe(41);
    tf.dispose([x, y1, y2]);
    m.dispose();
    back.dispose();
  });

  it('round-trips core layers (Linear, MLP) from the registry', async () => {
    const x = tf.tensor2d([0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8], [2, 4]);
    const modules: Module[] = [
      new Linear({ inFeatures: 4, outFeatures: 3 }, { rng: new Rng(2) }),
      new MLP({ dim: 4, hiddenDim: 6 }, { rng: new Rng(3) }),
    ];
    for (const [i, m] of modules.entries()) {
      const dir = path.join(root, `m${i}`);
      await saveModule(dir, m);
      const back = await loadModule(dir);
      const forward = (mod: Module) =>
        (mod as unknown as { forward(x: tf.Tensor): tf.Tensor }).forward(x);
      const [a, b] = [forward(m), forward(back)];
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose([a, b]);
      m.dispose();
      back.dispose();
    }
    x.dispose();
  });

  it('saves float weights as F16 on request, loading them back as float32', async () => {
    const m = new Affine({ type: 'io-test-affine', features: 4 }, { rng: new Rng(4) });
    await saveModule(root, m, { dtype: 'F16' });
    const back = await loadModule<Affine>(root);
    expect(back.weight.dtype).toBe('float32');
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(back.weight, m.weight))).dataSync()[0]!);
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(4e-3);
    m.dispose();
    back.dispose();
  });

  it('refuses to replace a save unless asked, and overwrites when asked', async () => {
    const a = new Affine({ type: 'io-test-affine', features: 2 }, { rng: new Rng(5) });
    const b = new Affine({ type: 'io-test-affine', features: 2, bias: false }, { rng: new Rng(6) });
    fs.writeFileSync(path.join(root, 'tokenizer.json'), '{}');
    await saveModule(root, a);
    const before = snapshot(root);
    await expect(saveModule(root, b)).rejects.toThrow(ConfigError);
    await expect(saveModule(root, b)).rejects.toThrow(
      /saveModule: options.overwrite expected true to replace the save in '.*', got false, and '.*config.json' exists/,
    );
    expect(snapshot(root)).toEqual(before);
    await saveModule(root, b, { overwrite: true });
    expect(listing(root)).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    const back = await loadModule<Affine>(root);
    expect(back.bias).toBeNull();
    expect(Array.from(back.weight.dataSync())).toEqual(Array.from(b.weight.dataSync()));
    [a, b, back].forEach((m) => m.dispose());
  });

  it('leaves the previous files intact, and no temp files, when a save fails', async () => {
    const a = new Affine({ type: 'io-test-affine', features: 2 }, { rng: new Rng(7) });
    await saveModule(root, a);
    const before = snapshot(root);
    // A state dict the codec refuses: the failure comes after validation, before any rename.
    const broken = new Affine({ type: 'io-test-affine', features: 2 });
    const odd = tf.tensor(['a']);
    broken.stateDict = () => ({ ...a.stateDict(), odd });
    await expect(saveModule(root, broken, { overwrite: true })).rejects.toThrow(SafetensorsError);
    // A target that cannot be replaced (model.safetensors is a directory).
    const blocked = path.join(root, 'blocked');
    fs.mkdirSync(path.join(blocked, 'model.safetensors'), { recursive: true });
    await expect(saveModule(blocked, a, { overwrite: true })).rejects.toThrow(
      /saveModule: dir expected '.*model.safetensors' to be a regular file/,
    );
    expect(listing(blocked)).toEqual(['model.safetensors']);
    fs.rmSync(blocked, { recursive: true });
    expect(snapshot(root)).toEqual(before);
    a.dispose();
    broken.dispose();
    odd.dispose();
  });

  it('refuses modules that cannot be rebuilt from their config', async () => {
    const plain = new Unregistered({ type: 'not-registered' });
    await expect(saveModule(root, plain)).rejects.toThrow(RegistryError);
    await expect(saveModule(root, plain)).rejects.toThrow(/\$\.type expected a registered type/);
    const untyped = new Unregistered({} as { type: string });
    await expect(saveModule(root, untyped)).rejects.toThrow(
      /\$\.type expected a string naming a registered type, got undefined/,
    );
    const disposed = new Affine({ type: 'io-test-affine', features: 2 });
    disposed.dispose();
    await expect(saveModule(root, disposed)).rejects.toThrow(
      'saveModule: module expected a live module',
    );
    expect(listing(root)).toEqual([]);
  });

  it('refuses missing, malformed, truncated and mismatched saves with clear messages', async () => {
    const missing = path.join(root, 'nope');
    await expect(loadModule(missing)).rejects.toThrow(
      `loadModule: dir expected a directory holding config.json and model.safetensors, got '${missing}' (ENOENT)`,
    );
    const m = new Affine({ type: 'io-test-affine', features: 2 }, { rng: new Rng(8) });
    await saveModule(root, m);
    const configPath = path.join(root, 'config.json');
    const weightsPath = path.join(root, 'model.safetensors');
    const config = fs.readFileSync(configPath, 'utf8');
    const weights = fs.readFileSync(weightsPath);
    const before = tf.memory().numTensors;

    fs.writeFileSync(configPath, '{"type": "io-test-affine",');
    await expect(loadModule(root)).rejects.toThrow(
      new RegExp(`loadModule: '${configPath}' expected valid JSON`),
    );
    fs.writeFileSync(
      configPath,
      JSON.stringify({ type: 'io-test-affine', features: 2, featurs: 3 }),
    );
    await expect(loadModule(root)).rejects.toThrow(
      `io-test-affine: '${configPath}' $.featurs expected only known options, got unknown option 'featurs'`,
    );
    fs.writeFileSync(configPath, JSON.stringify({ type: 'io-test-affine', features: 0 }));
    await expect(loadModule(root)).rejects.toThrow(
      `'${configPath}' $.features expected a value > 0, got 0`,
    );
    fs.writeFileSync(configPath, JSON.stringify({ type: 'io-test-affine', features: 3 }));
    await expect(loadModule(root)).rejects.toThrow(StateDictError);
    await expect(loadModule(root)).rejects.toThrow(
      `io-test-affine: weights in '${weightsPath}' expected tensors matching the module parameters (names, shapes, dtypes), got mismatched: weight (expected float32[3,3], got float32[2,2])`,
    );
    fs.writeFileSync(
      configPath,
      JSON.stringify({ type: 'io-test-affine', features: 2, bias: false }),
    );
    await expect(loadModule(root)).rejects.toThrow('got unexpected: bias');
    fs.writeFileSync(configPath, JSON.stringify({ type: 'linear', inFeatures: 2, outFeatures: 2 }));
    await expect(loadModule(root)).rejects.toThrow(
      `safetensors '${weightsPath}': __metadata__ type expected 'linear' (the type in config.json), got 'io-test-affine'`,
    );
    fs.writeFileSync(configPath, config);

    fs.writeFileSync(weightsPath, weights.subarray(0, weights.length - 3));
    await expect(loadModule(root)).rejects.toThrow(
      new RegExp(`safetensors '${weightsPath}': .* expected`),
    );
    const forged = Buffer.from(weights);
    forged.write('"F16"', forged.indexOf('"F32"'));
    fs.writeFileSync(weightsPath, forged);
    await expect(loadModule(root)).rejects.toThrow(SafetensorsError);
    fs.rmSync(weightsPath);
    await expect(loadModule(root)).rejects.toThrow(
      `loadModule: file '${weightsPath}' expected a readable file, got ENOENT`,
    );
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('leaks nothing: save, load, dispose', async () => {
    const m = new Affine({ type: 'io-test-affine', features: 3 });
    await saveModule(root, m);
    await expectNoLeaks(async () => {
      await saveModule(root, m, { overwrite: true });
      (await loadModule(root)).dispose();
    });
    m.dispose();
  });
});
