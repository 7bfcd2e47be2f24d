// The fused decoder: checks a FusedDecoderSpec, lays it out for csrc/decoder_napi.cc (ints,
// floats, a list of weight arrays read in place) and keeps the KV caches of a session's batch.
import type {
  FusedDecoder,
  FusedDecoderOptions,
  FusedDecoderDense,
  FusedDecoderFeedForward,
  FusedDecoderLayer,
  FusedDecoderMoE,
  FusedDecoderNorm,
  FusedDecoderSpec,
} from '@attnkit/kernels';
import type { NativeAddon } from './addon';

const NAME = 'fused-decoder';

/** Activation names (core's), in the order of DecoderActivation in csrc/decoder.h. */
export const DECODER_ACTIVATIONS = [
  'gelu',
  'gelu-tanh',
  'silu',
  'relu',
  'relu2',
  'sigmoid',
  'tanh',
  'identity',
] as const;

/** Throws `${NAME}: path must be expected, got actual` (a RangeError for sizes and counts). */
function fail(
  path: string,
  expected: string,
  actual: string,
  type: ErrorConstructor = Error,
): never {
  throw new type(`${NAME}: ${path} must be ${expected}, got ${actual}`);
}

function describe(value: unknown): string {
  if (value instanceof Float32Array) return `a Float32Array of ${value.length}`;
  if (value === null || value === undefined) return String(value);
  return typeof value === 'object' ? (value.constructor?.name ?? 'an object') : String(value);
}

function positiveInt(path: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 1)
    fail(path, 'a positive integer', String(value));
  return value as number;
}

function array(path: string, value: unknown, size: number, shape: string): Float32Array {
  if (!(value instanceof Float32Array) || value.length !== size) {
    fail(path, `a Float32Array of ${size} values (${shape})`, describe(value));
  }
  return value;
}

function optional(path: string, value: unknown, size: number, shape: string) {
  return value === undefined || value === null ? null : array(path, value, size, shape);
}

/** The packed model: what decoderStep takes besides the caches, token and position. */
interface Packed {
  ints: Int32Array;
  floats: Float32Array;
  weights: (Float32Array | null)[];
  /** Each layer's cache size for the full maxLength ([kvHeads, maxLength, headDim]). */
  cacheSizes: number[];
  /** Each layer's cache row width per key/value head: [kvHeads, headDim]. */
  cacheHeads: [number, number][];
}

class Packer {
  readonly ints: number[] = [];
  readonly floats: number[] = [];
  readonly weights: (Float32Array | null)[] = [];

  norm(path: string, n: FusedDecoderNorm, d: number): { kind: number; eps: number } {
    const kind = ['rms-norm', 'layer-norm'].indexOf(n?.kind);
    if (kind < 0) fail(`${path}.kind`, "'rms-norm' or 'layer-norm'", String(n?.kind));
    if (!(typeof n.eps === 'number' && n.eps > 0))
      fail(`${path}.eps`, 'a number > 0', String(n.eps));
    this.weights.push(optional(`${path}.weight`, n.weight, d, `[${d}]`));
    this.weights.push(optional(`${path}.bias`, n.bias, d, `[${d}]`));
    return { kind, eps: n.eps };
  }

  dense(path: string, l: FusedDecoderDense | undefined, rows: number, cols: number): void {
    if (!l) fail(path, `a { weight [${rows}, ${cols}], bias? } layer`, String(l));
    this.weights.push(array(`${path}.weight`, l.weight, rows * cols, `[${rows}, ${cols}]`));
    this.weights.push(optional(`${path}.bias`, l.bias, cols, `[${cols}]`));
  }

  /** An MLP or GLU: ints [gated, activation, hidden], slots up, gate, down (weight, bias). */
  feedForward(path: string, f: FusedDecoderFeedForward, d: number): void {
    const act = DECODER_ACTIVATIONS.indexOf(
      (f?.activation === 'squared-relu' ? 'relu2' : f?.activation) as 'relu2',
    );
    if (act < 0)
      fail(`${path}.activation`, `one of ${DECODER_ACTIVATIONS.join(', ')}`, String(f?.activation));
    const hidden = positiveInt(`${path}.hiddenDim`, f.hiddenDim);
    this.dense(`${path}.up`, f.up, d, hidden);
    if (f.gate) this.dense(`${path}.gate`, f.gate, d, hidden);
    else this.weights.push(null, null);
    this.dense(`${path}.down`, f.down, hidden, d);
    this.ints.push(f.gate ? 1 : 0, act, hidden);
  }

  /**
   * A mixture of experts: ints [experts, shared, topK, sigmoid, normalize, has selection bias]
   * then each routed and shared expert's; slots router (weight, bias), selection bias, experts.
   */
  moe(path: string, f: FusedDecoderMoE, d: number): void {
    if (!Array.isArray(f.experts) || f.experts.length === 0)
      fail(`${path}.experts`, 'a non-empty array', describe(f.experts));
    if (!Array.isArray(f.shared)) fail(`${path}.shared`, 'an array', describe(f.shared));
    const experts = f.experts.length;
    const topK = positiveInt(`${path}.topK`, f.topK);
    if (topK > experts) fail(`${path}.topK`, `at most ${experts} (the experts)`, String(topK));
    const scoring = ['softmax', 'sigmoid'].indexOf(f.scoring);
    if (scoring < 0) fail(`${path}.scoring`, "'softmax' or 'sigmoid'", String(f.scoring));
    if (typeof f.normalize !== 'boolean')
      fail(`${path}.normalize`, 'a boolean', String(f.normalize));
    this.ints.push(experts, f.shared.length, topK, scoring, f.normalize ? 1 : 0);
    this.ints.push(f.selectionBias ? 1 : 0);
    this.dense(`${path}.router`, f.router, d, experts);
    this.weights.push(optional(`${path}.selectionBias`, f.selectionBias, experts, `[${experts}]`));
    f.experts.forEach((e, i) => this.feedForward(`${path}.experts[${i}]`, e, d));
    f.shared.forEach((e, i) => this.feedForward(`${path}.shared[${i}]`, e, d));
  }

  /** Appends one layer; returns its kvHeads and headDim (the shape of its two caches). */
  layer(path: string, l: FusedDecoderLayer, spec: FusedDecoderSpec): [number, number] {
    const d = spec.dModel;
    if (l.placement !== 'pre' && l.placement !== 'post')
      fail(`${path}.placement`, "'pre' or 'post'", String(l.placement));
    const n1 = this.norm(`${path}.norm1`, l.norm1, d);
    const n2 = this.norm(`${path}.norm2`, l.norm2, d);
    const a = l.attention;
    const heads = positiveInt(`${path}.attention.numHeads`, a?.numHeads);
    const kvHeads = positiveInt(`${path}.attention.numKvHeads`, a.numKvHeads);
    if (heads % kvHeads !== 0)
      fail(`${path}.attention.numKvHeads`, `a divisor of numHeads=${heads}`, String(kvHeads));
    const headDim = positiveInt(`${path}.attention.headDim`, a.headDim);
    const rotaryDim = spec.rotary?.rotaryDim ?? 0;
    if (rotaryDim > headDim)
      fail(`${path}.attention.headDim`, `>= rotary.rotaryDim=${rotaryDim}`, String(headDim));
    if (!(typeof a.scale === 'number' && a.scale > 0))
      fail(`${path}.attention.scale`, 'a number > 0', String(a.scale));
    const window = a.window === undefined ? 0 : positiveInt(`${path}.attention.window`, a.window);
    const sinks = a.sinkTokens ?? 0;
    if (!Number.isInteger(sinks) || sinks < 0)
      fail(`${path}.attention.sinkTokens`, 'an integer >= 0', String(sinks));
    this.dense(`${path}.attention.q`, a.q, d, heads * headDim);
    this.dense(`${path}.attention.k`, a.k, d, kvHeads * headDim);
    this.dense(`${path}.attention.v`, a.v, d, kvHeads * headDim);
    this.dense(`${path}.attention.o`, a.o, heads * headDim, d);
    this.ints.push(
      l.placement === 'post' ? 1 : 0,
      n1.kind,
      n2.kind,
      heads,
      kvHeads,
      headDim,
      window,
      sinks,
    );
    const f = l.feedForward;
    if (f && 'kind' in f && f.kind === 'moe') this.moe(`${path}.feedForward`, f, d);
    else {
      this.ints.push(0);
      this.feedForward(`${path}.feedForward`, f as FusedDecoderFeedForward, d);
    }
    this.floats.push(n1.eps, n2.eps, a.scale);
    return [kvHeads, headDim];
  }
}

/** Checks the spec (errors name the field, the expected and the actual value) and packs it. */
export function packDecoder(spec: FusedDecoderSpec): Packed {
  const d = positiveInt('dModel', spec?.dModel);
  const vocab = positiveInt('vocabSize', spec.vocabSize);
  const maxLength = positiveInt('maxLength', spec.maxLength);
  if (!Array.isArray(spec.layers)) fail('layers', 'an array', describe(spec.layers));
  const p = new Packer();
  p.weights.push(array('embedding', spec.embedding, vocab * d, `[${vocab}, ${d}]`));
  p.weights.push(
    optional('positionTable', spec.positionTable, maxLength * d, `[${maxLength}, ${d}]`),
  );
  let layout = 0;
  let rotaryDim = 0;
  if (spec.rotary) {
    layout = ['half', 'interleaved'].indexOf(spec.rotary.layout) + 1;
    if (layout === 0) fail('rotary.layout', "'half' or 'interleaved'", String(spec.rotary.layout));
    rotaryDim = positiveInt('rotary.rotaryDim', spec.rotary.rotaryDim);
    if (rotaryDim % 2 !== 0) fail('rotary.rotaryDim', 'even', String(rotaryDim));
    const half = rotaryDim / 2;
    p.weights.push(
      array('rotary.inverseFrequencies', spec.rotary.inverseFrequencies, half, `[${half}]`),
    );
  } else {
    p.weights.push(null);
  }
  const final = p.norm('finalNorm', spec.finalNorm, d);
  p.weights.push(optional('head', spec.head, d * vocab, `[${d}, ${vocab}]`));
  p.ints.push(
    d,
    vocab,
    maxLength,
    spec.layers.length,
    layout,
    rotaryDim,
    final.kind,
    spec.head ? 1 : 0,
  );
  p.floats.push(final.eps);
  const cacheHeads = spec.layers.map((l, i) => p.layer(`layers[${i}]`, l, spec));
  return {
    ints: Int32Array.from(p.ints),
    floats: Float32Array.from(p.floats),
    weights: p.weights,
    cacheSizes: cacheHeads.map(([kvHeads, headDim]) => kvHeads * maxLength * headDim),
    cacheHeads,
  };
}

/** Sequences of one session at most (the addon's bound). */
const MAX_BATCH = 1 << 16;

/**
 * A decoding session of `batch` sequences. Each layer's KV cache is two Float32Arrays laid out
 * [batch, kvHeads, capacity, headDim]; the capacity grows (doubling, up to maxLength) with the
 * longest sequence fed, so a model with a large maxLength costs only what the sequences use.
 * The native step is told the capacity as its length bound (and sees that many rows of a
 * position table). The tokens of one call (prompts of any lengths, or one generated token per
 * sequence) run their projections as matrix products together.
 */
export class NativeFusedDecoder implements FusedDecoder {
  readonly batch: number;
  private packed: Packed | null;
  private caches: Float32Array[] = [];
  private capacity = 0;
  private ints: Int32Array;
  private weights: (Float32Array | null)[];
  private readonly consumed: number[];
  private readonly vocab: number;
  private readonly maxLength: number;
  private readonly dModel: number;

  constructor(
    private readonly addon: NativeAddon,
    spec: FusedDecoderSpec,
    options: FusedDecoderOptions = {},
  ) {
    const batch = options?.batch ?? 1;
    if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH)
      fail('options.batch', `an integer in [1, ${MAX_BATCH}]`, String(batch), RangeError);
    this.batch = batch;
    this.consumed = new Array<number>(batch).fill(0);
    this.packed = packDecoder(spec);
    this.ints = this.packed.ints;
    this.weights = this.packed.weights;
    this.vocab = spec.vocabSize;
    this.maxLength = spec.maxLength;
    this.dModel = spec.dModel;
  }

  get position(): number {
    return this.consumed[0]!;
  }

  get positions(): readonly number[] {
    return [...this.consumed];
  }

  /** Bytes held by the KV cache now. */
  get cacheBytes(): number {
    return this.caches.reduce((sum, c) => sum + c.byteLength, 0);
  }

  /** Makes room for `needed` positions per sequence, keeping the rows already cached. */
  private reserve(packed: Packed, needed: number): void {
    if (needed <= this.capacity) return;
    const capacity = Math.min(this.maxLength, Math.max(needed, 2 * this.capacity, 16));
    this.caches = packed.cacheHeads.flatMap(([kvHeads, headDim], layer) =>
      [0, 1].map((which) => {
        const next = new Float32Array(this.batch * kvHeads * capacity * headDim);
        const old = this.caches[2 * layer + which];
        for (let b = 0; old && b < this.batch; b++) {
          for (let h = 0; h < kvHeads; h++) {
            const row = b * kvHeads + h;
            const from = row * this.capacity * headDim;
            next.set(
              old.subarray(from, from + this.consumed[b]! * headDim),
              row * capacity * headDim,
            );
          }
        }
        return next;
      }),
    );
    this.capacity = capacity;
    this.ints = Int32Array.from(packed.ints);
    this.ints[2] = capacity;
    this.weights = [...packed.weights];
    const table = packed.weights[1];
    if (table) this.weights[1] = table.subarray(0, capacity * this.dModel);
  }

  feed(tokens: readonly number[], logits: Float32Array | null): void {
    if (this.batch !== 1) {
      const actual = `a session of batch ${this.batch}`;
      fail('feed', 'called on a session of batch 1 (use feedBatch)', actual, RangeError);
    }
    if (!Array.isArray(tokens) || tokens.length === 0)
      fail('tokens', 'a non-empty array of token ids', describe(tokens));
    this.run([tokens], logits, () => 'tokens');
  }

  feedBatch(tokens: readonly (readonly number[])[], logits: Float32Array | null): void {
    if (!Array.isArray(tokens) || tokens.length !== this.batch) {
      const actual = Array.isArray(tokens) ? `${tokens.length} sequences` : describe(tokens);
      fail(
        'tokens',
        `an array of ${this.batch} token arrays (one per sequence)`,
        actual,
        RangeError,
      );
    }
    tokens.forEach((t, b) => {
      if (!Array.isArray(t)) fail(`tokens[${b}]`, 'an array of token ids', describe(t));
    });
    if (tokens.every((t) => t.length === 0))
      fail('tokens', 'at least one token in some sequence', 'none', RangeError);
    this.run(tokens, logits, (b) => `tokens[${b}]`);
  }

  private run(
    tokens: readonly (readonly number[])[],
    logits: Float32Array | null,
    path: (b: number) => string,
  ): void {
    const packed = this.packed;
    if (!packed) throw new Error(`${NAME}: feed after dispose()`);
    let longest = 0;
    tokens.forEach((seq, b) => {
      const bad = seq.find((t) => !Number.isInteger(t) || t < 0 || t >= this.vocab);
      if (bad !== undefined) fail(path(b), `integers in [0, ${this.vocab})`, `${bad}`);
      const fed = this.consumed[b]!;
      if (fed + seq.length > this.maxLength) {
        fail(
          path(b),
          `at most ${this.maxLength - fed} more (maxLength=${this.maxLength}, ${fed} fed)`,
          `${seq.length}`,
          RangeError,
        );
      }
      longest = Math.max(longest, fed + seq.length);
    });
    const size = this.batch * this.vocab;
    if (logits !== null && !(logits instanceof Float32Array && logits.length >= size)) {
      const shape = this.batch === 1 ? '' : ` ([${this.batch}, ${this.vocab}])`;
      fail('logits', `null or a Float32Array of at least ${size}${shape}`, describe(logits));
    }
    this.reserve(packed, longest);
    this.addon.decoderStep(
      this.ints,
      packed.floats,
      this.weights,
      this.caches,
      Int32Array.from(tokens.flat()),
      Int32Array.from(tokens, (t) => t.length),
      Int32Array.from(this.consumed),
      logits,
    );
    tokens.forEach((t, b) => (this.consumed[b]! += t.length));
  }

  dispose(): void {
    this.packed = null;
    this.caches = [];
  }
}
