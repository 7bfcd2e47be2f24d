// saveModule's pair protocol (src/io/pair.ts): a save killed between its two renames is rolled
// forward by the next load or save, stale temporaries are removed, a config that no longer
// matches its weights is refused, and saves without a digest (older versions) still load.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  MLP,
  Rng,
  SafetensorsError,
  encodeSafetensors,
  loadModule,
  saveModule,
} from '@attnkit/core';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-pair-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** Same shapes, different outputs: only the activation differs. */
const mlp = (activation: string, seed: number) =>
  new MLP({ dim: 4, hiddenDim: 6, activation }, { rng: new Rng(seed) });

const x = () => tf.tensor2d([0.3, -1.2, 0.8, 2.0, -0.5, 0.1, 1.5, -2.2], [2, 4]);

function outputs(m: MLP): number[] {
  return tf.tidy(() => {
    const input = x();
    return Array.from(m.forward(input).dataSync());
  });
}

/** The pid of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;

const temps = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

describe('saveModule pair protocol', () => {
  it('rolls a save killed between its two renames forward to the new pair', async () => {
    const [oldModel, newModel] = [mlp('relu', 1), mlp('gelu', 2)];
    const dir = path.join(root, 'model');
    const staged = path.join(root, 'staged');
    await saveModule(dir, oldModel);
    await saveModule(staged, newModel);
    // The state a kill after the weights rename leaves: new weights, old config, and the new
    // config's complete temporary, written by a process that is gone.
    fs.copyFileSync(path.join(staged, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    fs.copyFileSync(
      path.join(staged, 'config.json'),
      path.join(dir, `.config.json.${deadPid()}-abc123.tmp`),
    );
    const back = (await loadModule(dir)) as MLP;
    expect(back.config).toEqual(newModel.config);
    expect(outputs(back)).toEqual(outputs(newModel));
    expect(temps(dir)).toEqual([]);
    expect(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe(
      fs.readFileSync(path.join(staged, 'config.json'), 'utf8'),
    );
    [oldModel, newModel, back].forEach((m) => m.dispose());
  });

  it('the next save cleans temporaries of dead writers (and those of older versions)', async () => {
    const m = mlp('relu', 3);
    await saveModule(root, m);
    const pid = deadPid();
    for (const name of [
      `.model.safetensors.${pid}-aa.tmp`,
      `.config.json.${pid}-bb.tmp`,
      '.model.safetensors.mk2x0q9zz.tmp',
    ]) {
      fs.writeFileSync(path.join(root, name), 'partial');
    }
    const live = `.model.safetensors.${process.pid}-cc.tmp`;
    fs.writeFileSync(path.join(root, live), 'being written');
    await saveModule(root, m, { overwrite: true });
    expect(temps(root)).toEqual([live]);
    expect(outputs((await loadModule(root)) as MLP)).toEqual(outputs(m));
    m.dispose();
  });

  it('refuses a config.json that no longer matches its weights (same shapes, other outputs)', async () => {
    const m = mlp('relu', 4);
    await saveModule(root, m);
    const configPath = path.join(root, 'config.json');
    const edited = { ...JSON.parse(fs.readFileSync(configPath, 'utf8')), activation: 'gelu' };
    fs.writeFileSync(configPath, JSON.stringify(edited));
    const before = tf.memory().numTensors;
    await expect(loadModule(root)).rejects.toThrow(SafetensorsError);
    await expect(loadModule(root)).rejects.toThrow(
      /__metadata__ config_sha256 expected the digest of '.*config.json' \(the pair saveModule wrote\), got [0-9a-f]{12}… \(config.json changed after saving/,
    );
    expect(tf.memory().numTensors).toBe(before);
    // Formatting and key order are not changes.
    const original = JSON.parse(JSON.stringify(m.config)) as Record<string, unknown>;
    const reordered = Object.fromEntries(Object.entries(original).reverse());
    fs.writeFileSync(configPath, JSON.stringify(reordered));
    const back = (await loadModule(root)) as MLP;
    expect(outputs(back)).toEqual(outputs(m));
    [m, back].forEach((b) => b.dispose());
  });

  it('loads saves written without a digest (earlier versions)', async () => {
    const m = mlp('relu', 5);
    fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify(m.config));
    const bytes = await encodeSafetensors(m.stateDict(), { format: 'attnkit', type: 'mlp' });
    fs.writeFileSync(path.join(root, 'model.safetensors'), bytes);
    const back = (await loadModule(root)) as MLP;
    expect(outputs(back)).toEqual(outputs(m));
    [m, back].forEach((b) => b.dispose());
  });
});
