// One training step of a core Linear layer, run by programs that load @attnkit/core before or
// after @tensorflow/tfjs-core (ESM and CJS): gradients must work in either order, with one
// tfjs engine (a second one would fail here with "Cannot read properties of null").
module.exports = async function trainStep(core, tf, label) {
  await tf.setBackend('cpu');
  const layer = new core.Linear({ inFeatures: 4, outFeatures: 3 }, { rng: new core.Rng(3) });
  const x = tf.tensor2d([0.5, -1, 2, 0.25, 1, 0, -0.5, 1.5], [2, 4]);
  const labels = tf.oneHot(tf.tensor1d([2, 0], 'int32'), 3);
  // An int32 mask times float32 logits: tfjs casts through the Tensor class's op handler,
  // which a second copy of tfjs-core leaves null.
  const mask = tf.tensor2d([1, 1, 1, 1, 0, 1], [2, 3], 'int32');
  const loss = () =>
    tf.tidy(() => tf.losses.softmaxCrossEntropy(labels, tf.mul(layer.forward(x), mask)));
  const before = loss().dataSync()[0];
  const optimizer = tf.train.adam(0.1);
  const cost = optimizer.minimize(loss, true, layer.parameters());
  const after = loss().dataSync()[0];
  if (!(Number.isFinite(cost.dataSync()[0]) && after < before)) {
    throw new Error(`${label}: training step did not lower the loss (${before} -> ${after})`);
  }
  console.log(`${label}: loss ${before.toFixed(4)} -> ${after.toFixed(4)}`);
};
