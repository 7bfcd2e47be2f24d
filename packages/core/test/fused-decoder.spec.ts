// Core's layers describe their own part of a fused decoder's spec (contract 7), weights read
// in place; fusedDecodingOf asks a module or names what it expected.
import * as tf from '@tensorflow/tfjs-core';
import {
  Embedding,
  GLU,
  LayerNorm,
  Linear,
  MLP,
  RMSNorm,
  Rng,
  ScaleNorm,
  fusedDecodingOf,
  type FusedDecoderNorm,
  type FusedDecodingContext,
} from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

const context: FusedDecodingContext = {
  path: 'layers[0].norm1',
  dModel: 4,
  maxLength: 8,
  logitScale: 1,
};
const rng = () => ({ rng: new Rng(7) });

describe('fusedDecoding of core layers', () => {
  it('gives a linear layer its weight [in, out] and bias', () => {
    const withBias = new Linear({ inFeatures: 3, outFeatures: 2 }, rng());
    const part = withBias.fusedDecoding();
    expect(part.weight).toEqual(withBias.weight.dataSync());
    expect(part.weight).toHaveLength(6);
    expect(part.bias).toEqual(new Float32Array(2));
    const noBias = new Linear({ inFeatures: 3, outFeatures: 2, bias: false }, rng());
    expect(noBias.fusedDecoding().bias).toBeUndefined();
    withBias.dispose();
    noBias.dispose();
  });

  it('gives norms their kind, the eps in use and their affine weights', () => {
    const rms = new RMSNorm({ dim: 4, eps: 1e-3 });
    rms.weight!.assign(tf.tensor1d([1, 2, 3, 4]));
    expect(rms.fusedDecoding()).toEqual({
      kind: 'rms-norm',
      eps: 1e-3,
      weight: Float32Array.from([1, 2, 3, 4]),
    });
    const plain = new RMSNorm({ dim: 4, affine: false });
    expect(plain.fusedDecoding().weight).toBeUndefined();
    const ln = new LayerNorm({ dim: 4, bias: false });
    expect(ln.fusedDecoding()).toEqual({
      kind: 'layer-norm',
      eps: 1e-5,
      weight: Float32Array.from([1, 1, 1, 1]),
      bias: undefined,
    });
    [rms, plain, ln].forEach((m) => m.dispose());
  });

  it('gives feed-forwards their resolved activation and projections, gated or not', () => {
    const mlp = new MLP({ dim: 4, hiddenDim: 6, activation: 'relu2' }, rng());
    const m = mlp.fusedDecoding();
    expect([m.activation, m.hiddenDim, m.gate]).toEqual(['relu2', 6, undefined]);
    expect(m.down.weight).toEqual(mlp.down.weight.dataSync());
    const glu = new GLU({ type: 'geglu', dim: 4, hiddenDim: 6 }, rng());
    const g = glu.fusedDecoding();
    expect([g.activation, g.hiddenDim]).toEqual(['gelu', 6]);
    expect(g.gate!.weight).toEqual(glu.gate.weight.dataSync());
    expect(g.up.bias).toBeUndefined();
    mlp.dispose();
    glu.dispose();
  });

  it('gives the embedding its table, and allocates no tensors doing any of it', async () => {
    const emb = new Embedding({ numEmbeddings: 5, dim: 4 }, rng());
    await expectNoLeaks(() => {
      expect(emb.fusedDecoding().embedding).toEqual(emb.weight.dataSync());
    });
    emb.dispose();
  });

  it('asks a module for its part, or names what the slot expected', () => {
    const rms = new RMSNorm({ dim: 4 });
    const scale = new ScaleNorm({ dim: 4 });
    const otherwise = "layers[0].norm1 'scale-norm' is not rms-norm or layer-norm";
    expect(fusedDecodingOf<FusedDecoderNorm>(rms, context, otherwise)).toMatchObject({
      kind: 'rms-norm',
    });
    expect(fusedDecodingOf<FusedDecoderNorm>(scale, context, otherwise)).toBe(otherwise);
    expect(fusedDecodingOf(undefined, context, 'nothing there')).toBe('nothing there');
    const refusing = { fusedDecoding: (c: FusedDecodingContext) => `${c.path} says no` };
    expect(fusedDecodingOf(refusing, context, otherwise)).toBe('layers[0].norm1 says no');
    rms.dispose();
    scale.dispose();
  });
});
