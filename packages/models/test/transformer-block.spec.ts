import * as tf from '@tensorflow/tfjs-core';
import { Rng, build } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { TransformerBlock } from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';

const base = {
  type: 'transformer-block',
  dModel: 8,
  mixer: { type: 'gqa', numHeads: 2, numKvHeads: 1 },
  feedForward: { type: 'swiglu', hiddenDim: 16 },
};
const make = (extra: object = {}) =>
  build<TransformerBlock>({ ...base, ...extra }, { rng: new Rng(1) });
const x = () =>
  tf.tensor3d(
    Array.from({ length: 2 * 3 * 8 }, (_, i) => Math.sin(i)),
    [2, 3, 8],
  );

describeWithBlocks('TransformerBlock', () => {
  it('pre-norm is x + mixer(norm1(x)), then h + ff(norm2(h))', () => {
    const block = make();
    const input = x();
    const children = block.namedChildren();
    const norm = (n: string, t: tf.Tensor) =>
      (children.get(n) as unknown as { forward(t: tf.Tensor): tf.Tensor3D }).forward(t);
    const h = tf.add(input, block.mixer.forward(norm('norm1', input), { causal: true }));
    const want = tf.add(h, block.feedForward.forward(norm('norm2', h) as tf.Tensor3D));
    expectClose(block.forward(input, { causal: true }), want, { atol: 1e-5 });
    block.dispose();
  });

  it('supports post, sandwich and parallel placements with gradients to every parameter', () => {
    for (const extra of [{ placement: 'post' }, { placement: 'sandwich' }, { parallel: true }]) {
      const block = make(extra);
      const input = x();
      expect(block.forward(input).shape).toEqual([2, 3, 8]);
      const used = [...block.namedParameters()].filter(
        ([n]) => !(extra.parallel && n.startsWith('norm2')),
      );
      const { grads } = tf.variableGrads(
        () => tf.sum(tf.square(block.forward(input))) as tf.Scalar,
        used.map(([, v]) => v),
      );
      for (const [name, v] of used)
        expect([name, tf.sum(tf.abs(grads[v.name]!)).dataSync()[0]! > 0]).toEqual([name, true]);
      tf.dispose(Object.values(grads));
      block.dispose();
    }
  });

  it('leaks nothing through forward, backward and dispose', async () => {
    const input = x();
    await expectNoLeaks(() => {
      const block = make({ dropout: 0.1 });
      tf.tidy(() => {
        block.forward(input, { training: true });
      });
      const g = tf.variableGrads(
        () => tf.sum(block.forward(input)) as tf.Scalar,
        block.parameters(),
      );
      tf.dispose([g.value, ...Object.values(g.grads)]);
      block.dispose();
    });
    input.dispose();
  });

  it('names the bad field in config errors and frees the sublayers built before it', async () => {
    await expectNoLeaks(() => {
      expect(() => make({ placement: 'middle' })).toThrow(/placement/);
      expect(() => make({ colour: 1 })).toThrow(/unknown option 'colour'/);
      expect(() => make({ mixer: { type: 'no-such-mixer' } })).toThrow(/\$\.mixer\.type/);
      // the mixer is built by then
      expect(() => make({ feedForward: { type: 'swiglu', hiddenDim: -1 } })).toThrow(
        /\$\.feedForward\.hiddenDim/,
      );
      expect(() => make({ crossAttention: { type: 'cross-attention', numHeads: 3 } })).toThrow(
        /cross-attention: \$\.crossAttention\.numHeads expected a divisor/,
      );
      expect(() => make({ norm: { type: 'no-such-norm' } })).toThrow(/\$\.norm\.type/);
      // constructed directly, without build's cleanup
      expect(
        () =>
          new TransformerBlock({
            ...base,
            type: 'transformer-block',
            feedForward: { type: 'swiglu', hiddenDim: 0 },
          }),
      ).toThrow(/\$\.feedForward\.hiddenDim/);
    });
  });
});
