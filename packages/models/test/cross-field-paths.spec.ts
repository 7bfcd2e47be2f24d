import { ConfigError, build } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';
import '@attnkit/attention';
import '@attnkit/positional';
import '@attnkit/models';

// Issue 16: cross-field checks name the JSON path; a rotary head size that does not match the
// heads fails at build, not at the first forward.
const lm = (positional: object, mixer: object) => ({
  type: 'decoder-lm',
  vocabSize: 16,
  dModel: 8,
  numLayers: 2,
  maxLength: 8,
  positional,
  block: { mixer, feedForward: { type: 'mlp', hiddenDim: 16 } },
});

describe('cross-field checks carry a JSON path', () => {
  it('rotary headDim against the attention head size, at build', async () => {
    await expectNoLeaks(() => {
      const bad = lm({ type: 'rotary', headDim: 8 }, { type: 'mha', numHeads: 2 });
      expect(() => build(bad)).toThrow(ConfigError);
      expect(() => build(bad)).toThrow(
        /^rotary: \$\.positional\.headDim expected the head size of \$\.block\.mixer \(4\), got 8$/,
      );
      const ok = build(lm({ type: 'rotary', headDim: 4 }, { type: 'mha', numHeads: 2 }));
      ok.dispose();
    });
  });

  it('GQA divisibility, nested in a model', async () => {
    await expectNoLeaks(() => {
      const bad = lm({ type: 'learned' }, { type: 'gqa', numHeads: 4, numKvHeads: 3 });
      expect(() => build(bad)).toThrow(
        /^gqa: \$\.block\.mixer\.numKvHeads expected a divisor of numHeads=4, got 3$/,
      );
    });
  });

  it('ViT patch size', async () => {
    await expectNoLeaks(() => {
      expect(() =>
        build({ type: 'patch-embedding', imageSize: 8, patchSize: 3, channels: 1, dModel: 4 }),
      ).toThrow(/^patch-embedding: \$\.patchSize expected a divisor of imageSize=8, got 3$/);
    });
  });
});
