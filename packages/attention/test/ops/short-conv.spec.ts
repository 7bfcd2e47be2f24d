import * as tf from '@tensorflow/tfjs-core';
import { causalConv1d } from '@attnkit/attention';
import { expectClose, expectNoLeaks, finiteDifferenceCheck } from '@attnkit/core/testing';

const normal = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const along = (x: tf.Tensor, start: number, size: number) =>
  tf.slice(x, [0, start, 0], [-1, size, -1]) as tf.Tensor3D;

describe('causalConv1d', () => {
  it('equals K shifted multiply-adds under tfjs autodiff: outputs, state and every gradient', () => {
    tf.tidy(() => {
      const inputs = [
        normal([2, 6, 3], 1),
        normal([3, 4], 2),
        normal([3], 3),
        normal([2, 3, 3], 4),
      ];
      const probe = normal([2, 6, 3], 5);
      const reference = (x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor, past: tf.Tensor) => {
        const padded = tf.concat([past, x], 1);
        const taps = [0, 1, 2, 3].map((j) =>
          tf.mul(
            tf.slice(padded, [0, j, 0], [-1, 6, -1]),
            tf.squeeze(tf.slice(w, [0, j], [-1, 1]), [1]),
          ),
        );
        return { output: tf.add(tf.addN(taps), bias), state: tf.slice(padded, [0, 6, 0]) };
      };
      const ours = (x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor, past: tf.Tensor) =>
        causalConv1d(x as tf.Tensor3D, w as tf.Tensor2D, {
          bias: bias as tf.Tensor1D,
          initialState: past as tf.Tensor3D,
        });
      const loss =
        (f: typeof reference) =>
        (...xs: tf.Tensor[]) => {
          const r = f(xs[0]!, xs[1]!, xs[2]!, xs[3]!);
          return tf.add(tf.sum(tf.mul(r.output, probe)), tf.sum(tf.mul(r.state, 0.5)));
        };
      const want = reference(...(inputs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]));
      const got = ours(...(inputs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]));
      expectClose(got.output, want.output);
      expectClose(got.state, want.state);
      const wantGrads = tf.grads(loss(reference))(inputs);
      tf.grads(loss(ours))(inputs).forEach((g, i) => expectClose(g, wantGrads[i]!));
    });
  });

  it('a kernel of 1 is a per-channel scale with an empty state, and its gradient', () => {
    tf.tidy(() => {
      const x = normal([2, 3, 2], 4) as tf.Tensor3D;
      const { output, state } = causalConv1d(x, tf.tensor2d([[2], [-1]]), { activation: 'relu' });
      expectClose(output, tf.relu(tf.mul(x, tf.tensor1d([2, -1]))));
      expect(state.shape).toEqual([2, 0, 2]);
      const w = tf.tensor2d([[2], [-1]]);
      const [dx, dw] = tf.grads((a, b) =>
        tf.sum(causalConv1d(a as tf.Tensor3D, b as tf.Tensor2D).output),
      )([x, w]);
      expectClose(dx!, tf.broadcastTo(tf.tensor1d([2, -1]), [2, 3, 2]));
      expectClose(dw!, tf.reshape(tf.sum(x, [0, 1]), [2, 1]));
    });
  });

  for (const kernel of [2, 4]) {
    it(`kernel ${kernel}: two calls threading the state (the first one token long), and one token at a time, equal one call`, () => {
      tf.tidy(() => {
        const x = normal([2, 7, 3], 5) as tf.Tensor3D;
        const w = normal([3, kernel], 6) as tf.Tensor2D;
        const options = { bias: normal([3], 7) as tf.Tensor1D, activation: 'silu' };
        const whole = causalConv1d(x, w, options);
        const first = causalConv1d(along(x, 0, 1), w, options);
        const second = causalConv1d(along(x, 1, 6), w, { ...options, initialState: first.state });
        expectClose(tf.concat([first.output, second.output], 1), whole.output);
        expectClose(second.state, whole.state);
        let state: tf.Tensor3D | undefined;
        const steps: tf.Tensor[] = [];
        for (let t = 0; t < 7; t++) {
          const r = causalConv1d(along(x, t, 1), w, { ...options, initialState: state });
          steps.push(r.output);
          state = r.state;
        }
        expectClose(tf.concat(steps, 1), whole.output);
        expectClose(state!, along(x, 7 - (kernel - 1), kernel - 1));
      });
    });
  }

  it('the state is the last kernel-1 inputs, taken from the initial state when the call is short', () => {
    tf.tidy(() => {
      const past = tf.tensor3d([[[1], [2], [3]]]);
      const { state } = causalConv1d(tf.tensor3d([[[4]]]), tf.ones([1, 4]) as tf.Tensor2D, {
        initialState: past,
      });
      expectClose(state, [[[2], [3], [4]]]);
    });
  });

  it('passes a finite-difference check for x, weight, bias and the initial state', () => {
    const inputs = [
      normal([1, 4, 2], 8),
      normal([2, 3], 9),
      normal([2], 10),
      normal([1, 2, 2], 11),
    ];
    const f = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, s: tf.Tensor) => {
      const r = causalConv1d(x as tf.Tensor3D, w as tf.Tensor2D, {
        bias: b as tf.Tensor1D,
        initialState: s as tf.Tensor3D,
        activation: 'tanh',
      });
      return tf.concat([r.output, r.state], 1);
    };
    expect(finiteDifferenceCheck(f as never, inputs)).toBeLessThan(2e-3);
    tf.dispose(inputs);
  });

  it('leaks nothing forward and backward', async () => {
    const x = normal([2, 5, 3], 12) as tf.Tensor3D;
    const w = normal([3, 4], 13) as tf.Tensor2D;
    const s = normal([2, 3, 3], 14) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const r = causalConv1d(x, w, { initialState: s, activation: 'silu' });
      tf.dispose([r.output, r.state]);
      const grads = tf.grads((a, b, c) => {
        const q = causalConv1d(a as tf.Tensor3D, b as tf.Tensor2D, {
          initialState: c as tf.Tensor3D,
        });
        return tf.add(tf.sum(q.output), tf.sum(q.state));
      })([x, w, s]);
      tf.dispose(grads);
    });
    tf.dispose([x, w, s]);
  });

  it('rejects each bad argument with a typed one-line error', () => {
    const x = tf.zeros([2, 5, 3]) as tf.Tensor3D;
    const w = tf.zeros([3, 4]) as tf.Tensor2D;
    expect(() => causalConv1d(tf.zeros([5, 3]) as never, w)).toThrow(
      'causalConv1d: x expected rank 3, got rank 2 [5,3]',
    );
    expect(() => causalConv1d(tf.zeros([2, 5, 3], 'int32') as tf.Tensor3D, w)).toThrow(
      'causalConv1d: x expected dtype float32, got dtype int32',
    );
    expect(() => causalConv1d(x, tf.zeros([3, 4], 'int32') as tf.Tensor2D)).toThrow(
      'causalConv1d: weight expected dtype float32, got dtype int32',
    );
    expect(() => causalConv1d(x, tf.zeros([4, 3]) as tf.Tensor2D)).toThrow(
      'causalConv1d: weight expected shape [3,kernel >= 1], got shape [4,3]',
    );
    expect(() => causalConv1d(x, w, { bias: tf.zeros([4]) as tf.Tensor1D })).toThrow(
      'causalConv1d: bias expected shape [3], got shape [4]',
    );
    expect(() => causalConv1d(x, w, { initialState: tf.zeros([2, 4, 3]) as tf.Tensor3D })).toThrow(
      'causalConv1d: initialState expected shape [2,3,3], got shape [2,4,3]',
    );
    expect(() => causalConv1d(x, w, { activation: 'swish' })).toThrow(
      /^causalConv1d: activation expected a registered activation \(.*silu.*\), got 'swish'$/,
    );
  });
});
