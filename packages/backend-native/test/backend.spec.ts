import * as tf from '@tensorflow/tfjs-core';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '@attnkit/core';
import { spawnSync } from 'node:child_process';
import { NativeUnavailableError, PACKAGE_ROOT, loadAddon } from '../src/addon';
import {
  BACKEND_NAME,
  FUSED_ATTENTION,
  getThreadsCount,
  nativeInfo,
  nativeKernelNames,
  setThreadsCount,
} from '../src/index';
import './helpers';

describe('the native backend', () => {
  it('registers every cpu kernel under native, the native ones replaced', () => {
    expect(tf.findBackendFactory(BACKEND_NAME)).toBeDefined();
    const cpu = tf.getKernelsForBackend('cpu').map((k) => k.kernelName);
    const native = new Set(tf.getKernelsForBackend(BACKEND_NAME).map((k) => k.kernelName));
    for (const name of cpu) expect(native.has(name)).toBe(true);
    for (const name of nativeKernelNames()) {
      expect(native.has(name)).toBe(true);
      const own = tf.getKernel(name, BACKEND_NAME)!.kernelFunc;
      expect(own).not.toBe(tf.getKernel(name, 'cpu')?.kernelFunc);
    }
  });

  it('is what initBackend picks when the package is installed', async () => {
    const initial = tf.getBackend();
    const lines: string[] = [];
    const choice = await initBackend(['native', 'cpu'], { log: (line) => lines.push(line) });
    expect(choice.name).toBe('native');
    expect(tf.getBackend()).toBe('native');
    expect(lines).toEqual(["attnkit: using backend 'native' (tfjs 'native')"]);
    await tf.setBackend(initial);
  });

  it('reports its micro-kernel and thread count, and resizes its pool', () => {
    const info = nativeInfo();
    expect(info.gemm).toMatch(/avx512|avx2|neon|portable/);
    expect(info.threads).toBeGreaterThanOrEqual(1);
    const before = getThreadsCount();
    setThreadsCount(1);
    expect(getThreadsCount()).toBe(1);
    setThreadsCount(before);
    expect(getThreadsCount()).toBe(before);
    expect(() => setThreadsCount(0)).toThrow(RangeError);
    expect(() => setThreadsCount(1.5)).toThrow(RangeError);
  });

  it('gives the same results with one thread', async () => {
    const before = getThreadsCount();
    const initial = tf.getBackend();
    await tf.setBackend('native');
    const a = tf.randomUniform([400, 300], -1, 1, 'float32', 1);
    const b = tf.randomUniform([300, 250], -1, 1, 'float32', 2);
    // A matmul, and the attention gradient (whose key/value sums are split across tasks).
    const q = tf.randomUniform([1, 4, 100, 16], -1, 1, 'float32', 3);
    const k = tf.randomUniform([1, 1, 100, 16], -1, 1, 'float32', 4);
    const attrs = {
      scale: 0.25,
      causal: true,
      window: 0,
      queryPositions: [...Array(100).keys()],
      keyPositions: [...Array(100).keys()],
    };
    const run = () =>
      tf.tidy(() => {
        const loss = (x: tf.Tensor, y: tf.Tensor) => {
          const [out] = tf
            .engine()
            .runKernel(FUSED_ATTENTION, { q: x, k: y, v: y }, attrs) as tf.Tensor[];
          return tf.sum(tf.square(out!));
        };
        return [tf.matMul(a, b), ...tf.grads(loss)([q, k])].map((t) => Array.from(t.dataSync()));
      });
    const many = run();
    setThreadsCount(1);
    const one = run();
    setThreadsCount(before);
    expect(one).toEqual(many);
    tf.dispose([a, b, q, k]);
    await tf.setBackend(initial);
  });

  it.each(['generic', 'avx2', 'avx512'])(
    'the %s micro-kernel (forced) computes the same products',
    (isa) => {
      // A child process: the micro-kernel is picked once per process, at first use.
      const script = `
        const addon = require('node-gyp-build')(${JSON.stringify(PACKAGE_ROOT)});
        const info = addon.info();
        let worst = 0;
        for (const [m, n, k, ta, tb] of [[1, 1, 1, 0, 0], [13, 33, 7, 0, 1], [50, 70, 300, 1, 0], [200, 130, 90, 1, 1]]) {
          const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
          const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
          const c = new Float32Array(m * n);
          addon.matmul(a, b, c, 1, m, n, k, !!ta, !!tb, new Int32Array(1), new Int32Array(1));
          for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < k; p++) s += a[ta ? p * m + i : i * k + p] * b[tb ? j * k + p : p * n + j];
            worst = Math.max(worst, Math.abs(s - c[i * n + j]));
          }
        }
        console.log(JSON.stringify({ gemm: info.gemm, worst }));`;
      const run = spawnSync(process.execPath, ['-e', script], {
        env: { ...process.env, ATTNKIT_NATIVE_ISA: isa },
        encoding: 'utf8',
      });
      expect(run.status).toBe(0);
      const { gemm, worst } = JSON.parse(run.stdout.trim().split('\n').pop()!);
      // A CPU without the instructions gets the next kernel down, never a crash.
      if (isa === 'generic') expect(gemm).toMatch(/portable/);
      expect(worst).toBeLessThan(1e-3);
    },
  );

  it('refuses bad calls into the addon with errors instead of crashing', () => {
    // Messages, not classes: N-API errors come from Node's realm, not jest's sandbox.
    const addon = loadAddon();
    const f = (n: number) => new Float32Array(n);
    const z = new Int32Array(1);
    const shape = Int32Array.from([2, 3]);
    const dense = Int32Array.from([3, 1]);
    const pos = Int32Array.from([0, 1, 2]);
    const dims = Int32Array.from([1, 2, 1, 3, 3, 4, 4, 1, 0]);
    // Row-mask mode: 2 heads of 3 packed rows; q, out and lse sized for `rows` rows a head.
    const rowMode = (rows: number, index: number[], fullRows: number) => () =>
      addon.attentionForward(
        f(8 * rows),
        f(12),
        f(12),
        pos,
        pos,
        f(8 * rows),
        f(2 * rows),
        dims,
        0.5,
        Int32Array.from(index),
        fullRows,
      );
    const cases: Array<[() => void, RegExp]> = [
      [() => addon.matmul(f(3), f(4), f(4), 1, 2, 2, 2, false, false, z, z), /past the end of a/],
      [() => addon.matmul(f(4), f(4), f(1), 1, 2, 2, 2, false, false, z, z), /holds 1 elements/],
      [() => addon.matmul(f(4), f(4), f(4), 1, 2, 2, 2, false, false, Int32Array.of(1), z), /past/],
      [() => addon.matmul(f(4), f(4), f(4), -1, 2, 2, 2, false, false, z, z), /must be an integer/],
      [
        () =>
          addon.matmul(z as unknown as Float32Array, f(4), f(4), 1, 1, 1, 1, false, false, z, z),
        /must be a Float32Array/,
      ],
      [() => (addon.matmul as unknown as () => void)(), /expected 11 arguments/],
      [() => addon.binary(0, f(5), f(6), f(6), shape, dense, dense), /holds 5 elements, needs 6/],
      [() => addon.binary(99, f(6), f(6), f(6), shape, dense, dense), /integer in \[0, 6\]/],
      [() => addon.unary(0, f(6), f(5)), /holds 5 elements, needs 6/],
      [() => addon.softmax(f(5), f(6), 2, 3), /holds 5 elements, needs 6/],
      [() => addon.reduce(0, f(6), f(1), 2, 3, 1), /holds 1 elements, needs 2/],
      [() => addon.copy(f(6), f(6), shape, dense, dense, 1, 0), /holds 6 elements, needs 7/],
      [() => addon.copy(f(6), new Uint8Array(6), shape, dense, dense, 0, 0), /element size/],
      [
        () => addon.attentionForward(f(24), f(12), f(12), pos, pos, f(24), f(5), dims, 0.5),
        /holds 5 elements, needs 6/,
      ],
      [
        () =>
          addon.attentionForward(
            f(24),
            f(12),
            f(12),
            pos,
            pos,
            f(24),
            f(6),
            Int32Array.from([1, 3, 2, 3, 3, 4, 4, 1, 0]),
            0.5,
          ),
        /multiple of kvHeads/,
      ],
      [rowMode(4, [0, 1, 4, 0, -1, -1], 4), /row outside \[-1, fullRows\)/],
      [rowMode(3, [0, 1, 2, 0, 1, 2], 2), /at least the packed rows/],
      [rowMode(3, [0, 1, 2, 0, 1, 2], 4), /holds 24 elements, needs 32/],
    ];
    for (const [call, message] of cases) expect(call).toThrow(message);
  });

  it('throws NativeUnavailableError with one line naming the platform when no binary loads', () => {
    const empty = path.join(os.tmpdir(), 'attnkit-native-missing');
    expect(() => loadAddon(empty)).toThrow(NativeUnavailableError);
    try {
      loadAddon(empty);
    } catch (error) {
      expect((error as Error).message).toMatch(new RegExp(`${process.platform}-${process.arch}`));
      expect((error as Error).message).not.toMatch(/\n/);
    }
  });
});
