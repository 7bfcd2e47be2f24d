import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { SafetensorsError, loadSafetensors, saveSafetensors } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-st-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('saveSafetensors / loadSafetensors', () => {
  it('round-trips through a file and leaves no temp file behind', async () => {
    const file = path.join(dir, 'w.safetensors');
    const w = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const n = tf.tensor1d([5], 'int32');
    await saveSafetensors(file, { w, n }, { step: '3' });
    expect(fs.readdirSync(dir)).toEqual(['w.safetensors']);
    const { tensors, metadata } = await loadSafetensors(file);
    expect(metadata).toEqual({ step: '3' });
    expect(Array.from(tensors.w!.dataSync())).toEqual([1, 2, 3, 4]);
    expect(tensors.n!.dtype).toBe('int32');
    tf.dispose([w, n, ...Object.values(tensors)]);
  });

  it('replaces an existing file atomically and keeps it when encoding fails', async () => {
    const file = path.join(dir, 'w.safetensors');
    const a = tf.ones([3]);
    await saveSafetensors(file, { a });
    const first = fs.readFileSync(file);
    const bad = tf.tensor(['a']);
    await expect(saveSafetensors(file, { bad })).rejects.toThrow(SafetensorsError);
    expect(fs.readFileSync(file).equals(first)).toBe(true);
    await saveSafetensors(file, { a }, undefined, { dtype: 'F16' });
    expect(fs.readFileSync(file).length).toBeLessThan(first.length);
    expect(fs.readdirSync(dir)).toEqual(['w.safetensors']);
    tf.dispose([a, bad]);
  });

  it('refuses unwritable targets and missing, truncated or forged files with the path', async () => {
    const a = tf.ones([2]);
    await expect(
      saveSafetensors(path.join(dir, 'no', 'such', 'x.safetensors'), { a }),
    ).rejects.toThrow(
      /saveSafetensors: file '.*x\.safetensors' expected a writable path, got ENOENT/,
    );
    fs.mkdirSync(path.join(dir, 'taken'));
    await expect(saveSafetensors(path.join(dir, 'taken'), { a })).rejects.toThrow(
      /expected a writable path/,
    );
    expect(fs.readdirSync(dir)).toEqual(['taken']);

    const missing = path.join(dir, 'missing.safetensors');
    await expect(loadSafetensors(missing)).rejects.toThrow(
      `loadSafetensors: file '${missing}' expected a readable file, got ENOENT`,
    );
    const file = path.join(dir, 'w.safetensors');
    await saveSafetensors(file, { a });
    fs.truncateSync(file, fs.statSync(file).size - 1);
    await expect(loadSafetensors(file)).rejects.toThrow(
      `safetensors '${file}': tensor 'a' data_offsets expected 0 <= begin <= end <= 7`,
    );
    a.dispose();
  });

  it('leaks nothing', async () => {
    const w = tf.ones([4, 4]);
    await expectNoLeaks(async () => {
      await saveSafetensors(path.join(dir, 'w.safetensors'), { w });
      const { tensors } = await loadSafetensors(path.join(dir, 'w.safetensors'));
      tf.dispose(Object.values(tensors));
    });
    w.dispose();
  });
});
