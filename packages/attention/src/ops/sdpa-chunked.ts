import * as tf from '@tensorflow/tfjs-core';
import { applyMask, softcap, withCustomGradient } from '@attnkit/core';
import type { AttentionOptions, AttentionResult } from './options';
import { repeatKvHeads, structuralMask, type AttentionGeometry } from './validate';
import { sinkAsTensor } from './sink';
import { asRank4, chunks, reduceToShape, sliceBlock } from './slicing';
import { emptyRowsToMinusInfinity } from './sdpa-naive';

/**
 * Memory-efficient attention: the online-softmax recurrence over key chunks
 * (Rabe & Staats 2021, sec. 3; Dao et al. 2022, FlashAttention, Algorithm 1), run per
 * query chunk, so no [tq, tk] matrix is ever built. Its gradient recomputes each block's
 * probabilities from the saved row log-sum-exp (FlashAttention backward, Algorithm 4)
 * instead of storing them. Peak memory is O(chunk² + t·d) per head instead of O(t²).
 * With `returnLogSumExp` the op's value is [output | lse] on the last axis (tf.customGrad has
 * one output), and the lse cotangent g enters the backward as D - g: ∂lse/∂s_ij = p_ij.
 */
export function attentionChunked(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  options: AttentionOptions,
  geometry: AttentionGeometry,
): AttentionResult {
  const size = options.chunkSize!;
  const { heads, scale, queryPositions, keyPositions } = geometry;
  const cap = options.logitSoftcap;
  const userMask = options.mask ? asRank4(options.mask) : undefined;
  const rowChunks = chunks(geometry.queryLength, size);
  const colChunks = chunks(geometry.keyLength, size);
  const skip = maskedBlocks(options, queryPositions, keyPositions);

  /** Logits of one block (softcapped, biased, masked) and the pre-softcap scores. */
  const blockLogits = (
    qi: tf.Tensor,
    kj: tf.Tensor,
    bias: tf.Tensor4D | undefined,
    r: [number, number],
    c: [number, number],
  ) => {
    const raw = tf.mul(tf.matMul(qi, kj, false, true), scale);
    let logits: tf.Tensor = cap === undefined ? raw : softcap(raw, cap);
    if (bias) logits = tf.add(logits, sliceBlock(bias, r[0], r[1], c[0], c[1]));
    let keep = structuralMask(
      options,
      queryPositions.slice(r[0], r[1]),
      keyPositions.slice(c[0], c[1]),
      options.querySegments &&
        (tf.slice(options.querySegments, [0, r[0]], [-1, r[1] - r[0]]) as tf.Tensor2D),
      (options.keySegments ?? options.querySegments) &&
        (tf.slice(
          options.keySegments ?? options.querySegments!,
          [0, c[0]],
          [-1, c[1] - c[0]],
        ) as tf.Tensor2D),
    );
    if (userMask) {
      const block = sliceBlock(userMask, r[0], r[1], c[0], c[1]);
      if (block.dtype === 'bool') keep = keep ? tf.logicalAnd(keep, block) : block;
      else logits = tf.add(logits, block);
    }
    if (keep) logits = applyMask(logits, keep);
    return { raw, logits };
  };

  const hasBias = options.bias !== undefined;
  const hasSink = options.sinkLogit !== undefined;
  const packed = options.returnLogSumExp === true;
  const op = withCustomGradient<[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]>(
    (qIn, kIn, vIn, biasIn, sinkIn, save) => {
      const bias = hasBias ? (biasIn as tf.Tensor4D) : undefined;
      const outs: tf.Tensor[] = [];
      const lses: tf.Tensor[] = [];
      for (const r of rowChunks) {
        const [o, l] = tf.tidy(() => {
          const qi = tf.slice(qIn, [0, 0, r[0], 0], [-1, -1, r[1] - r[0], -1]);
          let max: tf.Tensor = hasSink
            ? tf.broadcastTo(sinkIn, [...qi.shape.slice(0, 3), 1])
            : tf.fill([...qi.shape.slice(0, 3), 1], -Infinity);
          let denom: tf.Tensor = hasSink ? tf.onesLike(max) : tf.zerosLike(max);
          let acc: tf.Tensor = tf.zeros([...qi.shape.slice(0, 3), vIn.shape[3]!]);
          for (const c of colChunks) {
            if (skip(r, c)) continue;
            const next = tf.tidy(() => {
              const kj = tf.slice(kIn, [0, 0, c[0], 0], [-1, -1, c[1] - c[0], -1]);
              const vj = tf.slice(vIn, [0, 0, c[0], 0], [-1, -1, c[1] - c[0], -1]);
              const { logits } = blockLogits(qi, kj, bias, r, c);
              const newMax = tf.maximum(max, tf.max(logits, -1, true));
              const correction = tf.exp(tf.sub(max, newMax));
              const p = tf.exp(tf.sub(logits, newMax));
              return [
                newMax,
                tf.add(tf.mul(denom, correction), tf.sum(p, -1, true)),
                tf.add(tf.mul(acc, correction), tf.matMul(p, vj)),
              ];
            });
            tf.dispose([max, denom, acc]);
            [max, denom, acc] = next as [tf.Tensor, tf.Tensor, tf.Tensor];
          }
          return [tf.div(acc, denom), tf.add(max, tf.log(denom))];
        });
        outs.push(o);
        lses.push(l);
      }
      const output = outs.length === 1 ? outs[0]! : tf.concat(outs, 2);
      const lse = lses.length === 1 ? lses[0]! : tf.concat(lses, 2);
      if (outs.length > 1) tf.dispose([...outs, ...lses]);
      save([qIn, kIn, vIn, biasIn, sinkIn, output, lse]);
      return {
        value: packed ? tf.concat([output, lse], -1) : output,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(dy, saved),
      };
    },
  );

  const backward = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
    const dv = saved[2]!.shape[3]!;
    const dOut = packed ? tf.slice(dy, [0, 0, 0, 0], [-1, -1, -1, dv]) : dy;
    const dLse = packed ? tf.slice(dy, [0, 0, 0, dv], [-1, -1, -1, 1]) : undefined;
    const [qIn, kIn, vIn, biasIn, sinkIn, output, lse] = saved as [
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    const bias = hasBias ? biasIn : undefined;
    const dQ: tf.Tensor[] = [];
    const dK: tf.Tensor[] = colChunks.map(([a, b]) =>
      tf.zeros([...kIn.shape.slice(0, 2), b - a, kIn.shape[3]]),
    );
    const dV: tf.Tensor[] = colChunks.map(([a, b]) =>
      tf.zeros([...vIn.shape.slice(0, 2), b - a, vIn.shape[3]]),
    );
    const dBiasRows: tf.Tensor[] = [];
    let dSink: tf.Tensor = tf.zeros([1, heads, 1, 1]);
    for (const r of rowChunks) {
      const rows = r[1] - r[0];
      const [qi, doi, li, di] = tf.tidy(() => {
        const doRows = tf.slice(dOut, [0, 0, r[0], 0], [-1, -1, rows, -1]);
        const oRows = tf.slice(output, [0, 0, r[0], 0], [-1, -1, rows, -1]);
        return [
          tf.slice(qIn, [0, 0, r[0], 0], [-1, -1, rows, -1]),
          doRows,
          tf.slice(lse, [0, 0, r[0], 0], [-1, -1, rows, -1]),
          // D = rowsum(dO ⊙ O), less the lse cotangent when the lse is an output too.
          dLse
            ? tf.sub(
                tf.sum(tf.mul(doRows, oRows), -1, true),
                tf.slice(dLse, [0, 0, r[0], 0], [-1, -1, rows, -1]),
              )
            : tf.sum(tf.mul(doRows, oRows), -1, true),
        ];
      }) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      let dqi: tf.Tensor = tf.zerosLike(qi);
      const biasCols: tf.Tensor[] = [];
      const biasShape = (c: [number, number]) => [
        bias!.shape[0],
        bias!.shape[1],
        bias!.shape[2] === 1 ? 1 : rows,
        bias!.shape[3] === 1 ? 1 : c[1] - c[0],
      ];
      colChunks.forEach((c, j) => {
        if (skip(r, c)) {
          // Every weight of the block is 0: nothing to add, a zero bias gradient.
          if (bias) biasCols.push(tf.zeros(biasShape(c)));
          return;
        }
        // One block at a time: its [rows, cols] temporaries are freed before the next.
        const block = tf.tidy(() => {
          const kj = tf.slice(kIn, [0, 0, c[0], 0], [-1, -1, c[1] - c[0], -1]);
          const vj = tf.slice(vIn, [0, 0, c[0], 0], [-1, -1, c[1] - c[0], -1]);
          const { raw, logits } = blockLogits(qi, kj, bias, r, c);
          const p = tf.exp(tf.sub(logits, li));
          const dp = tf.matMul(doi, vj, false, true);
          const ds = tf.mul(p, tf.sub(dp, di));
          // softcap's derivative by hand: this backward recomputes blocks outside the tape.
          const dsRaw =
            cap === undefined ? ds : tf.mul(ds, tf.sub(1, tf.square(tf.tanh(tf.div(raw, cap)))));
          return {
            dq: tf.add(dqi, tf.mul(tf.matMul(dsRaw, kj), scale)),
            dk: tf.add(dK[j]!, tf.mul(tf.matMul(dsRaw, qi, true, false), scale)),
            dv: tf.add(dV[j]!, tf.matMul(p, doi, true, false)),
            dBias: bias ? reduceToShape(ds, biasShape(c)) : undefined,
          };
        });
        tf.dispose([dqi, dK[j]!, dV[j]!]);
        dqi = block.dq;
        dK[j] = block.dk;
        dV[j] = block.dv;
        if (block.dBias) biasCols.push(block.dBias);
      });
      if (hasSink) {
        const nextSink = tf.tidy(() =>
          tf.sub(
            dSink,
            tf.sum(
              tf.mul(tf.exp(tf.sub(tf.broadcastTo(sinkIn, li.shape), li)), di),
              [0, 2, 3],
              true,
            ),
          ),
        );
        dSink.dispose();
        dSink = nextSink;
      }
      if (bias) {
        dBiasRows.push(bias.shape[3] === 1 ? tf.addN(biasCols) : tf.concat(biasCols, 3));
        tf.dispose(biasCols);
      }
      dQ.push(dqi);
      tf.dispose([qi, doi, li, di]);
    }
    const grads = tf.tidy(() => {
      let dBias: tf.Tensor = tf.zerosLike(biasIn);
      if (bias) dBias = bias.shape[2] === 1 ? tf.addN(dBiasRows) : tf.concat(dBiasRows, 2);
      return [
        tf.concat(dQ, 2),
        tf.concat(dK, 2),
        tf.concat(dV, 2),
        tf.reshape(reduceToShape(dBias, biasIn.shape), biasIn.shape),
        tf.reshape(dSink, sinkIn.shape),
      ];
    });
    tf.dispose([...dQ, ...dK, ...dV, ...dBiasRows, dSink]);
    if (packed) tf.dispose([dOut, dLse!]);
    return grads;
  };

  return tf.tidy(() => {
    const keys = repeatKvHeads(k, heads);
    const values = repeatKvHeads(v, heads);
    const bias = options.bias ? asRank4(options.bias) : tf.zeros([1, 1, 1, 1]);
    const sink =
      options.sinkLogit !== undefined
        ? sinkAsTensor(options.sinkLogit, heads)
        : tf.zeros([1, heads, 1, 1]);
    const value = op(q, keys, values, bias, sink);
    if (!packed) return { output: value as tf.Tensor4D };
    const dv = values.shape[3];
    return {
      output: tf.slice(value, [0, 0, 0, 0], [-1, -1, -1, dv]) as tf.Tensor4D,
      logSumExp: emptyRowsToMinusInfinity(
        tf.squeeze(tf.slice(value, [0, 0, 0, dv], [-1, -1, -1, 1]), [3]) as tf.Tensor3D,
      ),
    };
  });
}

/**
 * Which blocks of queries × keys the positions mask entirely (all keys in the future, or
 * all older than the window and no sink), so both passes can skip them as FlashAttention
 * does. Only without a user mask or segments, and only when every query sees some key:
 * a fully masked row is uniform over all keys in the naive form, which skipping would change.
 */
function maskedBlocks(
  options: AttentionOptions,
  queryPositions: number[],
  keyPositions: number[],
): (r: [number, number], c: [number, number]) => boolean {
  const { window, sinkTokens = 0 } = options;
  const causal = options.causal || window !== undefined;
  const visible = (qp: number, kp: number) =>
    kp <= qp && (window === undefined || qp - kp < window || kp < sinkTokens);
  const never = () => false;
  if (!causal || options.mask || options.querySegments || options.keySegments) return never;
  if (!queryPositions.every((qp) => keyPositions.some((kp) => visible(qp, kp)))) return never;
  const range = (list: number[], [a, b]: [number, number]) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = a; i < b; i++) {
      lo = Math.min(lo, list[i]!);
      hi = Math.max(hi, list[i]!);
    }
    return [lo, hi] as const;
  };
  return (r, c) => {
    const [qLo, qHi] = range(queryPositions, r);
    const [kLo, kHi] = range(keyPositions, c);
    const future = kLo > qHi;
    const stale = window !== undefined && kHi <= qLo - window && kLo >= sinkTokens;
    return future || stale;
  };
}
