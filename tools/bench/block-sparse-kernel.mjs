// Block-sparse attention, forward + backward, at T = 2048, d = 64, 4 heads, batch 1, block 64,
// 4 key blocks per query block (the own block and 3 random earlier ones, causal):
// backend-native's BLOCK_SPARSE_ATTENTION kernel (and its gradient kernel) against the
// composite of @attnkit/attention's blockSparseAttention (gathers + masked softmax), run on
// native (its C++ matmul) and on cpu. Median of 5 timed runs after 2 warm-ups; each run reads
// the gradients back. `npm run build && node tools/bench/block-sparse-kernel.mjs [--quick] [--no-cpu]`
import * as tf from '@tensorflow/tfjs-core';
import '@attnkit/core'; // registers tfjs' gradients
import { blockSparseAttention } from '@attnkit/attention';
import { BLOCK_SPARSE_ATTENTION, nativeInfo } from '@attnkit/backend-native';

const quick = process.argv.includes('--quick');
const [B, H, T, D, BLOCK, K_PER_BLOCK] = [1, 4, quick ? 512 : 2048, 64, 64, 4];
const REPEATS = quick ? 3 : 5;

/** The own block, then K_PER_BLOCK - 1 random earlier blocks (-1 while there are none). */
function selection() {
  const nqb = T / BLOCK;
  let s = 7;
  const next = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const values = [];
  for (let r = 0; r < B * H * nqb; r++) {
    const qb = r % nqb;
    values.push(qb);
    for (let j = 1; j < K_PER_BLOCK; j++) values.push(qb > 0 ? Math.floor(next() * qb) : -1);
  }
  return tf.tensor4d(values, [B, H, nqb, K_PER_BLOCK], 'int32');
}

function step() {
  return tf.tidy(() => {
    const q = tf.randomUniform([B, H, T, D], -1, 1, 'float32', 1);
    const k = tf.randomUniform([B, H, T, D], -1, 1, 'float32', 2);
    const v = tf.randomUniform([B, H, T, D], -1, 1, 'float32', 3);
    const w = tf.randomUniform([B, H, T, D], -1, 1, 'float32', 5);
    const selected = selection();
    const loss = (q, k, v) =>
      tf.sum(
        tf.mul(
          blockSparseAttention(q, k, v, { blockSize: BLOCK, selected, causal: true }).output,
          w,
        ),
      );
    return tf.grads(loss)([q, k, v]);
  });
}

async function time() {
  const run = async () => {
    const grads = step();
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

/** Runs f with the kernel unregistered on native, so blockSparseAttention takes its composite. */
async function withoutKernel(f) {
  const config = tf.getKernel(BLOCK_SPARSE_ATTENTION, 'native');
  tf.unregisterKernel(BLOCK_SPARSE_ATTENTION, 'native');
  try {
    return await f();
  } finally {
    tf.registerKernel(config);
  }
}

const { gemm, threads } = nativeInfo();
console.log(
  `block-sparse attention fwd+bwd, B=${B} H=${H} T=${T} d=${D} block=${BLOCK} kPerBlock=${K_PER_BLOCK} causal; native: ${threads} threads, ${gemm}`,
);
const fmt = (ms) => `${ms.toFixed(1)} ms`;
await tf.setBackend('native');
const kernel = await time();
console.log(`kernel ${fmt(kernel)}`);
const nativeComposite = await withoutKernel(() => time());
console.log(
  `composite on native ${fmt(nativeComposite)} (${(nativeComposite / kernel).toFixed(1)}x the kernel)`,
);
if (!process.argv.includes('--no-cpu')) {
  await tf.setBackend('cpu');
  tf.backend().firstUse = false; // no 'install tfjs-node' banner
  const cpuComposite = await time();
  console.log(
    `composite on cpu ${fmt(cpuComposite)} (${(cpuComposite / kernel).toFixed(1)}x the kernel)`,
  );
}
