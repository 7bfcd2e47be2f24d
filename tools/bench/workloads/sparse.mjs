// Block-sparse attention against dense attention (issue 14), forward+backward, causal, batch 1,
// 4 heads, d = 64: `blockSparseAttention` (each query block attends to its own block and the
// three before it: 4 blocks of 64 keys, whatever T) against `scaledDotProductAttention` (naive;
// on native the fused kernel) and its chunked form, for T = 512 … 16384; then, at T = 4096, the
// block-sparse op as the density (kept key blocks / all key blocks) grows from one block to
// all of them. PyTorch runs dense attention of the same shape (torch/attention.py): the ratio
// says how far each row is from what a PyTorch user would write without sparsity.
import * as tf from '@tensorflow/tfjs-core';
import { importPackage, requireExports } from '../lib/packages.mjs';
import { settle } from '../lib/measure.mjs';
import { outputOf } from './sdpa.mjs';

const HEADS = 4;
const BLOCKS_PER_QUERY = 4;

function sizes(quick) {
  return quick
    ? { d: 16, block: 32, lengths: [128, 256], densityT: 256 }
    : { d: 64, block: 64, lengths: [512, 1024, 2048, 4096, 8192, 16384], densityT: 4096 };
}

export default {
  name: 'sparse',
  title: `block-sparse vs dense attention, batch 1, ${HEADS} heads, d=64 (quick: 16), causal, forward+backward`,
  async load() {
    const core = await importPackage('core');
    if (!core.mod) return core;
    const r = await importPackage('attention');
    if (r.error) return r;
    if (r.skip) return { skip: r.skip };
    const missing = requireExports(r.mod, 'attention', [
      'scaledDotProductAttention',
      'blockSparseAttention',
    ]).skip;
    return missing ? { skip: missing } : { api: r.mod };
  },
  cases({ quick }) {
    const { d, block, lengths, densityT } = sizes(quick);
    const torch = (T) => ({
      kind: 'sdpa',
      batch: 1,
      heads: HEADS,
      T,
      d,
      causal: true,
      backward: true,
    });
    const out = [];
    const rows = [
      { op: 'dense', label: 'dense (native: fused)', growth: 2 },
      { op: 'dense-chunked', label: 'dense chunk=128', growth: 2 },
      { op: 'block', label: `block-sparse ${BLOCKS_PER_QUERY}×${block}`, growth: 1 },
    ];
    for (const r of rows) {
      for (const T of lengths) {
        out.push({
          id: `sparse-${r.op}-${T}`,
          label: `${r.label} T=${T}`,
          series: `sparse-${r.op}`,
          x: T,
          growth: r.growth,
          params: { op: r.op, T, d, block, kept: BLOCKS_PER_QUERY },
          torch: torch(T),
        });
      }
    }
    const numBlocks = densityT / block;
    for (let kept = 1; kept <= numBlocks; kept *= 2) {
      out.push({
        id: `sparse-density-${kept}`,
        label: `block-sparse T=${densityT}, ${kept}/${numBlocks} blocks`,
        series: 'sparse-density',
        x: kept / numBlocks,
        growth: 1,
        params: { op: 'block', T: densityT, d, block, kept, spread: true },
        torch: torch(densityT),
      });
    }
    return out;
  },
  async prepare(_ctx, api, c) {
    const { op, T, d, block, kept, spread } = c.params;
    const shape = [1, HEADS, T, d];
    const [q, k, v] = [1, 2, 3].map((seed) => tf.randomNormal(shape, 0, 1, 'float32', seed));
    const selected = op === 'block' ? selection(T / block, kept, spread) : null;
    const attend = {
      dense: (q, k, v) => outputOf(api.scaledDotProductAttention(q, k, v, { causal: true })),
      'dense-chunked': (q, k, v) =>
        outputOf(api.scaledDotProductAttention(q, k, v, { causal: true, chunkSize: 128 })),
      block: (q, k, v) =>
        api.blockSparseAttention(q, k, v, { blockSize: block, selected, causal: true }).output,
    }[op];
    return {
      step: () => settle(tf.grads(attend)([q, k, v])),
      dispose: () => tf.dispose([q, k, v, ...(selected ? [selected] : [])]),
    };
  },
};

/**
 * int32 [1, heads, numBlocks, kept]: query block i keeps itself and the kept-1 blocks before it
 * (sliding), or with `spread` itself and earlier blocks spread evenly over the prefix (the
 * density sweep: every kept block is a real, visible one); -1 where there are fewer.
 */
function selection(numBlocks, kept, spread) {
  const rows = [];
  for (let i = 0; i < numBlocks; i++) {
    const row = [i];
    for (let j = 1; j < kept; j++) {
      const back = spread ? Math.floor((j * (i + 1)) / kept) : j;
      row.push(i - back >= 0 && !row.includes(i - back) ? i - back : -1);
    }
    rows.push(row);
  }
  const flat = Array.from({ length: HEADS }, () => rows.flat()).flat();
  return tf.tensor4d(flat, [1, HEADS, numBlocks, kept], 'int32');
}
