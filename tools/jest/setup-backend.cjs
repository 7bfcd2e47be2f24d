// Picks the tfjs backend for a spec run: ATTNKIT_TEST_BACKEND=cpu (default) or wasm.
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');

const wanted = process.env.ATTNKIT_TEST_BACKEND || 'cpu';

beforeAll(async () => {
  if (wanted === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  if (wanted === 'native') require('@attnkit/backend-native');
  const ok = await tf.setBackend(wanted);
  if (!ok) throw new Error(`test setup: backend '${wanted}' could not be initialised`);
  await tf.ready();
});
