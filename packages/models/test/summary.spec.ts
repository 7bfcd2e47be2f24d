import * as tf from '@tensorflow/tfjs-core';
import { Rng, getPreset } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import { formatSummary, fromPreset, printSummary, summary } from '@attnkit/models';
import '@attnkit/routing';

const rng = () => ({ rng: new Rng(0) });

describe('summary', () => {
  it('llama-tiny: shapes, parameters and FLOPs counted from the config independently', async () => {
    const model = fromPreset('llama-tiny', {}, rng());
    const T = 8;
    let s!: ReturnType<typeof summary>;
    await expectNoLeaks(() => {
      s = summary(model, { inputLength: T });
    });
    expect(s.parameters).toBe(model.numParams());
    expect(s.activeParameters).toBe(s.parameters);
    const row = (p: string) => s.rows.find((r) => r.path === p)!;
    expect(row('').outputShape).toEqual([1, T, 65]);
    expect(row('layers_0').outputShape).toEqual([1, T, 64]);
    expect(row('layers_1.mixer').outputShape).toEqual([1, T, 64]);
    // Depth-1 rows partition the model's parameters.
    const top = s.rows.filter((r) => r.path !== '' && !r.path.includes('.'));
    expect(top.reduce((n, r) => n + r.parameters, 0)).toBe(s.parameters);
    // gqa: q 64x64, k 64x32, v 64x32, o 64x64, and 4·T·(4 heads × 16) for QKᵀ and AV.
    const mixer = 2 * (4096 + 2048 + 2048 + 4096) + 4 * T * 64;
    const swiglu = 2 * 3 * 64 * 128;
    expect(row('layers_0.mixer').flopsPerToken).toBe(mixer);
    expect(row('layers_0.ff').flopsPerToken).toBe(swiglu);
    // Tied head: the logits read the 65 × 64 embedding table; the lookup itself is free.
    expect(s.flopsPerToken).toBe(2 * (mixer + swiglu) + 2 * 65 * 64);
    model.dispose();
  });

  it('moe-lm-tiny: active parameters and FLOPs count topK of numExperts experts', () => {
    const model = fromPreset('moe-lm-tiny', {}, rng());
    const s = summary(model, { inputLength: 4 });
    const ff = (getPreset('moe-lm-tiny').block as { feedForward: Record<string, number> })
      .feedForward as Record<string, number> & { expert: { hiddenDim: number } };
    const expert = 3 * 64 * ff.expert.hiddenDim; // swiglu without biases
    const skipped = ff.numExperts - ff.topK;
    expect(s.parameters).toBe(model.numParams());
    expect(s.activeParameters).toBeLessThan(s.parameters);
    expect(s.parameters - s.activeParameters).toBe(2 * skipped * expert);
    const moe = s.rows.find((r) => r.path === 'layers_0.ff')!;
    expect(moe.type).toBe('moe');
    expect(moe.parameters - moe.activeParameters).toBe(skipped * expert);
    const dense = (ff.topK + ff.numSharedExperts) * 2 * expert + 2 * 64 * ff.numExperts; // + router
    expect(moe.flopsPerToken).toBe(dense);
    model.dispose();
  });

  it('moh-lm-tiny: skipped heads leave the active count', () => {
    const model = fromPreset('moh-lm-tiny', {}, rng());
    const s = summary(model, { inputLength: 4, shapes: false });
    expect(s.activeParameters).toBeLessThan(s.parameters);
    const mixer = s.rows.find((r) => r.path === 'layers_0.mixer')!;
    // 4 heads, 1 shared + top-2 of 3 routed: 1 head skipped, its q rows and o columns (64×16 each).
    expect(mixer.parameters - mixer.activeParameters).toBe(2 * 64 * 16);
    model.dispose();
  });

  it('vit-tiny: patches and class token set the length; the head gives [1, classes]', () => {
    const model = fromPreset('vit-tiny', {}, rng());
    const s = summary(model);
    expect(s.inputLength).toBe(17);
    expect(s.rows[0]!.outputShape).toEqual([1, 10]);
    expect(s.rows.find((r) => r.path === 'layers_1')!.outputShape).toEqual([1, 17, 64]);
    expect(s.parameters).toBe(model.numParams());
    model.dispose();
  });

  it('formats a table and prints it', () => {
    const model = fromPreset('llama-tiny', { numLayers: 1 }, rng());
    const lines: string[] = [];
    const s = printSummary(model, { inputLength: 4, log: (t) => lines.push(t) });
    const text = formatSummary(s);
    expect(lines).toEqual([text]);
    expect(text).toMatch(/^layer\s+type\s+output shape\s+params\s+active\s+FLOPs\/token/);
    expect(text).toContain('layers_0.mixer');
    expect(text).toContain(s.parameters.toLocaleString('en-US'));
    expect(text).toContain('[1, 4, 65]');
    expect(tf.memory().numTensors).toBeGreaterThan(0);
    model.dispose();
  });
});
