import * as tf from '@tensorflow/tfjs-core';
import { linearAttention, type LinearAttentionOptions } from '@attnkit/attention';
import { ConfigError, ShapeError } from '@attnkit/core';

const [B, H, T, DK, DV] = [1, 2, 3, 4, 5];
// Built lazily, after the test backend is set up.
const q = () => tf.zeros([B, H, T, DK]) as tf.Tensor4D;
const k = q;
const v = () => tf.zeros([B, H, T, DV]) as tf.Tensor4D;
const kv = () => tf.zeros([B, H, DK, DV]) as tf.Tensor4D;
const kSum = () => tf.zeros([B, H, DK]) as tf.Tensor3D;

type Call = [string, () => unknown, typeof ShapeError | typeof ConfigError, RegExp];
const opts = (o: () => Record<string, unknown>) => () =>
  linearAttention(q(), k(), v(), o() as LinearAttentionOptions);

const CALLS: Call[] = [
  [
    'q rank',
    () => linearAttention(tf.zeros([H, T, DK]) as never, k(), v()),
    ShapeError,
    /linearAttention: q expected rank 4, got rank 3/,
  ],
  [
    'q dtype',
    () => linearAttention(tf.zeros([B, H, T, DK], 'int32') as never, k(), v()),
    ShapeError,
    /q expected dtype float32/,
  ],
  [
    'q empty',
    () => linearAttention(tf.zeros([B, H, 0, DK]) as never, k(), v()),
    ShapeError,
    /q expected at least one token and one feature, got shape \[1,2,0,4\]/,
  ],
  [
    'k time',
    () => linearAttention(q(), tf.zeros([B, H, T + 1, DK]) as never, v()),
    ShapeError,
    /k expected shape \[1,2,3,4\]/,
  ],
  [
    'k dk',
    () => linearAttention(q(), tf.zeros([B, H, T, DK + 1]) as never, v()),
    ShapeError,
    /k expected shape \[1,2,3,4\]/,
  ],
  [
    'v batch',
    () => linearAttention(q(), k(), tf.zeros([2, H, T, DV]) as never),
    ShapeError,
    /v expected shape \[1,2,3,\*\]/,
  ],
  [
    'v heads',
    () => linearAttention(q(), k(), tf.zeros([B, 3, T, DV]) as never),
    ShapeError,
    /v expected shape/,
  ],
  ['form', opts(() => ({ form: 'fused' })), ConfigError, /form expected one of/],
  [
    'chunkSize zero',
    opts(() => ({ chunkSize: 0 })),
    ConfigError,
    /chunkSize expected an integer >= 1, got 0/,
  ],
  [
    'chunkSize fraction',
    opts(() => ({ chunkSize: 2.5 })),
    ConfigError,
    /chunkSize expected an integer >= 1/,
  ],
  ['scale', opts(() => ({ scale: NaN })), ConfigError, /scale expected a finite number/],
  ['eps', opts(() => ({ eps: -1 })), ConfigError, /eps expected a finite number >= 0/],
  ['causal', opts(() => ({ causal: 'yes' })), ConfigError, /causal expected a boolean/],
  [
    'recurrent bidirectional',
    opts(() => ({ causal: false, form: 'recurrent' })),
    ConfigError,
    /form expected 'parallel' or 'chunk' with causal: false/,
  ],
  [
    'state bidirectional',
    opts(() => ({ causal: false, initialState: { kv: kv() } })),
    ConfigError,
    /initialState expected none with causal: false/,
  ],
  [
    'decay bidirectional',
    opts(() => ({ causal: false, decay: 0.9 })),
    ConfigError,
    /decay expected none with causal: false/,
  ],
  [
    'decay zero',
    opts(() => ({ decay: 0 })),
    ConfigError,
    /decay expected a number in \(0, 1\], got 0/,
  ],
  [
    'decay above one',
    opts(() => ({ decay: 1.5 })),
    ConfigError,
    /decay expected a number in \(0, 1\]/,
  ],
  [
    'decay per head count',
    opts(() => ({ decay: [0.9] })),
    ConfigError,
    /decay expected 2 per-head values, got 1 values/,
  ],
  [
    'decay per head value',
    opts(() => ({ decay: [0.9, -0.1] })),
    ConfigError,
    /decay expected values in \(0, 1\], got -0.1/,
  ],
  [
    'decay tensor shape',
    opts(() => ({ decay: tf.ones([3]) })),
    ShapeError,
    /decay expected shape \[2\]/,
  ],
  [
    'decay tensor value',
    opts(() => ({ decay: tf.tensor1d([0.5, 1.2]) })),
    ConfigError,
    /decay expected values in \(0, 1\], got range/,
  ],
  [
    'gate shape',
    opts(() => ({ gate: tf.zeros([B, H, T, 1]) })),
    ShapeError,
    /gate expected shape \[1,2,3\]/,
  ],
  [
    'gate sign',
    opts(() => ({ gate: tf.fill([B, H, T], 0.1) })),
    ConfigError,
    /gate expected log decays <= 0 \(finite\), got max 0.1/,
  ],
  [
    'gate NaN',
    opts(() => ({ gate: tf.fill([B, H, T], NaN) })),
    ConfigError,
    /gate expected log decays <= 0/,
  ],
  [
    'state missing kv',
    opts(() => ({ initialState: {} })),
    ShapeError,
    /initialState expected \{ kv, kSum\? \}/,
  ],
  [
    'state kv shape',
    opts(() => ({ initialState: { kv: tf.zeros([B, H, DV, DK]) } })),
    ShapeError,
    /initialState.kv expected shape \[1,2,4,5\]/,
  ],
  [
    'state kSum missing',
    opts(() => ({ normalize: true, initialState: { kv: kv() } })),
    ShapeError,
    /initialState.kSum expected shape \[1,2,4\] with normalize, got none/,
  ],
  [
    'state kSum unexpected',
    opts(() => ({ initialState: { kv: kv(), kSum: kSum() } })),
    ConfigError,
    /initialState.kSum expected none without normalize/,
  ],
  [
    'state kSum shape',
    opts(() => ({ normalize: true, initialState: { kv: kv(), kSum: tf.zeros([B, H, DK + 1]) } })),
    ShapeError,
    /initialState.kSum expected shape \[1,2,4\]/,
  ],
];

describe('linearAttention: bad input', () => {
  for (const [name, call, Kind, message] of CALLS) {
    it(`${name}: ${Kind.name}`, () => {
      expect(call).toThrow(Kind);
      expect(call).toThrow(message);
    });
  }

  it('checkValues: false skips reading back the gate sign (the caller vouches for it)', () => {
    const out = linearAttention(q(), k(), v(), {
      gate: tf.fill([B, H, T], 0.1) as tf.Tensor3D,
      checkValues: false,
    });
    expect(out.output.shape).toEqual([B, H, T, DV]);
  });
});
