// fusedDecoderSpec describes a decoder-lm for a backend's fused decoder (core's protocol), or
// names the part it cannot run; openDecoding picks fused, cached or full decoding.
import * as tf from '@tensorflow/tfjs-core';
import {
  type Embedding,
  type FusedDecoderFeedForward,
  Rng,
  build,
  type FusedDecoderSpec,
} from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import {
  type DecoderLM,
  type DecoderLmConfig,
  fusedDecoderSpec,
  fusedDecodingSupport,
  getPreset,
  openDecoding,
} from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';

const lm = (config: DecoderLmConfig) => build<DecoderLM>(config, { rng: new Rng(1) });
const llama = () => getPreset('llama-tiny') as DecoderLmConfig;

describeWithBlocks('fusedDecoderSpec', () => {
  it("describes llama-tiny with its weights' values in place", () => {
    const model = lm(llama());
    const spec = fusedDecoderSpec(model) as FusedDecoderSpec;
    expect(spec).not.toHaveProperty('unsupported');
    expect([spec.dModel, spec.vocabSize, spec.maxLength]).toEqual([64, 65, 64]);
    expect(spec.embedding).toEqual((model.embedding as Embedding).weight.dataSync());
    expect(spec.head).toBeUndefined();
    expect(spec.positionTable).toBeUndefined();
    expect(spec.rotary).toMatchObject({ layout: 'half', rotaryDim: 16 });
    expect(spec.rotary!.inverseFrequencies[1]).toBeCloseTo(Math.pow(10000, -2 / 16), 6);
    expect(spec.layers).toHaveLength(2);
    const layer = spec.layers[1]!;
    expect(layer.placement).toBe('pre');
    expect(layer.norm1).toMatchObject({ kind: 'rms-norm', eps: 1e-6 });
    expect(layer.attention).toMatchObject({ numHeads: 4, numKvHeads: 2, headDim: 16, scale: 0.25 });
    const mixer = model.blocks[1]!.mixer as unknown as { k: { weight: tf.Variable } };
    expect(layer.attention.k.weight).toEqual(mixer.k.weight.dataSync());
    expect(layer.attention.k.weight).toHaveLength(64 * 32);
    expect(layer.feedForward).toMatchObject({ activation: 'silu', hiddenDim: 128 });
    expect((layer.feedForward as FusedDecoderFeedForward).gate!.weight).toHaveLength(64 * 128);
    expect(spec.finalNorm.kind).toBe('rms-norm');
    model.dispose();
  });

  it('tabulates learned positions and carries biases, layer-norm and an own head', async () => {
    const config = { ...(getPreset('gpt-tiny') as DecoderLmConfig), tieEmbeddings: false };
    const model = lm(config);
    let spec = {} as FusedDecoderSpec;
    await expectNoLeaks(() => {
      spec = fusedDecoderSpec(model) as FusedDecoderSpec;
    });
    const table = (model.positional as unknown as { weight: tf.Variable }).weight.dataSync();
    expect(spec.positionTable).toEqual(table);
    expect(spec.rotary).toBeUndefined();
    expect(spec.head).toHaveLength(64 * 96);
    const layer = spec.layers[0]!;
    expect(layer.norm2).toMatchObject({ kind: 'layer-norm', eps: 1e-5 });
    expect(layer.norm2.bias).toHaveLength(64);
    const feedForward = layer.feedForward as FusedDecoderFeedForward;
    expect(feedForward.activation).toBe('gelu');
    expect(feedForward.gate).toBeUndefined();
    expect(feedForward.up.bias).toHaveLength(256);
    expect(layer.attention.q.bias).toBeUndefined();
    model.dispose();
  });

  it("folds YaRN's logit temperature into the attention scale", () => {
    const positional = {
      type: 'rotary',
      headDim: 16,
      scaling: { type: 'yarn', factor: 4, originalMaxPosition: 16 },
    };
    const model = lm({ ...llama(), positional });
    const spec = fusedDecoderSpec(model) as FusedDecoderSpec;
    const mscale = 0.1 * Math.log(4) + 1;
    expect(spec.layers[0]!.attention.scale).toBeCloseTo((mscale * mscale) / 4, 6);
    model.dispose();
  });

  it('names the part it cannot run', () => {
    const block = llama().block;
    const cases: [Partial<DecoderLmConfig>, string][] = [
      [{ positional: { type: 't5-relative', numHeads: 4 } }, "positional 't5-relative'"],
      [
        { block: { ...block, mixer: { type: 'differential', numHeads: 2 } } },
        "layers[0].mixer 'differential' is not mha, gqa, mqa, sliding-window or streaming",
      ],
      [
        { block: { ...block, mixer: { type: 'mha', numHeads: 4, logitSoftcap: 30 } } },
        'layers[0].mixer uses qkNorm, logitSoftcap or sinkLogit',
      ],
      [{ block: { ...block, parallel: true } }, 'layers[0] is a parallel block'],
      [
        { block: { ...block, norm: { type: 'scale-norm' } } },
        "layers[0].norm1 'scale-norm' is not rms-norm or layer-norm",
      ],
    ];
    // A head size other than the rotary one no longer builds (issue 16): refused by path at build.
    expect(() =>
      lm({
        ...llama(),
        layerOverrides: { '1': { mixer: { type: 'mha', numHeads: 2 } } },
      } as DecoderLmConfig),
    ).toThrow(
      'rotary: $.positional.headDim expected the head size of $.layerOverrides.1.mixer (32), got 16',
    );
    for (const [change, reason] of cases) {
      const model = lm({ ...llama(), ...change } as DecoderLmConfig);
      const spec = fusedDecoderSpec(model) as { unsupported?: string };
      expect(spec.unsupported).toContain(reason);
      model.dispose();
    }
  });
});

describeWithBlocks('openDecoding', () => {
  it('uses the cache, or the whole sequence without it, where no fused decoder is offered', async () => {
    const model = lm(llama());
    const native = tf.getBackend() === 'native';
    expect(openDecoding(model, { fused: false }).mode).toBe('cache');
    expect(openDecoding(model, { useCache: false }).mode).toBe('full');
    const auto = openDecoding(model);
    expect(auto.mode).toBe(native ? 'fused' : 'cache');
    expect(fusedDecodingSupport(model).supported).toBe(native);
    // Both incremental modes give the logits of the full forward's last position.
    const ids = [3, 1, 4, 1, 5];
    const logits = Float32Array.from(await auto.next(ids));
    auto.dispose();
    const full = openDecoding(model, { useCache: false });
    const expected = await full.next(ids);
    full.dispose();
    let worst = 0;
    logits.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected[i]!))));
    expect(worst).toBeLessThan(1e-4);
    model.dispose();
  });

  it('decodes a mixer without incremental state by rerunning the sequence', () => {
    const block = llama().block;
    const config = {
      ...llama(),
      block: { ...block, mixer: { type: 'mosa', numHeads: 4, sparsity: 2 } },
    };
    const model = lm(config);
    const decoding = openDecoding(model);
    expect(decoding.mode).toBe('full');
    decoding.dispose();
    model.dispose();
  });
});
