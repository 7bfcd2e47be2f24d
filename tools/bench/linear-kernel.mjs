// Chunked linear attention, forward + backward, at T = 1024, d = 64, 4 heads, batch 1, chunk 64:
// backend-native's CHUNKED_LINEAR_ATTENTION kernel (and its gradient kernel) against the
// composite 'chunk' form of @attnkit/attention's linearAttention, run on native (its C++ matmul)
// and on cpu. Without and with a scalar gate. Median of 5 timed runs after 2 warm-ups; each run
// reads the gradients back. `npm run build && node tools/bench/linear-kernel.mjs [--quick]`
import * as tf from '@tensorflow/tfjs-core';
import '@attnkit/core'; // registers tfjs' gradients
import { linearAttention } from '@attnkit/attention';
import { CHUNKED_LINEAR_ATTENTION, nativeInfo } from '@attnkit/backend-native';

const quick = process.argv.includes('--quick');
const [B, H, T, D, CHUNK] = [1, 4, quick ? 256 : 1024, 64, 64];
const REPEATS = quick ? 3 : 5;

function step(gated) {
  return tf.tidy(() => {
    const q = tf.randomUniform([B, H, T, D], -1, 1, 'float32', 1);
    const k = tf.randomUniform([B, H, T, D], -1, 1, 'float32', 2);
    const v = tf.randomUniform([B, H, T, D], -1, 1, 'float32', 3);
    const gate = tf.neg(tf.softplus(tf.randomUniform([B, H, T], -4, 0, 'float32', 4)));
    const w = tf.randomUniform([B, H, T, D], -1, 1, 'float32', 5);
    const inputs = gated ? [q, k, v, gate] : [q, k, v];
    const loss = (...x) =>
      tf.sum(
        tf.mul(
          linearAttention(x[0], x[1], x[2], {
            chunkSize: CHUNK,
            scale: 1 / Math.sqrt(D),
            checkValues: false,
            ...(gated ? { gate: x[3] } : {}),
          }).output,
          w,
        ),
      );
    return tf.grads(loss)(inputs);
  });
}

async function time(gated) {
  const run = async () => {
    const grads = step(gated);
    await Promise.all(grads.map((g) => g.data()));
    tf.dispose(grads);
  };
  for (let i = 0; i < 2; i++) await run();
  const times = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Runs f with the kernel unregistered on native, so linearAttention takes its composite. */
async function withoutKernel(f) {
  const config = tf.getKernel(CHUNKED_LINEAR_ATTENTION, 'native');
  tf.unregisterKernel(CHUNKED_LINEAR_ATTENTION, 'native');
  try {
    return await f();
  } finally {
    tf.registerKernel(config);
  }
}

const { gemm, threads } = nativeInfo();
console.log(
  `chunked linear attention fwd+bwd, B=${B} H=${H} T=${T} d=${D} chunk=${CHUNK}; native: ${threads} threads, ${gemm}`,
);
for (const gated of [false, true]) {
  await tf.setBackend('native');
  const kernel = await time(gated);
  const nativeComposite = await withoutKernel(() => time(gated));
  await tf.setBackend('cpu');
  tf.backend().firstUse = false; // no 'install tfjs-node' banner
  const cpuComposite = await time(gated);
  const fmt = (ms) => `${ms.toFixed(1)} ms`;
  console.log(
    `${gated ? 'scalar gate' : 'no decay   '}  kernel ${fmt(kernel)} | composite on native ${fmt(nativeComposite)} (${(nativeComposite / kernel).toFixed(1)}x) | composite on cpu ${fmt(cpuComposite)} (${(cpuComposite / kernel).toFixed(1)}x)`,
  );
}
