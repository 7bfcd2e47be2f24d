import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  Rng,
  build,
  isRegistered,
  loadModule,
  registeredTypes,
  registryInfo,
  saveModule,
} from '@attnkit/core';
import { maxAbsDiff } from '@attnkit/core/testing';
import { MIXTURE_OF_ATTENTION_HEADS, MoAAttention } from '@attnkit/routing';
import { randn } from '../helpers';

const fields = { dModel: 8, numHeads: 4, headDim: 4, topK: 2 };

describe(`'moa' is a deprecated alias of '${MIXTURE_OF_ATTENTION_HEADS}'`, () => {
  it('lists the new name once and keeps the alias out of listings', () => {
    expect(MIXTURE_OF_ATTENTION_HEADS).toBe('mixture-of-attention-heads');
    expect(registeredTypes('mixer')).toContain(MIXTURE_OF_ATTENTION_HEADS);
    expect(registeredTypes('mixer')).not.toContain('moa');
    expect(registeredTypes('mixer', { deprecated: true })).toContain('moa');
    expect(isRegistered('moa')).toBe(true);
    expect(registryInfo('moa')!.deprecated).toMatch(/use 'mixture-of-attention-heads'/);
    expect(registryInfo(MIXTURE_OF_ATTENTION_HEADS)!.info.paper).toMatch(/Zhang et al\. 2022/);
  });

  it('builds the same module under both names, warning once per process for the alias', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const current = build<MoAAttention>(
        { type: MIXTURE_OF_ATTENTION_HEADS, ...fields },
        { rng: new Rng(4) },
      );
      expect(warn).not.toHaveBeenCalled();
      const old = build<MoAAttention>({ type: 'moa', ...fields }, { rng: new Rng(4) });
      build({ type: 'moa', ...fields }).dispose();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![0]).toMatch(
        /'moa' is deprecated; use 'mixture-of-attention-heads'/,
      );
      expect(old).toBeInstanceOf(MoAAttention);
      expect(old.config.type).toBe('moa');
      expect(current.config.type).toBe(MIXTURE_OF_ATTENTION_HEADS);
      const x = randn([2, 3, 8], 2) as tf.Tensor3D;
      expect(tf.tidy(() => maxAbsDiff(old.forward(x), current.forward(x)))).toBe(0);
      tf.dispose(x);
      old.dispose();
      current.dispose();
    } finally {
      warn.mockRestore();
    }
  });

  it('names the block in errors by the type it was given', () => {
    expect(() => build({ type: MIXTURE_OF_ATTENTION_HEADS, ...fields, topK: 5 })).toThrow(
      'mixture-of-attention-heads: topK expected an integer <= numHeads (4), got 5',
    );
    expect(() => build({ type: 'moa', ...fields, topK: 5 })).toThrow('moa: topK expected');
  });

  it('reloads a model saved under the old name', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moa-alias-'));
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const saved = build<MoAAttention>({ type: 'moa', ...fields }, { rng: new Rng(5) });
      await saveModule(dir, saved);
      const loaded = await loadModule<MoAAttention>(dir);
      expect(loaded.config.type).toBe('moa');
      const x = randn([1, 4, 8], 3) as tf.Tensor3D;
      expect(tf.tidy(() => maxAbsDiff(saved.forward(x), loaded.forward(x)))).toBe(0);
      tf.dispose(x);
      saved.dispose();
      loaded.dispose();
    } finally {
      warn.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
