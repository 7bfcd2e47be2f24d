// Smoke test for the packed @attnkit/routing, run once through import and once through require.
module.exports = async function smoke(routing, tf, { load }) {
  const core = await load('@attnkit/core');
  const { expectNoLeaks } = await load('@attnkit/core/testing');
  const fail = (what) => {
    throw new Error(`routing smoke: ${what}`);
  };
  // importing the package registers its blocks with core's registry
  for (const type of [
    'moe',
    'topk-router',
    'noisy-topk-router',
    'expert-choice-router',
    'similarity-router',
    'dense-router',
    'moh',
    'mixture-of-attention-heads',
    'moa',
    'mosa',
  ]) {
    if (!core.isRegistered(type)) fail(`'${type}' not registered`);
  }
  for (const name of ['moe-lm-tiny', 'moh-lm-tiny', 'moh-vit-tiny']) {
    if (!routing.routingPresets[name]) fail(`${name} preset missing`);
  }
  await expectNoLeaks(() => {
    const moe = core.build({
      type: 'moe',
      dim: 8,
      numExperts: 4,
      topK: 2,
      numSharedExperts: 1,
      expert: { type: 'swiglu', hiddenDim: 8 },
      capacityFactor: 1,
    });
    const x = tf.randomNormal([2, 3, 8]);
    const aux = new core.AuxLosses();
    const y = moe.forward(x, { aux });
    if (y.shape.join() !== '2,3,8') fail(`moe output shape ${y.shape}`);
    if (moe.lastStats.load.length !== 4) fail('moe stats missing');
    if (!('moe.load_balance' in aux.values())) fail('load-balance loss not collected');
    const { value, grads } = tf.variableGrads(() => tf.sum(moe.forward(x)));
    if (!grads[moe.router.gate.weight.name]) fail('no gradient reaches the router');
    tf.dispose([x, y, value, grads]);
    aux.dispose();
    moe.dispose();
  });
  await expectNoLeaks(() => {
    const mha = core.build({ type: 'mha', dModel: 8, numHeads: 4 });
    const moh = routing.mohFromMHA(mha, { numSharedHeads: 1, topK: 2 });
    const x = tf.randomNormal([2, 3, 8]);
    const same = tf.tidy(
      () => tf.max(tf.abs(tf.sub(moh.forward(x), mha.forward(x)))).dataSync()[0],
    );
    if (!(same <= 1e-5)) fail(`moh from mha differs from mha by ${same}`);
    const routed = core.build({ type: 'moh', dModel: 8, numHeads: 4, numSharedHeads: 1, topK: 2 });
    const aux = new core.AuxLosses();
    const y = routed.forward(x, { aux });
    if (y.shape.join() !== '2,3,8') fail(`moh output shape ${y.shape}`);
    if (!('moh.load_balance' in aux.values())) fail('moh load-balance loss not collected');
    if (routed.lastStats.headLoad[0] !== 6) fail('moh shared head load');
    tf.dispose([x, y]);
    aux.dispose();
    [mha, moh, routed].forEach((m) => m.dispose());
  });
};
