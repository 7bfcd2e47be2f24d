import {
  ConfigError,
  DEFAULT_MAX_BYTES,
  ShapeError,
  checkInt,
  checkOneOf,
  formatBytes,
} from '@attnkit/core';
import { TopK, dotRow } from './topk';

const BLOCK = 'KnnStore';

/** Which entry a full store drops: the oldest (Memorizing Transformers) or the least recently retrieved. */
export type Eviction = 'fifo' | 'lru';

export interface KnnStoreOptions {
  /** Width of a key (and of a query). */
  dim: number;
  /** Width of a value (default `dim`). */
  valueDim?: number;
  /** Most entries held; a full store evicts one per new entry. */
  capacity: number;
  /** Most bytes the store may allocate, checked against `capacity` before any allocation. */
  maxBytes?: number;
  eviction?: Eviction;
}

/** The k best entries for one query, best first: their slots and inner products. */
export interface SearchResult {
  slots: Int32Array;
  scores: Float32Array;
}

/** What adding entries did: the slot of each new entry and the slots it evicted (reused). */
export interface AddResult {
  slots: Int32Array;
  evicted: number;
}

/**
 * The kNN memory of Memorizing Transformers (Wu et al. 2022, sec. 3.1-3.2): (key, value) pairs
 * on the cpu, searched by exact inner product (the paper's exact kNN, eq. 1's top-k over
 * q·k), bounded by `capacity` entries. A full store drops the oldest entry first (FIFO, the
 * paper's rule) or, with `eviction: 'lru'`, the one least recently returned by a search. Plain
 * Float32Arrays, no tensors: memory is written without gradient, as in the paper. Entries live
 * in slots 0..size-1; a doubly linked list over the slots keeps the eviction order.
 */
export class KnnStore {
  readonly dim: number;
  readonly valueDim: number;
  readonly capacity: number;
  readonly eviction: Eviction;
  private keyData = new Float32Array(0);
  private valueData = new Float32Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private head = -1; // the next to evict
  private tail = -1; // the newest (or most recently used)
  private count = 0;

  constructor(options: KnnStoreOptions) {
    this.dim = checkInt(BLOCK, 'options.dim', options?.dim, 1);
    this.valueDim = checkInt(BLOCK, 'options.valueDim', options.valueDim ?? this.dim, 1);
    this.capacity = checkInt(BLOCK, 'options.capacity', options.capacity, 1);
    this.eviction = checkOneOf(BLOCK, 'options.eviction', options.eviction ?? 'fifo', [
      'fifo',
      'lru',
    ]);
    const limit = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const needed = KnnStore.bytesFor(this.capacity, this.dim, this.valueDim);
    if (needed > limit) {
      throw new ConfigError(
        BLOCK,
        'options.capacity',
        `at most ${formatBytes(limit)} (maxBytes) for ${this.capacity} entries of ${this.dim}+${this.valueDim} floats`,
        formatBytes(needed),
      );
    }
  }

  /** Bytes a full store of `capacity` entries holds: keys, values and the two list links. */
  static bytesFor(capacity: number, dim: number, valueDim = dim): number {
    return capacity * ((dim + valueDim) * 4 + 8);
  }

  /** Entries held now (never above `capacity`). */
  get size(): number {
    return this.count;
  }

  /** Bytes allocated now: room for the next power of two >= size (16 at least), capped at capacity. */
  get bytes(): number {
    return KnnStore.bytesFor(this.prev.length, this.dim, this.valueDim);
  }

  /** Keys of the held entries, row-major [size, dim], slot order (a view: copy what you keep). */
  get keys(): Float32Array {
    return this.keyData.subarray(0, this.count * this.dim);
  }

  /** Values of the held entries, [size, valueDim], slot order (a view). */
  get values(): Float32Array {
    return this.valueData.subarray(0, this.count * this.valueDim);
  }

  /** Slots from the next to evict to the last to evict. */
  order(): Int32Array {
    const out = new Int32Array(this.count);
    for (let s = this.head, i = 0; s !== -1; s = this.next[s]!) out[i++] = s;
    return out;
  }

  /**
   * Appends `keys` [n, dim] and `values` [n, valueDim] (row-major), evicting one entry per new
   * entry once full. Returns the slot of each new entry and how many were evicted.
   */
  add(keys: Float32Array, values: Float32Array): AddResult {
    const n = keys.length / this.dim;
    if (!Number.isInteger(n) || values.length !== n * this.valueDim) {
      throw new ShapeError(
        BLOCK,
        'values',
        `${n} rows of valueDim=${this.valueDim} for keys of ${keys.length} floats (dim=${this.dim})`,
        `${values.length} floats`,
      );
    }
    const slots = new Int32Array(n);
    let evicted = 0;
    for (let i = 0; i < n; i++) {
      let slot: number;
      if (this.count < this.capacity) {
        this.reserve(this.count + 1);
        slot = this.count++;
      } else {
        slot = this.head;
        this.unlink(slot);
        evicted++;
      }
      this.keyData.set(keys.subarray(i * this.dim, (i + 1) * this.dim), slot * this.dim);
      const v = values.subarray(i * this.valueDim, (i + 1) * this.valueDim);
      this.valueData.set(v, slot * this.valueDim);
      this.append(slot);
      slots[i] = slot;
    }
    return { slots, evicted };
  }

  /** The exact top-min(k, size) entries by inner product with `query` [dim]; LRU marks them used. */
  search(query: Float32Array, k: number): SearchResult {
    this.checkQuery(query, k);
    const top = new TopK(Math.min(k, this.count));
    for (let s = 0; s < this.count; s++) top.push(s, dotRow(query, this.keyData, s, this.dim));
    return this.found(top);
  }

  /** The top-min(k, size) among `candidates` (slots) only: what an index searches exactly. */
  searchAmong(query: Float32Array, k: number, candidates: Iterable<number>): SearchResult {
    this.checkQuery(query, k);
    const top = new TopK(Math.min(k, this.count));
    for (const s of candidates) top.push(s, dotRow(query, this.keyData, s, this.dim));
    return this.found(top);
  }

  /** Copies the keys and values of `slots` into `keys`/`values` from row `row` on. */
  gather(slots: Int32Array, keys: Float32Array, values: Float32Array, row = 0): void {
    const [d, dv] = [this.dim, this.valueDim];
    slots.forEach((s, i) => {
      keys.set(this.keyData.subarray(s * d, (s + 1) * d), (row + i) * d);
      values.set(this.valueData.subarray(s * dv, (s + 1) * dv), (row + i) * dv);
    });
  }

  /** An independent copy (beam search duplicates a row's memory). */
  clone(): KnnStore {
    const c = new KnnStore(this.options());
    c.restoreFrom(this.keys, this.values, this.order());
    return c;
  }

  /** Replaces the contents: `keys`/`values` in slot order and the eviction `order` of the slots. */
  restoreFrom(keys: Float32Array, values: Float32Array, order: Int32Array): void {
    const n = order.length;
    const valid =
      n <= this.capacity &&
      keys.length === n * this.dim &&
      values.length === n * this.valueDim &&
      new Set(order).size === n &&
      order.every((s) => s >= 0 && s < n);
    if (!valid) {
      throw new ShapeError(
        BLOCK,
        'order',
        `a permutation of the ${keys.length / this.dim} slots (<= capacity ${this.capacity})`,
        `${n} slots`,
      );
    }
    this.clear();
    this.reserve(n);
    this.keyData.set(keys);
    this.valueData.set(values);
    this.count = n;
    for (const s of order) this.append(s);
  }

  /** Drops every entry (keeps the allocation). */
  clear(): void {
    this.count = 0;
    this.head = this.tail = -1;
  }

  options(): KnnStoreOptions {
    const { dim, valueDim, capacity, eviction } = this;
    return { dim, valueDim, capacity, eviction };
  }

  private checkQuery(query: Float32Array, k: number): void {
    checkInt(BLOCK, 'k', k, 1);
    if (!(query instanceof Float32Array) || query.length !== this.dim) {
      throw new ShapeError(
        BLOCK,
        'query',
        `a Float32Array of dim=${this.dim}`,
        query instanceof Float32Array ? `length ${query.length}` : typeof query,
      );
    }
  }

  private found(top: TopK): SearchResult {
    const { ids, scores } = top.result();
    if (this.eviction === 'lru') {
      // Touch the worst first, so the best retrieved is the most recently used.
      for (let i = ids.length - 1; i >= 0; i--) {
        this.unlink(ids[i]!);
        this.append(ids[i]!);
      }
    }
    return { slots: ids, scores };
  }

  /**
   * Grows the buffers to hold `n` entries: the next power of two (16 at least), never past
   * capacity. A function of n alone, so a restored store allocates what the original did.
   */
  private reserve(n: number): void {
    if (n <= this.prev.length) return;
    const size = Math.min(this.capacity, Math.max(16, 2 ** Math.ceil(Math.log2(n))));
    const grow = <T extends Float32Array | Int32Array>(
      old: T,
      make: (m: number) => T,
      w: number,
    ) => {
      const fresh = make(size * w);
      fresh.set(old);
      return fresh;
    };
    this.keyData = grow(this.keyData, (m) => new Float32Array(m), this.dim);
    this.valueData = grow(this.valueData, (m) => new Float32Array(m), this.valueDim);
    this.prev = grow(this.prev, (m) => new Int32Array(m), 1);
    this.next = grow(this.next, (m) => new Int32Array(m), 1);
  }

  private append(slot: number): void {
    this.prev[slot] = this.tail;
    this.next[slot] = -1;
    if (this.tail !== -1) this.next[this.tail] = slot;
    else this.head = slot;
    this.tail = slot;
  }

  private unlink(slot: number): void {
    const [p, n] = [this.prev[slot]!, this.next[slot]!];
    if (p !== -1) this.next[p] = n;
    else this.head = n;
    if (n !== -1) this.prev[n] = p;
    else this.tail = p;
  }
}
