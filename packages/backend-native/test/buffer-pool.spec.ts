// The recycled output buffers: reused only when no tensor and no caller holds them.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { getBufferPoolStats, setBufferPoolLimit } from '../src/index';
import { POOLED_MIN_ELEMENTS } from '../src/buffer-pool';

const N = 4 * POOLED_MIN_ELEMENTS;
const backend = () => tf.backend() as MathBackendCPU;
const storage = (t: tf.Tensor) => backend().data.get(t.dataId).values as Float32Array;
/** A native kernel's output (a pooled buffer): x + x. */
const doubled = (x: tf.Tensor) => tf.add(x, x);

describe('native buffer pool', () => {
  let initial: string;
  const x = () => tf.tensor1d(Float32Array.from({ length: N }, (_, i) => i));
  beforeAll(async () => {
    initial = tf.getBackend();
    await tf.setBackend('native');
  });
  afterEach(() => setBufferPoolLimit(512 * 2 ** 20));
  afterAll(async () => {
    await tf.setBackend(initial);
  });

  it('reuses a disposed output for the next output of its size', () => {
    const a = x();
    const first = doubled(a);
    const buffer = storage(first).buffer;
    first.dispose();
    const before = getBufferPoolStats();
    const second = doubled(a);
    expect(storage(second).buffer).toBe(buffer);
    expect(getBufferPoolStats().reused).toBe(before.reused + 1);
    expect(Array.from(second.dataSync().subarray(0, 3))).toEqual([0, 2, 4]);
    tf.dispose([a, second]);
  });

  it('never reuses an array handed out by dataSync or data', async () => {
    const a = x();
    const viaSync = doubled(a);
    const viaAsync = doubled(a);
    const kept = viaSync.dataSync();
    const keptAsync = (await viaAsync.data()) as Float32Array;
    tf.dispose([viaSync, viaAsync]);
    const later = Array.from({ length: 4 }, () => tf.mul(a, 5));
    expect(kept[1]).toBe(2);
    expect(keptAsync[N - 1]).toBe(2 * (N - 1));
    for (const t of later) expect(storage(t)).not.toBe(kept);
    tf.dispose([a, ...later]);
  });

  it('keeps a buffer while another tensor holds a view of it', () => {
    const a = x();
    const whole = doubled(a);
    const half = storage(whole).subarray(0, N / 2);
    const info = backend().makeTensorInfo([N / 2], 'float32', half);
    const view = tf.engine().makeTensorFromTensorInfo(info);
    whole.dispose();
    const later = Array.from({ length: 4 }, () => tf.mul(a, 7));
    expect(Array.from(view.dataSync().subarray(0, 3))).toEqual([0, 2, 4]);
    expect(later.every((t) => storage(t).buffer !== half.buffer)).toBe(true);
    tf.dispose([a, view, ...later]);
  });

  it('never takes arrays the caller passed in', () => {
    const mine = new Float32Array(N).fill(3);
    const t = tf.tensor1d(mine);
    t.dispose();
    const later = doubled(tf.ones([N]));
    expect(storage(later)).not.toBe(mine);
    expect(mine[0]).toBe(3);
    later.dispose();
  });

  it('holds at most its limit, drops the oldest first, and reports itself in tf.memory()', () => {
    const a = x();
    setBufferPoolLimit(2 * N * 4);
    tf.dispose([doubled(a), doubled(a), doubled(a)]);
    expect(getBufferPoolStats().idleBytes).toBe(2 * N * 4);
    expect((tf.memory() as { bufferPool?: unknown }).bufferPool).toEqual(getBufferPoolStats());
    setBufferPoolLimit(0);
    expect(getBufferPoolStats().idleBytes).toBe(0);
    const before = getBufferPoolStats();
    tf.dispose(doubled(a));
    tf.dispose(doubled(a));
    expect(getBufferPoolStats().reused).toBe(before.reused);
    a.dispose();
  });

  it('refuses a bad limit with a RangeError naming it', () => {
    expect(() => setBufferPoolLimit(-1)).toThrow(/setBufferPoolLimit: .*>= 0, got -1/);
    expect(() => setBufferPoolLimit(1.5)).toThrow(RangeError);
  });

  it('keeps training results identical with and without reuse', () => {
    const run = () =>
      tf.tidy(() => {
        const w = tf.variable(tf.randomNormal([64, 96], 0, 1, 'float32', 3));
        const input = tf.randomNormal([32, 64], 0, 1, 'float32', 4);
        const opt = tf.train.sgd(0.1);
        for (let i = 0; i < 5; i++) {
          opt.minimize(() => tf.sum(tf.square(tf.matMul(input, w))) as tf.Scalar);
        }
        const out = Array.from(w.dataSync());
        w.dispose();
        opt.dispose();
        return out;
      });
    setBufferPoolLimit(0);
    const fresh = run();
    setBufferPoolLimit(512 * 2 ** 20);
    run();
    expect(run()).toEqual(fresh);
  });
});
