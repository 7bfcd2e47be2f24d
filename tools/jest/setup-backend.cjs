// Picks the tfjs backend for a spec run: ATTNKIT_TEST_BACKEND=cpu (default) or wasm.
const tf = require('@tensorflow/tfjs-core');
// IS_TEST silences tfjs' 'install tfjs-node' banner while the backend loads; it is switched
// off again because it also turns on a kernel leak check that misreads tensors saved for
// custom gradients on wasm as leaks.
tf.env().set('IS_TEST', true);
require('@tensorflow/tfjs-backend-cpu');
tf.env().set('IS_TEST', false);

const wanted = process.env.ATTNKIT_TEST_BACKEND || 'cpu';

beforeAll(async () => {
  if (wanted === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  if (wanted === 'native') require('@attnkit/backend-native');
  tf.env().set('IS_TEST', true);
  const ok = await tf.setBackend(wanted);
  // The cpu backend prints its banner on its first tensor: spend that one while IS_TEST is on.
  if (ok) tf.tensor(0).dispose();
  tf.env().set('IS_TEST', false);
  if (!ok) throw new Error(`test setup: backend '${wanted}' could not be initialised`);
  await tf.ready();
});
