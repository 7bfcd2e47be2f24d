import type { AddResult, KnnStore, SearchResult } from './store';

/**
 * A searchable (key, value) memory: a `KnnStore` and how it is searched. `exact` scans every
 * entry; `ivf` probes the lists of an inverted-file index (ivf.ts). The state of a retrieval
 * mixer holds one per sequence and head.
 */
export interface MemoryIndex {
  readonly store: KnnStore;
  add(keys: Float32Array, values: Float32Array): AddResult;
  search(query: Float32Array, k: number): SearchResult;
  /** An independent copy. */
  clone(): MemoryIndex;
  /** The index's own trained data (IVF centroids), to save beside the store; none for exact. */
  snapshot(): IndexSnapshot | undefined;
  /** Restores what `snapshot` gave, after the store's contents were restored. */
  restore(snapshot: IndexSnapshot | undefined): void;
}

export interface IndexSnapshot {
  centroids: Float32Array;
  trainedSize: number;
  writesSinceTraining: number;
}

/** Exact search: the store itself (Memorizing Transformers' exact kNN). */
export class ExactIndex implements MemoryIndex {
  constructor(readonly store: KnnStore) {}

  add(keys: Float32Array, values: Float32Array): AddResult {
    return this.store.add(keys, values);
  }

  search(query: Float32Array, k: number): SearchResult {
    return this.store.search(query, k);
  }

  clone(): ExactIndex {
    return new ExactIndex(this.store.clone());
  }

  snapshot(): undefined {
    return undefined;
  }

  restore(): void {}
}
