import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type Module, Rng, type TokenMixer, build, validateConfig } from '@attnkit/core';
import { MoHAttention, routingPresets } from '@attnkit/routing';

type Json = Record<string, unknown>;
type Block = { mixer: Json; feedForward: Json; norm: Json };

/** A preset of @attnkit/models, read as a file (routing cannot import models). */
const modelsPreset = (name: string): Json =>
  JSON.parse(
    fs.readFileSync(path.join(__dirname, '../../models/src/presets', `${name}.json`), 'utf8'),
  ) as Json;

/** The preset with its mixer taken out. */
const withoutMixer = (preset: Json): Json => {
  const block = { ...(preset.block as Json) };
  delete block.mixer;
  return { ...preset, block };
};

describe('routing presets', () => {
  it('moh-lm-tiny is llama-tiny with the mixer replaced by moh', () => {
    const preset = routingPresets['moh-lm-tiny']!;
    expect(withoutMixer(preset)).toEqual(withoutMixer(modelsPreset('llama-tiny')));
    expect((preset.block as Block).mixer.type).toBe('moh');
  });

  it('moh-vit-tiny is vit-tiny with the mixer replaced by moh', () => {
    const preset = routingPresets['moh-vit-tiny']!;
    expect(withoutMixer(preset)).toEqual(withoutMixer(modelsPreset('vit-tiny')));
    expect((preset.block as Block).mixer.type).toBe('moh');
  });

  it.each(['moe-lm-tiny', 'moh-lm-tiny', 'moh-vit-tiny'])(
    '%s: its block parts validate and run at the model width',
    (name) => {
      const preset = routingPresets[name]!;
      const dModel = preset.dModel as number;
      const block = preset.block as Block;
      const mixer = validateConfig({ ...block.mixer, dModel });
      const ff = validateConfig({ ...block.feedForward, dim: dModel });
      validateConfig({ ...block.norm, dim: dModel });
      const rng = new Rng(0);
      const m = build<Module & TokenMixer>(mixer, { rng });
      const f = build<Module & { forward(x: tf.Tensor): tf.Tensor }>(ff, { rng });
      const x = tf.randomNormal([1, 5, dModel], 0, 1, 'float32', 1) as tf.Tensor3D;
      const causal = preset.type !== 'vit';
      const y = f.forward(m.forward(x, { causal }));
      expect(y.shape).toEqual([1, 5, dModel]);
      if (m instanceof MoHAttention) {
        const { numHeads, numSharedHeads, topK } = m.config;
        expect(m.lastStats!.activeFraction).toBeCloseTo((numSharedHeads + topK) / numHeads);
      }
      tf.dispose([x, y]);
      m.dispose();
      (f as Module).dispose();
    },
  );
});
