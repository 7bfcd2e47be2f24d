import { ConfigError, ShapeError, checkInt } from '@attnkit/core';
import type { IndexSnapshot, MemoryIndex } from './memory-index';
import type { AddResult, KnnStore, SearchResult } from './store';
import { kmeans, nearestCentroid } from './kmeans';
import { TopK, dotRow } from './topk';

const BLOCK = 'IvfIndex';

export interface IvfOptions {
  /** Number of inverted lists (k-means centroids). */
  nlist: number;
  /** Lists probed per query (more if they hold fewer than k entries); nlist = exact. */
  nprobe: number;
  /** Lloyd iterations per training (default 8). */
  iterations?: number;
}

/**
 * An inverted-file index (Jégou et al. 2011, sec. III-A; the IVF of faiss) over a `KnnStore`,
 * the approximate search RetrievalAttention runs on the cpu (Liu et al. 2024, sec. 3): k-means
 * centroids trained on the stored keys, each key in the list of its nearest centroid (L2), and
 * a query scans only the lists of its `nprobe` best centroids by inner product. Our choices
 * where the papers leave them open: the index trains once the store holds `nlist` keys and
 * retrains after as many writes as it held at the last training (doubling while it grows, a
 * full turnover once full), from evenly spaced keys, for `iterations` Lloyd steps; a probe
 * continues past `nprobe` lists until it has min(k, size) candidates. Before training it
 * searches exactly. Everything is deterministic, so decoding retrieves what the full pass did.
 */
export class IvfIndex implements MemoryIndex {
  readonly nlist: number;
  readonly nprobe: number;
  readonly iterations: number;
  private centroids: Float32Array | undefined;
  private lists: number[][] = [];
  private listOf: number[] = []; // slot -> list (-1: none)
  private position: number[] = []; // slot -> index in its list
  private trainedSize = 0;
  private writesSinceTraining = 0;

  constructor(
    readonly store: KnnStore,
    options: IvfOptions,
  ) {
    this.nlist = checkInt(BLOCK, 'options.nlist', options?.nlist, 1);
    this.nprobe = checkInt(BLOCK, 'options.nprobe', options.nprobe, 1);
    this.iterations = checkInt(BLOCK, 'options.iterations', options.iterations ?? 8, 0);
    if (this.nprobe > this.nlist) {
      throw new ConfigError(BLOCK, 'options.nprobe', `<= nlist=${this.nlist}`, String(this.nprobe));
    }
    if (this.nlist > store.capacity) {
      const cap = `<= the store's capacity ${store.capacity}`;
      throw new ConfigError(BLOCK, 'options.nlist', cap, String(this.nlist));
    }
  }

  get trained(): boolean {
    return this.centroids !== undefined;
  }

  add(keys: Float32Array, values: Float32Array): AddResult {
    const result = this.store.add(keys, values);
    this.writesSinceTraining += result.slots.length;
    if (this.centroids) for (const s of result.slots) this.assign(s);
    const size = this.store.size;
    const due = this.centroids ? this.writesSinceTraining >= this.trainedSize : true;
    if (due && size >= this.nlist) this.train();
    return result;
  }

  search(query: Float32Array, k: number): SearchResult {
    if (!this.centroids) return this.store.search(query, k);
    checkInt(BLOCK, 'k', k, 1);
    if (query?.length !== this.store.dim) {
      throw new ShapeError(BLOCK, 'query', `dim=${this.store.dim}`, `length ${query?.length}`);
    }
    const byCentroid = new TopK(this.nlist);
    for (let c = 0; c < this.nlist; c++) {
      byCentroid.push(c, dotRow(query, this.centroids, c, this.store.dim));
    }
    const wanted = Math.min(k, this.store.size);
    const candidates: number[] = [];
    let probed = 0;
    for (const c of byCentroid.result().ids) {
      if (probed >= this.nprobe && candidates.length >= wanted) break;
      candidates.push(...this.lists[c]!);
      probed++;
    }
    return this.store.searchAmong(query, k, candidates);
  }

  clone(): IvfIndex {
    const copy = new IvfIndex(this.store.clone(), this);
    copy.restore(this.snapshot());
    return copy;
  }

  snapshot(): IndexSnapshot | undefined {
    if (!this.centroids) return undefined;
    const { trainedSize, writesSinceTraining } = this;
    return { centroids: this.centroids.slice(), trainedSize, writesSinceTraining };
  }

  /** Takes the centroids and counters back and reassigns every stored key (nearest centroid). */
  restore(snapshot: IndexSnapshot | undefined): void {
    this.centroids = undefined;
    if (!snapshot) {
      this.trainedSize = 0;
      this.writesSinceTraining = this.store.size;
      return;
    }
    if (snapshot.centroids.length !== this.nlist * this.store.dim) {
      const want = `${this.nlist}×${this.store.dim} floats`;
      throw new ShapeError(BLOCK, 'snapshot.centroids', want, `${snapshot.centroids.length}`);
    }
    this.centroids = snapshot.centroids.slice();
    this.trainedSize = snapshot.trainedSize;
    this.writesSinceTraining = snapshot.writesSinceTraining;
    this.assignAll();
  }

  /** k-means (L2) on the stored keys (kmeans.ts), then every key's list. */
  private train(): void {
    const { dim, size, keys } = this.store;
    this.centroids = kmeans(keys, size, dim, this.nlist, this.iterations);
    this.trainedSize = size;
    this.writesSinceTraining = 0;
    this.assignAll();
  }

  private assignAll(): void {
    this.lists = Array.from({ length: this.nlist }, () => []);
    this.listOf = [];
    this.position = [];
    for (let s = 0; s < this.store.size; s++) this.assign(s);
  }

  /** Puts slot s (just written) in its nearest centroid's list, leaving its old list. */
  private assign(s: number): void {
    const old = this.listOf[s] ?? -1;
    if (old !== -1) {
      const list = this.lists[old]!;
      const last = list.pop()!;
      if (last !== s) {
        list[this.position[s]!] = last;
        this.position[last] = this.position[s]!;
      }
    }
    const c = this.nearest(this.store.keys, s);
    this.listOf[s] = c;
    this.position[s] = this.lists[c]!.length;
    this.lists[c]!.push(s);
  }

  private nearest(keys: Float32Array, s: number): number {
    return nearestCentroid(this.centroids!, this.nlist, this.store.dim, keys, s);
  }
}
