// Smoke test for the packed @attnkit/core, run once through import and once through require.
module.exports = async function smoke(core, tf, { load }) {
  const { expectNoLeaks } = await load('@attnkit/core/testing');
  const rng = new core.Rng(7);
  if (!(rng.uniform() >= 0)) throw new Error('Rng broken');
  // gradients must be registered by importing core
  const g = tf.grad((x) => tf.sum(tf.square(x)))(tf.tensor1d([1, 2]));
  if (g.dataSync()[1] !== 4) throw new Error('gradients not registered');
  await expectNoLeaks(() => {
    tf.tidy(() => {
      tf.add(1, 2);
    });
  });
};
