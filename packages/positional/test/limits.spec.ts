import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, build } from '@attnkit/core';
import '@attnkit/positional';

// Issue 16: `build({type: 'rotary', headDim: 1e9})` ran out of heap after half a minute.
describe('positional encodings refuse sizes over the limits before allocating', () => {
  const fast = (f: () => unknown): void => {
    const started = Date.now();
    const before = tf.memory().numTensors;
    expect(f).toThrow(ConfigError);
    expect(Date.now() - started).toBeLessThan(500);
    expect(tf.memory().numTensors).toBe(before);
  };

  it('rotary headDim 1e9: a typed error naming the field, its value and maxBytes', () => {
    fast(() => build({ type: 'rotary', headDim: 1e9 }));
    expect(() => build({ type: 'rotary', headDim: 1e9 })).toThrow(
      /^rotary: \$\.headDim expected at most maxBytes 2147483648 .*got headDim 1000000000 asking for 4000000000 bytes/,
    );
  });

  it('every size field of the tables and weights', () => {
    fast(() => build({ type: 'learned', maxLength: 1e9, dim: 8 }));
    fast(() => build({ type: 'sinusoidal', dim: 2e9 }));
    fast(() => build({ type: 'alibi', numHeads: 2e9 }));
    fast(() => build({ type: 'bam', numHeads: 2e9 }));
    fast(() => build({ type: 't5-relative', numHeads: 1e5, numBuckets: 1e5 }));
    fast(() =>
      build({ type: 'shaw-relative', numHeads: 2, headDim: 1e4, maxRelativePosition: 1e6 }),
    );
  });

  it('the caller can raise the limit', () => {
    expect(() => build({ type: 'learned', maxLength: 64, dim: 8 }, { maxParameters: 100 })).toThrow(
      /\$\.maxLength expected at most maxParameters 100/,
    );
    const ok = build({ type: 'learned', maxLength: 64, dim: 8 }, { maxParameters: 512 });
    expect(ok.numParams()).toBe(512);
    ok.dispose();
  });
});
