import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, registerNormalizer } from '@attnkit/core';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';
import { scaledDotProductAttention } from '@attnkit/attention';
import { makeMixer, mixerContract, randomInput, type Mixer } from '../helpers';

/** Sparsemax of one row by sorting (Martins & Astudillo 2016, Algorithm 1), in plain numbers. */
function sparsemaxRow(z: number[]): number[] {
  const sorted = [...z].sort((a, b) => b - a);
  let sum = 0;
  let k = 0;
  let support = 0;
  for (const value of sorted) {
    k++;
    sum += value;
    if (1 + k * value > sum) support = k;
  }
  const tau = (sorted.slice(0, support).reduce((a, b) => a + b, 0) - 1) / support;
  return z.map((v) => Math.max(v - tau, 0));
}

// One head, causal: q, k [3, 2], v [3, 2]; logits spread enough that sparsemax drops a visible key.
const Q = [
  [1, 0],
  [2, 1],
  [0.5, -2],
];
const K = [
  [1, 2],
  [-1, 0.5],
  [2, 0],
];
const V = [
  [1, -1],
  [0, 2],
  [3, 1],
];

function handSparsemaxAttention(scale: number): { weights: number[][]; output: number[][] } {
  const weights = Q.map((q, i) => {
    const visible = K.slice(0, i + 1).map((k) => scale * (q[0]! * k[0]! + q[1]! * k[1]!));
    const p = sparsemaxRow(visible);
    return K.map((_, j) => (j <= i ? p[j]! : 0));
  });
  const output = weights.map((w) =>
    [0, 1].map((d) => w.reduce((a, wj, j) => a + wj * V[j]![d]!, 0)),
  );
  return { weights, output };
}

const t4 = (rows: number[][]) => tf.tensor4d([[rows]]);

describe("scaledDotProductAttention's normalizer option", () => {
  it('sparsemax equals the hand computation; rows sum to 1 with exact zeros, masked keys 0', () => {
    const scale = 1.5;
    const want = handSparsemaxAttention(scale);
    const { output, weights } = scaledDotProductAttention(t4(Q), t4(K), t4(V), {
      causal: true,
      scale,
      normalizer: 'sparsemax',
      returnWeights: true,
    });
    expectClose(weights!, [[want.weights]], { atol: 1e-6 });
    expectClose(output, [[want.output]], { atol: 1e-5 });
    const rows = weights!.arraySync()[0]![0]!;
    for (const [i, row] of rows.entries()) {
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      for (let j = i + 1; j < row.length; j++) expect(row[j]).toBe(0);
    }
    // the third query drops a key it may see: sparse, not just masked
    expect(rows[2]!.slice(0, 3).filter((w) => w === 0).length).toBeGreaterThan(0);
    expect(want.weights[2]!.filter((w) => w === 0).length).toBeGreaterThan(0);
  });

  it('softmax by name is the default form exactly', () => {
    const q = tf.reshape(randomInput(5, 1, 8), [2, 1, 5, 8]) as tf.Tensor4D;
    const k = tf.reshape(randomInput(5, 2, 8), [2, 1, 5, 8]) as tf.Tensor4D;
    const plain = scaledDotProductAttention(q, k, k, { causal: true }).output;
    const named = scaledDotProductAttention(q, k, k, {
      causal: true,
      normalizer: 'softmax',
    }).output;
    expect(tf.max(tf.abs(tf.sub(plain, named))).dataSync()[0]).toBe(0);
  });

  it("gives masked keys exactly 0 weight whatever a user's normaliser returns", () => {
    registerNormalizer('normalizer-spec-uniform', (x) =>
      tf.div(tf.onesLike(x), x.shape[x.rank - 1]!),
    );
    const { weights } = scaledDotProductAttention(t4(Q), t4(K), t4(V), {
      causal: true,
      normalizer: 'normalizer-spec-uniform',
      returnWeights: true,
    });
    expectClose(weights!, [
      [
        [
          [1 / 3, 0, 0],
          [1 / 3, 1 / 3, 0],
          [1 / 3, 1 / 3, 1 / 3],
        ],
      ],
    ]);
    expect(weights!.arraySync()[0]![0]![0]![1]).toBe(0);
  });

  it('refuses another normaliser with the chunked form or a sink logit, and an unknown name', () => {
    const run = (options: object) => () =>
      scaledDotProductAttention(t4(Q), t4(K), t4(V), { causal: true, ...options });
    expect(run({ normalizer: 'sparsemax', chunkSize: 2 })).toThrow(ConfigError);
    expect(run({ normalizer: 'sparsemax', chunkSize: 2 })).toThrow(
      "scaledDotProductAttention: chunkSize expected unset with normalizer 'sparsemax' (only softmax has it), got 2",
    );
    expect(run({ normalizer: 'entmax15', sinkLogit: 0.5 })).toThrow(
      /sinkLogit expected unset with normalizer 'entmax15'/,
    );
    expect(run({ normalizer: 'sparsmax' })).toThrow(
      /normalizer expected a registered normalizer \(softmax, sparsemax, entmax15.*\), got 'sparsmax'/,
    );
    expect(run({ normalizer: 'softmax', chunkSize: 2, sinkLogit: 0.5 })).not.toThrow();
  });

  it('skips a fused kernel the backend registers (it computes softmax only)', () => {
    const name = 'AttnkitFusedAttention';
    const backendName = tf.getBackend();
    if (tf.getKernel(name, backendName)) return; // a real one: nothing to fake here
    tf.registerKernel({
      kernelName: name,
      backendName,
      kernelFunc: () => {
        throw new Error('fused kernel called');
      },
    });
    try {
      const run = (normalizer: string) => () =>
        scaledDotProductAttention(t4(Q), t4(K), t4(V), { causal: true, normalizer });
      expect(run('softmax')).toThrow('fused kernel called');
      expect(run('sparsemax')).not.toThrow();
    } finally {
      tf.unregisterKernel(name, backendName);
    }
  });
});

describe('attention mixers with a normaliser by name', () => {
  it('mha with sparsemax hands the hook rows that sum to 1 with exact zeros', () => {
    const m = makeMixer({ type: 'mha', normalizer: 'sparsemax' });
    perturbQueries(m);
    const seen: number[][][][][] = [];
    tf.tidy(() => {
      m.forward(randomInput(6, 4), {
        attentionHook: ({ weights }) => seen.push(weights.arraySync() as number[][][][]),
      });
    });
    const [w] = seen;
    let zerosInView = 0;
    for (const batch of w!) {
      for (const head of batch) {
        for (const [i, row] of head.entries()) {
          expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
          for (let j = i + 1; j < row.length; j++) expect(row[j]).toBe(0);
          zerosInView += row.slice(0, i + 1).filter((x) => x === 0).length;
        }
      }
    }
    expect(zerosInView).toBeGreaterThan(0);
    m.dispose();
  });

  it('differs from softmax attention with the same weights', () => {
    const soft = makeMixer({ type: 'mha' });
    const sparse = makeMixer({ type: 'mha', normalizer: 'sparsemax' });
    const x = randomInput(5, 2);
    const gap = tf.tidy(
      () => tf.max(tf.abs(tf.sub(soft.forward(x), sparse.forward(x)))).dataSync()[0]!,
    );
    expect(gap).toBeGreaterThan(1e-3);
    tf.dispose(x);
    soft.dispose();
    sparse.dispose();
  });

  it('refuses chunkSize, sinkLogit and unknown names at construction, leaking nothing', async () => {
    await expectNoLeaks(() => {
      expect(() => makeMixer({ type: 'mha', normalizer: 'sparsemax', chunkSize: 2 })).toThrow(
        "mha: chunkSize expected unset with normalizer 'sparsemax' (only softmax has it), got 2",
      );
      expect(() =>
        makeMixer({ type: 'gqa', numKvHeads: 2, normalizer: 'entmax15', sinkLogit: true }),
      ).toThrow(
        "gqa: sinkLogit expected unset with normalizer 'entmax15' (only softmax has it), got true",
      );
      expect(() => makeMixer({ type: 'mha', normalizer: 'nope' })).toThrow(
        /^mha: normalizer expected a registered normalizer \(softmax, sparsemax, entmax15.*\), got 'nope'$/,
      );
      expect(() => makeMixer({ type: 'mha', normalizer: 3 })).toThrow(
        /mha: \$\.normalizer expected string/,
      );
    });
  });

  describe('contract: shapes, causality, cached == full decoding, gradients, leaks', () => {
    mixerContract({ type: 'mha', normalizer: 'sparsemax' });
    mixerContract({ type: 'gqa', numKvHeads: 2, normalizer: 'entmax15' });
    mixerContract({ type: 'sliding-window', window: 3, normalizer: 'sparsemax' });
  });
});

/** Scales the query projection up so sparsemax drops some keys (small logits keep them all). */
function perturbQueries(m: Mixer): void {
  const q = m.namedParameters().get('q.weight')!;
  const next = tf.mul(q, 8);
  q.assign(next);
  next.dispose();
}
