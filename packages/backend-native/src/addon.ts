// Loads the compiled addon: a prebuilt binary from prebuilds/<platform>-<arch>/ (shipped in
// the npm tarball) or a local build/Release/ from node-gyp, found by node-gyp-build.
import { createRequire } from 'node:module';
import path from 'node:path';

/** The C++ entry points (csrc/addon.cc). Arrays are written in place; shapes are pre-checked. */
export interface NativeAddon {
  matmul(
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    batch: number,
    m: number,
    n: number,
    k: number,
    transposeA: boolean,
    transposeB: boolean,
    aOffsets: Int32Array,
    bOffsets: Int32Array,
  ): void;
  binary(
    op: number,
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    shape: Int32Array,
    aStrides: Int32Array,
    bStrides: Int32Array,
  ): void;
  unary(op: number, x: Float32Array, out: Float32Array): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  /** int32 Add, Sub (wrapping), Maximum, Minimum with broadcasting strides; false for other ops. */
  binaryI32?(
    op: number,
    a: Int32Array,
    b: Int32Array,
    out: Int32Array,
    shape: Int32Array,
    aStrides: Int32Array,
    bStrides: Int32Array,
  ): boolean;
  /** out[o, i, :] = x[o, indices[i], :] (4- or 1-byte elements; indices in [0, dim)). */
  gatherSlices?(
    x: Float32Array | Int32Array | Uint8Array,
    indices: Int32Array,
    out: Float32Array | Int32Array | Uint8Array,
    outer: number,
    dim: number,
    slice: number,
  ): void;
  /** ScatterNd's sum (out zeroed first); -1, or the first update whose index falls outside. */
  scatterAdd?(
    indices: Int32Array,
    updates: Float32Array,
    out: Float32Array,
    numUpdates: number,
    sliceRank: number,
    sliceSize: number,
    strides: Int32Array,
    slices: number,
  ): number;
  /** Top k of each row, best first; false when x holds a non-finite value (nothing written). */
  topK?(
    x: Float32Array,
    values: Float32Array,
    indices: Int32Array,
    rows: number,
    n: number,
    k: number,
  ): boolean;
  /** NHWC depthwise correlation, stride 1, valid, filter [fh, fw, channels] (absent before 0.x builds). */
  depthwiseConv?(
    x: Float32Array,
    filter: Float32Array,
    out: Float32Array,
    batch: number,
    height: number,
    width: number,
    channels: number,
    fh: number,
    fw: number,
  ): void;
  reduce(
    op: number,
    x: Float32Array,
    out: Float32Array,
    outer: number,
    r: number,
    inner: number,
  ): void;
  copy(
    src: ArrayBufferView,
    dst: ArrayBufferView,
    shape: Int32Array,
    srcStrides: Int32Array,
    dstStrides: Int32Array,
    srcOffset: number,
    dstOffset: number,
  ): void;
  attentionForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    queryPositions: Int32Array,
    keyPositions: Int32Array,
    out: Float32Array,
    lse: Float32Array,
    dims: Int32Array,
    scale: number,
    /** Row-mask mode: each packed row's row in q, out and lse (-1: padding) ... */
    rowIndex?: Int32Array,
    /** ... which hold this many rows per head. */
    fullRows?: number,
  ): void;
  attentionBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    queryPositions: Int32Array,
    keyPositions: Int32Array,
    out: Float32Array,
    lse: Float32Array,
    dout: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    dims: Int32Array,
    scale: number,
    rowIndex?: Int32Array,
    fullRows?: number,
  ): void;
  /** dims [b, h, kvHeads, tq, tk, d, dv, blockSize, kPerBlock, queryOffset, causal]. */
  blockSparseForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    selected: Int32Array,
    out: Float32Array,
    lse: Float32Array,
    dims: Int32Array,
    scale: number,
  ): void;
  blockSparseBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    selected: Int32Array,
    out: Float32Array,
    lse: Float32Array,
    dout: Float32Array,
    dlse: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    dims: Int32Array,
    scale: number,
  ): void;
  /** Inputs q, k, v, g, kv0, z0; outputs out, kv, z; dims [b,h,t,dk,dv,chunk,causal,normalize]. */
  linearAttentionForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    g: Float32Array,
    kv0: Float32Array,
    z0: Float32Array,
    out: Float32Array,
    kv: Float32Array,
    z: Float32Array,
    dims: Int32Array,
    scale: number,
    eps: number,
  ): void;
  linearAttentionBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    g: Float32Array,
    kv0: Float32Array,
    z0: Float32Array,
    dout: Float32Array,
    dkv: Float32Array,
    dz: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    dg: Float32Array,
    dkv0: Float32Array,
    dz0: Float32Array,
    dims: Int32Array,
    scale: number,
    eps: number,
  ): void;
  /** dims [batch, time, channels]. */
  linearScanForward(
    a: Float32Array,
    b: Float32Array,
    h0: Float32Array,
    h: Float32Array,
    last: Float32Array,
    dims: Int32Array,
  ): void;
  linearScanBackward(
    a: Float32Array,
    h0: Float32Array,
    h: Float32Array,
    dh: Float32Array,
    dLast: Float32Array,
    da: Float32Array,
    db: Float32Array,
    dh0: Float32Array,
    dims: Int32Array,
  ): void;
  /** Inputs q, k, v, beta, g, s0; outputs out, state; dims [bh, t, dk, dv, gates, delta]. */
  gatedRecurrenceForward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    beta: Float32Array,
    g: Float32Array,
    s0: Float32Array,
    out: Float32Array,
    state: Float32Array,
    dims: Int32Array,
    scale: number,
  ): void;
  gatedRecurrenceBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    beta: Float32Array,
    g: Float32Array,
    s0: Float32Array,
    dOut: Float32Array,
    dState: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    dBeta: Float32Array,
    dg: Float32Array,
    ds0: Float32Array,
    dims: Int32Array,
    scale: number,
  ): void;
  /** Inputs u, delta, A, B, C, D, h0; outputs y, last; dims [batch, time, E, N]. */
  selectiveScanForward(
    u: Float32Array,
    delta: Float32Array,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    d: Float32Array,
    h0: Float32Array,
    y: Float32Array,
    last: Float32Array,
    dims: Int32Array,
  ): void;
  selectiveScanBackward(
    u: Float32Array,
    delta: Float32Array,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    d: Float32Array,
    h0: Float32Array,
    dy: Float32Array,
    dLast: Float32Array,
    du: Float32Array,
    dDelta: Float32Array,
    da: Float32Array,
    db: Float32Array,
    dc: Float32Array,
    dd: Float32Array,
    dh0: Float32Array,
    dims: Int32Array,
  ): void;
  /** dims [rows, dim]: x, y [rows, dim], weight [dim]. */
  rmsNormForward(
    x: Float32Array,
    weight: Float32Array,
    y: Float32Array,
    dims: Int32Array,
    eps: number,
  ): void;
  rmsNormBackward(
    x: Float32Array,
    weight: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    dWeight: Float32Array,
    dims: Int32Array,
    eps: number,
  ): void;
  layerNormForward(
    x: Float32Array,
    weight: Float32Array,
    bias: Float32Array,
    y: Float32Array,
    dims: Int32Array,
    eps: number,
  ): void;
  layerNormBackward(
    x: Float32Array,
    weight: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    dWeight: Float32Array,
    dBias: Float32Array,
    dims: Int32Array,
    eps: number,
  ): void;
  /** As rmsNormForward of sum = x + residual, sum written too; all but weight [rows, dim]. */
  addRmsNormForward(
    x: Float32Array,
    residual: Float32Array,
    weight: Float32Array,
    sum: Float32Array,
    y: Float32Array,
    dims: Int32Array,
    eps: number,
  ): void;
  /** As rmsNormBackward at sum, dSum added to dx. */
  addRmsNormBackward(
    sum: Float32Array,
    weight: Float32Array,
    dy: Float32Array,
    dSum: Float32Array,
    dx: Float32Array,
    dWeight: Float32Array,
    dims: Int32Array,
    eps: number,
  ): void;
  addLayerNormForward(
    x: Float32Array,
    residual: Float32Array,
    weight: Float32Array,
    bias: Float32Array,
    sum: Float32Array,
    y: Float32Array,
    dims: Int32Array,
    eps: number,
  ): void;
  addLayerNormBackward(
    sum: Float32Array,
    weight: Float32Array,
    dy: Float32Array,
    dSum: Float32Array,
    dx: Float32Array,
    dWeight: Float32Array,
    dBias: Float32Array,
    dims: Int32Array,
    eps: number,
  ): void;
  /** dims [rows, vocab]; labels [rows]; loss, lse [rows]. */
  crossEntropyForward(
    logits: Float32Array,
    labels: Int32Array,
    loss: Float32Array,
    lse: Float32Array,
    dims: Int32Array,
    ignoreIndex: number,
  ): void;
  crossEntropyBackward(
    logits: Float32Array,
    labels: Int32Array,
    dLoss: Float32Array,
    dLogSumExp: Float32Array,
    dLogits: Float32Array,
    dims: Int32Array,
    ignoreIndex: number,
  ): void;
  /** dims [batch·heads, time, headDim, pairs, interleaved 0/1]; sign 1 (forward) or -1. */
  rotaryApply(
    x: Float32Array,
    positions: Float32Array,
    inverseFrequencies: Float32Array,
    y: Float32Array,
    dims: Int32Array,
    sign: number,
  ): void;
  /** activation: 0 silu, 1 gelu, 2 gelu-tanh, 3 relu (@attnkit/kernels' GATED_ACTIVATIONS order). */
  gluForward(
    gate: Float32Array,
    up: Float32Array,
    y: Float32Array,
    n: number,
    activation: number,
  ): void;
  gluBackward(
    gate: Float32Array,
    up: Float32Array,
    dy: Float32Array,
    dGate: Float32Array,
    dUp: Float32Array,
    n: number,
    activation: number,
  ): void;
  adamw(
    p: Float32Array,
    m: Float32Array,
    v: Float32Array,
    g: Float32Array,
    pOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    /** lr, beta1, 1 - beta1, beta2, 1 - beta2, eps, weight decay, c1, c2, gradScale. */
    hyper: Float32Array,
  ): void;
  /** A dense layer's backward, dims [rows, in, out]: dx = dy · Wᵀ, dW = xᵀ · dy. */
  denseBackward(
    x: Float32Array,
    weight: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    dWeight: Float32Array,
    dims: Int32Array,
  ): void;
  /** Σ x², accumulated in double. */
  sumOfSquares(x: Float32Array): number;
  /** One decoding step of a whole decoder (csrc/decoder_napi.cc; layout in src/decoder.ts). */
  decoderStep(
    ints: Int32Array,
    floats: Float32Array,
    weights: (Float32Array | null)[],
    caches: Float32Array[],
    tokens: Int32Array,
    counts: Int32Array,
    firsts: Int32Array,
    logits: Float32Array | null,
  ): void;
  info(): { gemm: string; threads: number };
  setThreads(n: number): void;
}

/** Thrown on import when no binary loads; initBackend reports its message in one line. */
export class NativeUnavailableError extends Error {
  readonly code = 'ATTNKIT_NATIVE_UNAVAILABLE';
}

/** The package root: dist/ or src/ sits one level below it (tsup shims __dirname for ESM). */
export const PACKAGE_ROOT = path.resolve(__dirname, '..');

export function loadAddon(root: string = PACKAGE_ROOT): NativeAddon {
  const require = createRequire(path.join(PACKAGE_ROOT, 'package.json'));
  let load: (dir: string) => unknown;
  try {
    load = require('node-gyp-build') as (dir: string) => unknown;
  } catch (error) {
    throw new NativeUnavailableError(
      `@attnkit/backend-native: node-gyp-build is missing (${(error as Error).message.split('\n')[0]})`,
    );
  }
  try {
    return load(root) as NativeAddon;
  } catch (error) {
    const first = String((error as Error).message ?? error).split('\n')[0];
    throw new NativeUnavailableError(
      `@attnkit/backend-native: no native binary for ${process.platform}-${process.arch} ` +
        `(${first}); build it with \`npm rebuild @attnkit/backend-native\` (needs a C++ compiler)`,
    );
  }
}
