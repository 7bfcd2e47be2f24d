import * as tf from '@tensorflow/tfjs-core';
import { AuxLosses } from '@attnkit/core';
import { expectNoLeaks } from '@attnkit/core/testing';

describe('AuxLosses', () => {
  it('sums weighted losses and reports them per name', async () => {
    await expectNoLeaks(() => {
      const aux = new AuxLosses();
      const empty = aux.total();
      expect(empty.dataSync()[0]).toBe(0);
      empty.dispose();
      aux.add('moe.load_balance', tf.scalar(2), 0.5);
      aux.add('moe.load_balance', tf.scalar(4), 0.5);
      aux.add('moe.z_loss', tf.scalar(3));
      expect(aux.size).toBe(3);
      expect(aux.values()).toEqual({ 'moe.load_balance': 3, 'moe.z_loss': 3 });
      const total = aux.total();
      expect(total.dataSync()[0]).toBeCloseTo(6);
      total.dispose();
      aux.dispose();
      expect(aux.size).toBe(0);
    });
  });

  it('lets gradients flow through the collected losses', async () => {
    const w = tf.variable(tf.scalar(3));
    await expectNoLeaks(() => {
      const { value, grads } = tf.variableGrads(() => {
        const aux = new AuxLosses();
        aux.add('square', tf.square(w) as tf.Scalar, 2);
        return aux.total();
      });
      // d/dw 2·w² = 4w = 12
      expect(grads[w.name]!.dataSync()[0]).toBeCloseTo(12);
      tf.dispose([value, grads]);
    });
    w.dispose();
  });
});
