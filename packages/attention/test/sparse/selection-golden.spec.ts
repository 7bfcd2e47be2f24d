import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { build, type Module, type TokenMixer } from '@attnkit/core';
import { expectClose } from '@attnkit/core/testing';
import '@attnkit/attention';
import type { LokiAttention, TopThetaAttention } from '@attnkit/attention';

interface Stored {
  shape: number[];
  data: number[];
}
interface Case {
  name: string;
  config: Record<string, unknown>;
  shape: [number, number, number];
  weights: Record<string, Stored>;
  buffers: Record<string, Stored>;
  x: number[];
  probe: number[];
  y: number[];
  gradX: number[];
}
interface Calibration {
  config: Record<string, unknown>;
  shape: [number, number, number];
  weights: Record<string, Stored>;
  x: number[];
  targetK?: number;
  thresholds?: number[];
  projector?: number[];
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/topk.json'), 'utf8'),
) as { cases: Case[]; calibration: Calibration[] };

const tensors = (stored: Record<string, Stored>) =>
  Object.fromEntries(Object.entries(stored).map(([n, s]) => [n, tf.tensor(s.data, s.shape)]));

/** Builds the case's mixer with the script's weights and buffers; buffers missing keep their init. */
function load<M extends Module & TokenMixer>(
  c: Pick<Case, 'config' | 'weights'> & { buffers?: Record<string, Stored> },
): M {
  const m = build<M>(c.config);
  const state = { ...tensors(c.weights), ...tensors(c.buffers ?? {}) };
  m.loadStateDict(state, { strict: false });
  tf.dispose(Object.values(state));
  return m;
}

describe('score-selection mixers against tools/reference/attention/topk_reference.py', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))(
    '%s: output and input gradient match the PyTorch dense-masked form',
    (_name, c) => {
      const m = load(c);
      tf.tidy(() => {
        const x = tf.tensor3d(c.x, c.shape);
        const probe = tf.tensor3d(c.probe, c.shape);
        expectClose(m.forward(x), tf.tensor3d(c.y, c.shape), { atol: 3e-5, rtol: 1e-4 });
        const g = tf.grad((input: tf.Tensor) =>
          tf.sum(tf.mul(m.forward(input as tf.Tensor3D), probe)),
        )(x);
        expectClose(g, tf.tensor3d(c.gradX, c.shape), { atol: 3e-5, rtol: 1e-4 });
      });
      m.dispose();
    },
  );

  it("top-theta calibrate(x, targetK) gives the script's thresholds", () => {
    const c = fixture.calibration.find((k) => k.config.type === 'top-theta')!;
    const m = load<TopThetaAttention>(c);
    const x = tf.tensor3d(c.x, c.shape);
    m.calibrate(x, c.targetK!);
    expectClose(m.thresholds, tf.tensor(c.thresholds!, m.thresholds.shape), {
      atol: 1e-5,
      rtol: 1e-5,
    });
    x.dispose();
    m.dispose();
  });

  it("loki calibrate(x) spans the script's PCA subspace (projector P Pᵀ)", () => {
    const c = fixture.calibration.find((k) => k.config.type === 'loki')!;
    const m = load<LokiAttention>(c);
    const x = tf.tensor3d(c.x, c.shape);
    m.calibrate(x);
    tf.tidy(() => {
      const p = m.projection;
      const projector = tf.matMul(p, p, false, true);
      expectClose(projector, tf.tensor(c.projector!, projector.shape), { atol: 1e-4 });
    });
    x.dispose();
    m.dispose();
  });
});
