import * as tf from '@tensorflow/tfjs-core';
import { maxAbsDiff } from '@attnkit/core/testing';
import { CASES, FORMS, caseInputs, runCase } from './linear-helpers';

const TOL = 1e-4;

describe('linearAttention: the three forms agree (outputs, state, gradients)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      tf.tidy(() => {
        const x = caseInputs(c);
        const [ref, ...others] = FORMS.map((form) => runCase(c, x, form));
        expect(ref!.output.shape).toEqual([c.b, c.h, c.t, c.dv]);
        expect(ref!.state.kv.shape).toEqual([c.b, c.h, c.dk, c.dv]);
        expect(ref!.state.kSum === undefined).toBe(!c.normalize);
        for (const other of others) {
          expect(maxAbsDiff(other.output, ref!.output)).toBeLessThanOrEqual(TOL);
          expect(maxAbsDiff(other.state.kv, ref!.state.kv)).toBeLessThanOrEqual(TOL);
          if (c.normalize) {
            expect(maxAbsDiff(other.state.kSum!, ref!.state.kSum!)).toBeLessThanOrEqual(TOL);
          }
          for (const name of Object.keys(x)) {
            const g = other.gradients[name]!;
            expect(g.shape).toEqual(x[name]!.shape);
            expect(maxAbsDiff(g, ref!.gradients[name]!)).toBeLessThanOrEqual(TOL);
          }
        }
        // Gradients are not trivially zero.
        for (const name of Object.keys(x)) {
          expect(tf.max(tf.abs(ref!.gradients[name]!)).dataSync()[0]).toBeGreaterThan(1e-3);
        }
      });
    });
  }
});
