import { ConfigError, DEFAULT_MAX_BYTES, ShapeError, checkInt, formatBytes } from '@attnkit/core';
import { KnnStore } from './store';
import { TopK } from './topk';

const BLOCK = 'SpanIndex';

/**
 * Ltri-LLM's span discovery (Tang et al. 2024, "Ltri-LLM: Streaming Long Context Inference for
 * LLMs with Training-Free Dynamic Triangular Attention Pattern", sec. 3.1): attention inside a
 * semantic span forms a triangle below the diagonal, so each candidate span [s, e) of
 * `minLength`..`maxLength` tokens is scored by how much of its queries' attention stays in
 * that triangle (our formulation of the paper's triangle score),
 *   score(s, e) = (1 / (e - s)) Σ_{s <= i < e} Σ_{s <= j <= i} A[i, j],
 * and spans are chosen by non-maximum suppression: best score first (the longer on ties),
 * skipping any that overlaps one already chosen. Tokens left uncovered form spans of their own runs (our
 * choice, so every token is indexed). `attention` is [n, n] row-major (queries × keys,
 * averaged over heads by the caller). Returns [start, end) pairs in position order.
 */
export function discoverSpans(
  attention: Float32Array,
  n: number,
  options: { minLength?: number; maxLength: number },
): [number, number][] {
  const maxLength = checkInt(BLOCK, 'options.maxLength', options.maxLength, 1);
  const minLength = checkInt(BLOCK, 'options.minLength', options.minLength ?? 2, 1);
  if (minLength > maxLength) {
    throw new ConfigError(BLOCK, 'options.minLength', `<= maxLength=${maxLength}`, `${minLength}`);
  }
  if (attention.length !== n * n) {
    throw new ShapeError(BLOCK, 'attention', `${n}×${n} floats`, `${attention.length}`);
  }
  const candidates: { s: number; e: number; score: number }[] = [];
  for (let s = 0; s < n; s++) {
    let sum = 0;
    for (let e = s + 1; e <= Math.min(n, s + maxLength); e++) {
      for (let j = s; j < e; j++) sum += attention[(e - 1) * n + j]!; // the new row of the triangle
      const len = e - s;
      if (len >= minLength) candidates.push({ s, e, score: sum / len });
    }
  }
  candidates.sort((a, b) => b.score - a.score || b.e - b.s - (a.e - a.s) || a.s - b.s);
  const owner = new Int32Array(n).fill(-1);
  const spans: [number, number][] = [];
  for (const { s, e } of candidates) {
    let free = true;
    for (let i = s; i < e && free; i++) free = owner[i] === -1;
    if (!free) continue;
    owner.fill(spans.length, s, e);
    spans.push([s, e]);
  }
  for (let i = 0; i < n;) {
    if (owner[i] !== -1) {
      i++;
      continue;
    }
    let e = i;
    while (e < n && owner[e] === -1 && e - i < maxLength) e++;
    spans.push([i, e]);
    i = e;
  }
  return spans.sort((a, b) => a[0] - b[0]);
}

export interface SpanIndexOptions {
  dim: number;
  valueDim?: number;
  /** Most spans indexed; the oldest go first. */
  maxSpans: number;
  /** Most tokens one span may hold (its keys and values are kept with it). */
  maxSpanLength: number;
  /** Most bytes the index and its spans may take (default 2 GiB). */
  maxBytes?: number;
}

/** A retrieved span: its tokens' keys [len, dim], values [len, valueDim] and positions. */
export interface Span {
  keys: Float32Array;
  values: Float32Array;
  positions: number[];
}

/**
 * Ltri-LLM's offline span index (Tang et al. 2024, sec. 3.2-3.3): every span of the KV cache
 * is stored with an index vector, and a query loads the spans whose index vectors score
 * highest, with their full keys and values. Our choices where the paper leaves them open: the
 * index vector is the mean of the span's keys (the paper's static index vector; we do not
 * build its dynamic one); several query rows (heads, or the query's recent tokens) vote, each
 * for its `perQuery` best spans, and spans are ranked by votes, then by summed score (the
 * paper's retrieval-head voting). Bounded: `maxSpans` spans of at most `maxSpanLength` tokens,
 * oldest evicted first, bytes checked before allocation.
 */
export class SpanIndex {
  readonly index: KnnStore;
  readonly maxSpanLength: number;
  private payload: (Span | undefined)[] = [];

  readonly valueDim: number;

  constructor(options: SpanIndexOptions) {
    const { dim, maxSpans, maxBytes = DEFAULT_MAX_BYTES } = options;
    this.maxSpanLength = checkInt(BLOCK, 'options.maxSpanLength', options.maxSpanLength, 1);
    this.valueDim = checkInt(BLOCK, 'options.valueDim', options.valueDim ?? dim, 1);
    checkInt(BLOCK, 'options.maxSpans', maxSpans, 1);
    // The spans' own tokens, bounded by maxSpans × maxSpanLength, checked before allocating.
    const tokens = KnnStore.bytesFor(maxSpans * this.maxSpanLength, dim, this.valueDim);
    if (tokens > maxBytes) {
      const want = `at most ${formatBytes(maxBytes)} (maxBytes) of span tokens`;
      throw new ConfigError(BLOCK, 'options.maxSpans', want, formatBytes(tokens));
    }
    this.index = new KnnStore({
      dim,
      valueDim: 1,
      capacity: maxSpans,
      maxBytes: maxBytes - tokens,
    });
  }

  /** Spans held now. */
  get size(): number {
    return this.index.size;
  }

  /** Indexes one span (keys [len, dim], values [len, valueDim], positions), evicting the oldest when full. */
  add(span: Span): void {
    const { dim } = this.index;
    const len = span.positions.length;
    if (len === 0 || len > this.maxSpanLength) {
      const want = `a span of 1..${this.maxSpanLength} tokens`;
      throw new ShapeError(BLOCK, 'span.positions', want, `${len} tokens`);
    }
    if (span.keys.length !== len * dim || span.values.length !== len * this.valueDim) {
      const want = `${len} keys of ${dim} and values of ${this.valueDim} floats`;
      throw new ShapeError(BLOCK, 'span', want, `${span.keys.length} and ${span.values.length}`);
    }
    const mean = new Float32Array(dim);
    for (let i = 0; i < len; i++)
      for (let j = 0; j < dim; j++) mean[j]! += span.keys[i * dim + j]! / len;
    const { slots } = this.index.add(mean, new Float32Array(1));
    this.payload[slots[0]!] = {
      keys: span.keys.slice(),
      values: span.values.slice(),
      positions: [...span.positions],
    };
  }

  /**
   * The spans for `queries` (`[rows, dim]`): each row votes for its `perQuery` best spans by
   * q · index vector; the `count` spans with most votes (then highest summed score), in
   * position order.
   */
  retrieve(queries: Float32Array, count: number, perQuery = count): Span[] {
    const dim = this.index.dim;
    checkInt(BLOCK, 'count', count, 1);
    if (queries.length === 0 || queries.length % dim !== 0) {
      throw new ShapeError(BLOCK, 'queries', `rows of dim=${dim}`, `${queries.length} floats`);
    }
    if (this.size === 0) return [];
    const votes = new Map<number, { votes: number; score: number }>();
    for (let r = 0; r < queries.length / dim; r++) {
      const { slots, scores } = this.index.search(
        queries.subarray(r * dim, (r + 1) * dim),
        perQuery,
      );
      slots.forEach((s, i) => {
        const v = votes.get(s) ?? { votes: 0, score: 0 };
        votes.set(s, { votes: v.votes + 1, score: v.score + scores[i]! });
      });
    }
    const top = new TopK(Math.min(count, votes.size));
    // Votes first, the summed score breaks ties (scaled far below one vote).
    const maxScore = Math.max(...[...votes.values()].map((v) => Math.abs(v.score)), 1);
    for (const [s, v] of votes) top.push(s, v.votes + v.score / (4 * maxScore));
    return [...top.result().ids]
      .map((s) => this.payload[s]!)
      .sort((a, b) => a.positions[0]! - b.positions[0]!);
  }
}
