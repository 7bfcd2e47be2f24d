import * as tf from '@tensorflow/tfjs-core';
import { scaledDotProductAttention, type AttentionOptions } from '@attnkit/attention';
import { expectClose } from '@attnkit/core/testing';

// Fixture: tools/reference/attention/sdpa_reference.py (PyTorch).
interface Case {
  name: string;
  qShape: number[];
  kShape: number[];
  vShape: number[];
  causal?: boolean;
  window?: number;
  sinkTokens?: number;
  softcap?: number;
  mask?: number[];
  sink?: number[];
  [key: string]: unknown;
}
const cases: Case[] = require('./fixtures/sdpa.json');
const tol = { atol: 3e-5, rtol: 1e-4 };

describe('scaledDotProductAttention against PyTorch', () => {
  for (const c of cases) {
    for (const chunkSize of [undefined, 2]) {
      it(`${c.name}${chunkSize ? ' (chunked)' : ''}`, () => {
        const t = (key: string, shape: number[]) => tf.tensor(c[key] as number[], shape);
        const [q, k, v] = [t('q', c.qShape), t('k', c.kShape), t('v', c.vShape)] as tf.Tensor4D[];
        const tq = c.qShape[2]!;
        const options: AttentionOptions = {
          causal: c.causal,
          window: c.window,
          sinkTokens: c.sinkTokens,
          logitSoftcap: c.softcap,
          chunkSize,
        };
        if (c.mask) options.mask = tf.tensor(c.mask, [tq, c.kShape[2]!], 'bool');
        const sink = c.sink ? tf.tensor1d(c.sink) : undefined;
        const probe = t('probe', [c.qShape[0]!, c.qShape[1]!, tq, c.vShape[3]!]);
        const run = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, ss?: tf.Tensor) =>
          scaledDotProductAttention(qq as tf.Tensor4D, kk as tf.Tensor4D, vv as tf.Tensor4D, {
            ...options,
            sinkLogit: ss,
          }).output;
        expectClose(run(q!, k!, v!, sink), t('output', probe.shape), tol);
        const inputs = sink ? [q!, k!, v!, sink] : [q!, k!, v!];
        const grads = tf.grads((...xs: tf.Tensor[]) =>
          tf.sum(tf.mul(run(xs[0]!, xs[1]!, xs[2]!, xs[3]), probe)),
        )(inputs);
        expectClose(grads[0]!, t('grad_q', c.qShape), tol);
        expectClose(grads[1]!, t('grad_k', c.kShape), tol);
        expectClose(grads[2]!, t('grad_v', c.vShape), tol);
        if (sink) expectClose(grads[3]!, c.grad_sink as number[], tol);
      });
    }
  }
});
