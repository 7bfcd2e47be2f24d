import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, type AttentionWeightsInfo, type ProbeEvent } from '@attnkit/core';
import '@attnkit/routing'; // registers moh
import { expectClose } from '@attnkit/core/testing';
import { describeWithBlocks } from './blocks-ready';
import { ids, tinyLm } from './helpers';

describeWithBlocks('models on the v2 mixer contract', () => {
  it('hooks and probes receive the layer path of the module inside the model', () => {
    const model = tinyLm({
      layerOverrides: { '1': { mixer: { type: 'moh', numHeads: 2, numSharedHeads: 1, topK: 1 } } },
    });
    const paths: string[] = [];
    const events: ProbeEvent[] = [];
    const input = ids([[1, 2, 3]]);
    model
      .forward(input, {
        attentionHook: (info: AttentionWeightsInfo) => paths.push(`${info.path} ${info.block}`),
        probe: (e) => events.push(e),
      })
      .dispose();
    expect(paths).toEqual(['layers_0.mixer gqa', 'layers_1.mixer moh']);
    expect(events.map((e) => `${e.path} ${e.block} ${e.name}`)).toContain(
      'layers_1.mixer moh headLoad',
    );
    input.dispose();
    model.dispose();
  });

  it('refuses a mixer that cannot run causally when the model is built', () => {
    expect(() =>
      tinyLm({ layerOverrides: { '1': { mixer: { type: 'gaam', numHeads: 2, axis: 'time' } } } }),
    ).toThrow(ConfigError);
    expect(() =>
      tinyLm({ layerOverrides: { '1': { mixer: { type: 'gaam', numHeads: 2, axis: 'time' } } } }),
    ).toThrow(
      "gaam: $.layerOverrides.1.mixer.type expected a mixer that can run causally, got 'gaam' (never causal)",
    );
  });

  it('the stack state names every layer tensor, saves, restores and reorders', async () => {
    const model = tinyLm();
    const state = model.initState(2);
    const prompt = ids([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    model.forward(prompt, { state }).dispose();
    expect(Object.keys(state.tensors()).sort()).toEqual([
      'layers.0.keys',
      'layers.0.values',
      'layers.1.keys',
      'layers.1.values',
    ]);
    const copy = model.initState(2);
    copy.restore(await state.save());
    expect(copy.length).toBe(3);
    copy.reorder([1, 0]);
    const next = ids([[7], [8]]);
    const a = model.forward(next, { state });
    const swapped = ids([[8], [7]]);
    const b = model.forward(swapped, { state: copy });
    expectClose(b, tf.reverse(a, 0), { atol: 1e-5 });
    tf.dispose([prompt, next, swapped, a, b]);
    state.dispose();
    copy.dispose();
    model.dispose();
  });
});
