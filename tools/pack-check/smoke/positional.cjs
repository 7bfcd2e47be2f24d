// Smoke test for the packed @attnkit/positional, run once through import and once through require.
module.exports = async function smoke(pos, tf, { load }) {
  const core = await load('@attnkit/core');
  const { expectNoLeaks } = await load('@attnkit/core/testing');
  const fail = (what) => {
    throw new Error(`positional smoke: ${what}`);
  };
  // importing the package registers its encodings with core's registry
  for (const type of ['sinusoidal', 'learned', 'rotary', 'alibi', 't5-relative', 'bam', 'nope']) {
    if (!core.isRegistered(type)) fail(`'${type}' not registered`);
  }
  const slopes = pos.alibiSlopes(8);
  if (slopes.length !== 8 || slopes[0] !== 0.5) fail(`alibiSlopes(8) gave ${slopes}`);
  await expectNoLeaks(() => {
    const rope = core.build({ type: 'rotary', headDim: 4, layout: 'interleaved' });
    const x = tf.ones([1, 1, 2, 4]);
    const steps = tf.tensor1d([0, 1], 'int32');
    const y = rope.rotate(x, steps);
    const norm = tf.tidy(() => tf.norm(y).dataSync()[0]);
    if (Math.abs(norm - Math.sqrt(8)) > 1e-5) fail(`rotary changed the norm: ${norm}`);
    const t5 = core.build({ type: 't5-relative', numHeads: 2 });
    const p = tf.tensor1d([0, 1, 2], 'int32');
    // gradients reach the learned bias table
    const { value, grads } = tf.variableGrads(() => tf.sum(t5.bias(p, p, 2)));
    if (grads[t5.weight.name].shape[0] !== 32) fail('t5-relative gradient shape');
    const pe = pos.sinusoidalEmbedding([0, 1], 4);
    if (pe.dataSync()[1] !== 1) fail('sinusoidal cos(0) != 1');
    tf.dispose([x, steps, y, p, value, grads, pe]);
    t5.dispose();
    rope.dispose();
  });
};
