import * as tf from '@tensorflow/tfjs-core';
import { causalMask } from '@attnkit/core';
import { selectionPenalty } from '@attnkit/attention';
import { expectClose, expectNoLeaks } from '@attnkit/core/testing';

describe('selectionPenalty (selective attention)', () => {
  const logits = tf.tensor3d([
    [
      [1, 9, 9, 9],
      [2, 3, 9, 9],
      [-1, 4, 5, 9],
      [6, -2, 7, 8],
    ],
  ]);
  const keep = tf.reshape(causalMask(4, 4), [1, 1, 4, 4]);
  const positions = [0, 1, 2, 3];

  it('accumulates ReLU(logits) of strictly earlier queries, sparing the first token and self', () => {
    // S: row 1 selects key... only keys 1..i-1 count: S[2,1]=4, S[3,1]=0 (ReLU(-2)), S[3,2]=7.
    const { penalty, total } = selectionPenalty(logits, positions, positions, keep);
    expectClose(penalty, [
      [
        [
          [0, 0, 0, 0],
          [0, 0, 0, 0],
          [0, 0, 0, 0],
          [0, 4, 0, 0],
        ],
      ],
    ]);
    expectClose(total, [[0, 4, 7, 0]]);
  });

  it('run in two calls with the carried total equals one call', () => {
    const first = selectionPenalty(
      tf.slice(logits, [0, 0, 0], [-1, 2, 2]) as tf.Tensor3D,
      [0, 1],
      [0, 1],
      tf.slice(keep, [0, 0, 0, 0], [-1, -1, 2, 2]),
    );
    const second = selectionPenalty(
      tf.slice(logits, [0, 2, 0], [-1, 2, -1]) as tf.Tensor3D,
      [2, 3],
      positions,
      tf.slice(keep, [0, 0, 2, 0], [-1, -1, 2, -1]),
      first.total,
    );
    const whole = selectionPenalty(logits, positions, positions, keep);
    expectClose(second.penalty, tf.slice(whole.penalty, [0, 0, 2, 0], [-1, -1, 2, -1]));
    expectClose(second.total, whole.total);
  });

  it('passes gradients to the selecting logits and leaks nothing', async () => {
    await expectNoLeaks(() => {
      const g = tf.grad((l: tf.Tensor) =>
        tf.sum(selectionPenalty(l as tf.Tensor3D, positions, positions, keep).penalty),
      )(logits);
      // Only S[2,1] > 0 reaches a later row: d/dlogits[2,1] = 1 (one later query).
      expectClose(g, [
        [
          [0, 0, 0, 0],
          [0, 0, 0, 0],
          [0, 1, 0, 0],
          [0, 0, 0, 0],
        ],
      ]);
      g.dispose();
    });
  });

  it('rejects mismatched positions and a too-long initial total', () => {
    expect(() => selectionPenalty(logits, [0, 1], positions)).toThrow(
      'selectionPenalty: positions expected 4 query and 4 key positions, got 2 and 4',
    );
    expect(() =>
      selectionPenalty(logits, positions, positions, undefined, tf.zeros([1, 5]) as tf.Tensor2D),
    ).toThrow('selectionPenalty: initial expected shape [1,<=4], got shape [1,5]');
  });
});
