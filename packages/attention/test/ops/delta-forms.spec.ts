import * as tf from '@tensorflow/tfjs-core';
import { maxAbsDiff } from '@attnkit/core/testing';
import { DELTA_CASES, deltaInputs, runDelta } from './delta-helpers';

const TOL = 1e-4;

describe('deltaRule: chunk and recurrent forms agree (outputs, state, gradients)', () => {
  for (const c of DELTA_CASES) {
    it(c.name, () => {
      tf.tidy(() => {
        const x = deltaInputs(c);
        const ref = runDelta(c, x, 'recurrent');
        const chunk = runDelta(c, x, 'chunk');
        expect(ref.output.shape).toEqual([c.b, c.h, c.t, c.dv]);
        expect(ref.state.shape).toEqual([c.b, c.h, c.dk, c.dv]);
        expect(maxAbsDiff(chunk.output, ref.output)).toBeLessThanOrEqual(TOL);
        expect(maxAbsDiff(chunk.state, ref.state)).toBeLessThanOrEqual(TOL);
        for (const name of Object.keys(x)) {
          const g = chunk.gradients[name]!;
          expect(g.shape).toEqual(x[name]!.shape);
          expect(maxAbsDiff(g, ref.gradients[name]!)).toBeLessThanOrEqual(TOL);
          // Not trivially zero.
          expect(tf.max(tf.abs(ref.gradients[name]!)).dataSync()[0]).toBeGreaterThan(1e-3);
        }
      });
    });
  }
});
