// Smoke test for the packed @attnkit/attention, run once through import and once through require.
module.exports = async function smoke(attn, tf, { load }) {
  const core = await load('@attnkit/core');
  const { expectNoLeaks, maxAbsDiff } = await load('@attnkit/core/testing');
  const fail = (what) => {
    throw new Error(`attention smoke: ${what}`);
  };
  // importing the package registers its mixers with core's registry
  for (const type of [
    'mha',
    'gqa',
    'mqa',
    'sliding-window',
    'streaming',
    'cross-attention',
    'multi-token',
    'selective',
    'gaam',
    'talking-heads',
    'differential',
  ]) {
    if (!core.isRegistered(type)) fail(`'${type}' not registered`);
  }
  await expectNoLeaks(() => {
    // the chunked online-softmax form equals the naive one
    const [q, k, v] = [1, 2, 3].map((s) => tf.randomNormal([1, 4, 9, 8], 0, 1, 'float32', s));
    const kv2 = tf.slice(k, [0, 0, 0, 0], [-1, 2, -1, -1]);
    const vv2 = tf.slice(v, [0, 0, 0, 0], [-1, 2, -1, -1]);
    const naive = attn.scaledDotProductAttention(q, kv2, vv2, { causal: true }).output;
    const chunked = attn.scaledDotProductAttention(q, kv2, vv2, { causal: true, chunkSize: 4 });
    if (maxAbsDiff(naive, chunked.output) > 1e-5) fail('chunked != naive');
    // a mixer from JSON decodes token by token like its full causal forward
    const m = core.build({ type: 'differential', dModel: 16, numHeads: 2, layerIndex: 1 });
    const x = tf.randomNormal([2, 3, 16], 0, 1, 'float32', 4);
    const full = m.forward(x);
    const state = m.initState(2);
    const tokens = tf.split(x, 3, 1);
    const steps = tokens.map((token) => m.forward(token, { state }));
    const stepwise = tf.concat(steps, 1);
    if (maxAbsDiff(full, stepwise) > 1e-4) fail('cached decoding != full forward');
    state.dispose();
    // gradients reach the λ reparameterisation
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(m.forward(x))));
    if (!grads[m.lambdaQ1.name]) fail('no gradient for lambdaQ1');
    tf.dispose([
      q,
      k,
      v,
      kv2,
      vv2,
      naive,
      chunked.output,
      x,
      full,
      tokens,
      steps,
      stepwise,
      value,
      grads,
    ]);
    m.dispose();
  });
};
