import * as tf from '@tensorflow/tfjs-core';
import {
  RegistryError,
  getNormalizer,
  normalizerNames,
  registerNormalizer,
  sparsemax,
} from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';

describe('normalizer registry', () => {
  it('has the built-ins and finds them by name', () => {
    expect(normalizerNames()).toEqual(expect.arrayContaining(['softmax', 'sparsemax', 'entmax15']));
    const x = tf.tensor1d([0.5, 0.3, -1]);
    expectClose(getNormalizer('sparsemax')(x), sparsemax(x));
    expectClose(getNormalizer('softmax')(x), tf.softmax(x), { atol: 1e-6 });
  });

  it('accepts a user normaliser and refuses duplicates and unknown names', () => {
    registerNormalizer('test-uniform', (t) => tf.div(tf.onesLike(t), t.shape[t.rank - 1]!));
    expectClose(getNormalizer('test-uniform')(tf.zeros([4])), [0.25, 0.25, 0.25, 0.25]);
    expect(() => registerNormalizer('softmax', (t) => t)).toThrow(RegistryError);
    expect(() => getNormalizer('softermax')).toThrow(/one of softmax, sparsemax, entmax15/);
  });
});
