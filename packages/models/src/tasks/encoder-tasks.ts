import type { Rng } from '@attnkit/core';
import { checkTaskOption } from './task';

/**
 * Synthetic tasks for the assemblies that are not next-token LMs: masked-LM and sequence
 * classification for encoders (Devlin et al. 2019, BERT, sec. 3.1), teacher-forced seq2seq for
 * encoder-decoders (Sutskever et al. 2014; Vaswani et al. 2017). Each draws whole batches.
 */

/** Masked-LM: `inputs` with [MASK] ids; `targets` the original tokens; `weights` 1 where masked. */
export interface MaskedBatch {
  kind: 'masked';
  batchSize: number;
  seqLen: number;
  inputs: Int32Array;
  targets: Int32Array;
  weights: Float32Array;
}

/** Sequence classification: `inputs` `[batch, seqLen]` (a CLS id first), `labels` `[batch]`. */
export interface ClassBatch {
  kind: 'classes';
  batchSize: number;
  seqLen: number;
  inputs: Int32Array;
  labels: Int32Array;
}

/**
 * Teacher-forced seq2seq: `sources` `[batch, sourceLen]`; the decoder reads `inputs` (BOS, then
 * the target shifted right) and predicts `targets` `[batch, targetLen]`, every position.
 */
export interface Seq2SeqBatch {
  kind: 'seq2seq';
  batchSize: number;
  sourceLen: number;
  targetLen: number;
  sources: Int32Array;
  inputs: Int32Array;
  targets: Int32Array;
}

interface TaskBase<K extends string, B> {
  readonly kind: K;
  readonly name: string;
  readonly vocabSize: number;
  /** The longest sequence the model reads (the config's maxLength). */
  readonly seqLen: number;
  /** The options that rebuild this task, for saving with a run. */
  readonly options: Record<string, number>;
  batch(rng: Rng, batchSize: number): B;
}

export type MaskedTask = TaskBase<'masked', MaskedBatch>;
export type ClassTask = TaskBase<'classes', ClassBatch> & { readonly numClasses: number };
export type Seq2SeqTask = TaskBase<'seq2seq', Seq2SeqBatch> & {
  /** Start-of-target id the decoder reads first. */
  readonly bos: number;
  readonly sourceLen: number;
  readonly targetLen: number;
  sample(rng: Rng): { source: number[]; target: number[] };
};
/** A task an encoder or an encoder-decoder trains on. */
export type BatchTask = MaskedTask | ClassTask | Seq2SeqTask;

/**
 * The sampling loop every batch task shares: `batchSize` examples drawn one after another from
 * `rng` (so a batch is the same as drawing its examples in turn), each field's row written into
 * a row-major `[batchSize, widths[field]]` int32 array.
 */
function drawBatch<F extends string>(
  rng: Rng,
  batchSize: number,
  widths: Record<F, number>,
  draw: (rng: Rng) => Record<F, readonly number[]>,
): Record<F, Int32Array> {
  const fields = Object.keys(widths) as F[];
  const out = Object.fromEntries(
    fields.map((f) => [f, new Int32Array(batchSize * widths[f])]),
  ) as Record<F, Int32Array>;
  for (let b = 0; b < batchSize; b++) {
    const rows = draw(rng);
    for (const f of fields) out[f].set(rows[f], b * widths[f]);
  }
  return out;
}

export interface MaskedCopyOptions {
  length: number;
  numSymbols: number;
}

/**
 * `x SEP x` with about 15% of the tokens replaced by [MASK] (BERT's rate), never both copies of
 * a token, so every masked token can be read from its twin: bidirectional recall. Ids: 1 SEP,
 * 2 MASK, 3.. symbols.
 */
export class MaskedCopyTask implements MaskedTask {
  readonly kind = 'masked';
  readonly name = 'masked-copy';
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly options: Record<string, number>;
  static readonly SEP = 1;
  static readonly MASK = 2;

  constructor(private readonly opts: MaskedCopyOptions) {
    checkTaskOption('masked-copy', 'length', opts.length, 1);
    checkTaskOption('masked-copy', 'numSymbols', opts.numSymbols, 2);
    this.vocabSize = 3 + opts.numSymbols;
    this.seqLen = 2 * opts.length + 1;
    this.options = { ...opts };
  }

  private example(rng: Rng): { inputs: number[]; targets: number[] } {
    const { length: n, numSymbols } = this.opts;
    const xs = Array.from({ length: n }, () => 3 + rng.int(numSymbols));
    const targets = [...xs, MaskedCopyTask.SEP, ...xs];
    // One twin of each pair masked with probability 0.3: 15% of the symbols, at least one.
    const masked = xs.map(() => rng.uniform() < 0.3);
    if (!masked.includes(true)) masked[rng.int(n)] = true;
    const inputs = [...targets];
    masked.forEach((m, i) => {
      if (m) inputs[rng.uniform() < 0.5 ? i : n + 1 + i] = MaskedCopyTask.MASK;
    });
    return { inputs, targets };
  }

  batch(rng: Rng, batchSize: number): MaskedBatch {
    const T = this.seqLen;
    const { inputs, targets } = drawBatch(rng, batchSize, { inputs: T, targets: T }, (r) =>
      this.example(r),
    );
    // The loss reads the masked positions: [MASK] is never a symbol, so they are where it is.
    const weights = Float32Array.from(inputs, (t) => (t === MaskedCopyTask.MASK ? 1 : 0));
    return { kind: 'masked', batchSize, seqLen: T, inputs, targets, weights };
  }
}

export interface MajorityOptions {
  length: number;
  numClasses: number;
}

/**
 * CLS then `length` symbols; the class is the symbol seen most often (drawn with a head start,
 * ties redrawn): counting over the whole sequence from the CLS position. Ids: 1 CLS, 2.. symbols.
 */
export class MajorityTask implements ClassTask {
  readonly kind = 'classes';
  readonly name = 'majority';
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly numClasses: number;
  readonly options: Record<string, number>;
  static readonly CLS = 1;

  constructor(private readonly opts: MajorityOptions) {
    checkTaskOption('majority', 'length', opts.length, 1);
    checkTaskOption('majority', 'numClasses', opts.numClasses, 2);
    this.vocabSize = 2 + opts.numClasses;
    this.seqLen = opts.length + 1;
    this.numClasses = opts.numClasses;
    this.options = { ...opts };
  }

  private sampleOne(rng: Rng): { symbols: number[]; label: number } {
    const { length, numClasses: k } = this.opts;
    for (;;) {
      const label = rng.int(k);
      // The label's symbol with probability 1/2, the others share the rest.
      const symbols = Array.from({ length }, () =>
        rng.uniform() < 0.5 ? label : (label + 1 + rng.int(k - 1)) % k,
      );
      const counts = new Array<number>(k).fill(0);
      for (const s of symbols) counts[s]!++;
      const top = Math.max(...counts);
      if (counts[label] === top && counts.filter((c) => c === top).length === 1)
        return { symbols, label };
    }
  }

  batch(rng: Rng, batchSize: number): ClassBatch {
    const T = this.seqLen;
    const { inputs, labels } = drawBatch(rng, batchSize, { inputs: T, labels: 1 }, (r) => {
      const { symbols, label } = this.sampleOne(r);
      return { inputs: [MajorityTask.CLS, ...symbols.map((s) => 2 + s)], labels: [label] };
    });
    return { kind: 'classes', batchSize, seqLen: T, inputs, labels };
  }
}

export interface ReverseOptions {
  length: number;
  numSymbols: number;
}

/** Source `x1..xn`, target `xn..x1`: every target token attends to one source position. Ids: 1 BOS, 2.. symbols. */
export class ReverseTask implements Seq2SeqTask {
  readonly kind = 'seq2seq';
  readonly name = 'reverse';
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly sourceLen: number;
  readonly targetLen: number;
  readonly bos = 1;
  readonly options: Record<string, number>;

  constructor(private readonly opts: ReverseOptions) {
    checkTaskOption('reverse', 'length', opts.length, 1);
    checkTaskOption('reverse', 'numSymbols', opts.numSymbols, 2);
    this.vocabSize = 2 + opts.numSymbols;
    this.sourceLen = this.targetLen = this.seqLen = opts.length;
    this.options = { ...opts };
  }

  sample(rng: Rng): { source: number[]; target: number[] } {
    const source = Array.from(
      { length: this.opts.length },
      () => 2 + rng.int(this.opts.numSymbols),
    );
    return { source, target: [...source].reverse() };
  }

  batch(rng: Rng, batchSize: number): Seq2SeqBatch {
    const S = this.sourceLen;
    const T = this.targetLen;
    const widths = { sources: S, inputs: T, targets: T };
    const { sources, inputs, targets } = drawBatch(rng, batchSize, widths, (r) => {
      const { source, target } = this.sample(r);
      return { sources: source, inputs: [this.bos, ...target.slice(0, T - 1)], targets: target };
    });
    return { kind: 'seq2seq', batchSize, sourceLen: S, targetLen: T, sources, inputs, targets };
  }
}
