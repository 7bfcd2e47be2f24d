// The kernels this backend registers under attnkit's names are exactly @attnkit/kernels'
// contract, so the library's ops find them (and no reserved name is taken before it is built).
import * as tf from '@tensorflow/tfjs-core';
import * as kernels from '@attnkit/kernels';
import { BACKEND_NAME, nativeKernelNames } from '../src/index';
import * as native from '../src/index';
import { inBinary } from '../src/backend';
import './helpers';

const ours = (names: string[]) => names.filter((n) => n.startsWith('Attnkit')).sort();

describe("the native backend's kernel contract", () => {
  it("registers exactly the contract's kernel names, with the fused attention gradient", () => {
    const registered = tf.getKernelsForBackend(BACKEND_NAME).map((k) => k.kernelName);
    expect(ours(registered)).toEqual([...kernels.KERNEL_NAMES].sort());
    expect(ours(nativeKernelNames())).toEqual([...kernels.KERNEL_NAMES].sort());
    for (const name of kernels.RESERVED_KERNEL_NAMES) {
      expect(tf.getKernel(name, BACKEND_NAME)).toBeUndefined();
    }
    expect(tf.getGradient(kernels.FUSED_ATTENTION)).toBeDefined();
  });

  it('leaves a kernel unregistered when the loaded binary predates it (the op goes composite)', () => {
    const stale = { attentionForward: () => undefined } as unknown as Parameters<
      typeof inBinary
    >[0];
    for (const name of [
      kernels.CHUNKED_LINEAR_ATTENTION,
      kernels.LINEAR_SCAN_GRAD,
      kernels.SELECTIVE_SCAN,
    ]) {
      expect(inBinary(stale, name)).toBe(false);
    }
    expect(inBinary(stale, kernels.FUSED_ATTENTION)).toBe(true);
  });

  it('re-exports the contract names it used to declare itself', () => {
    expect(native.FUSED_ATTENTION).toBe(kernels.FUSED_ATTENTION);
    expect(native.FUSED_ATTENTION_GRAD).toBe(kernels.FUSED_ATTENTION_GRAD);
    expect(native.ADAMW).toBe(kernels.ADAMW);
  });

  it('offers the fused decoder protocol on its backend object', async () => {
    const initial = tf.getBackend();
    await tf.setBackend(BACKEND_NAME);
    const backend: kernels.FusedDecoderBackend = tf.backend() as native.NativeBackend;
    expect(typeof backend.createFusedDecoder).toBe('function');
    await tf.setBackend(initial);
  });
});
