import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, checkInt } from '@attnkit/core';
import type { DecoderLM } from '../assemblies/decoder-lm';

/** One block's keys and values per layer, [1, kvHeads, length, headDim], encoded at positions 0.. */
export interface BlockKV {
  layers: { keys: tf.Tensor4D; values: tf.Tensor4D }[];
  length: number;
}

interface Entry {
  ids: readonly number[];
  model: DecoderLM;
  weights: object[];
  kv: BlockKV;
  bytes: number;
}

export interface BlockKVStoreOptions {
  /** Most bytes of keys and values held; the least recently used blocks go first. */
  maxBytes: number;
}

/** FNV-1a over the ids' 32-bit values, with the length: the store's key for a block. */
export function blockKey(ids: readonly number[]): string {
  let h = 0x811c9dc5;
  for (const id of ids) {
    for (let s = 0; s < 32; s += 8) h = Math.imul(h ^ ((id >>> s) & 0xff), 0x01000193);
  }
  return `${ids.length}:${(h >>> 0).toString(16)}`;
}

/** Bytes of a block's keys and values (float32). */
export function blockKVBytes(kv: BlockKV): number {
  return kv.layers.reduce((n, l) => n + (l.keys.size + l.values.size) * 4, 0);
}

/** What the model's weights are now: the data of each parameter (replaced by assign/load). */
export function weightsIdentity(model: DecoderLM): object[] {
  return [...model.namedParameters().values()].map((v) => v.dataId);
}

/**
 * Block-Attention's KV reuse (Sun et al. 2024, sec. 2.3): each retrieved passage's keys and
 * values, computed once at positions from 0, kept across prompts and keyed by a hash of its
 * token ids (checked against the ids, the model and its current weights, so a collision or
 * new weights is a miss, never stale keys). Bounded by `maxBytes`, least recently used first.
 * It owns what it holds: `dispose` (or `clear`) frees it.
 */
export class BlockKVStore {
  readonly maxBytes: number;
  private readonly entries = new Map<string, Entry>();
  private held = 0;
  hits = 0;
  misses = 0;

  constructor(options: BlockKVStoreOptions) {
    this.maxBytes = checkInt('BlockKVStore', 'options.maxBytes', options?.maxBytes, 1);
  }

  /** Bytes of keys and values held now (never above `maxBytes`). */
  get bytes(): number {
    return this.held;
  }

  /** Blocks held now. */
  get size(): number {
    return this.entries.size;
  }

  /** The block's keys and values for `model`'s current weights, or undefined (a miss). */
  get(model: DecoderLM, ids: readonly number[]): BlockKV | undefined {
    const key = blockKey(ids);
    const entry = this.entries.get(key);
    const same =
      entry &&
      entry.model === model &&
      entry.ids.length === ids.length &&
      entry.ids.every((id, i) => id === ids[i]) &&
      sameWeights(entry.weights, weightsIdentity(model));
    if (!entry || !same) {
      if (entry) this.remove(key);
      this.misses++;
      return undefined;
    }
    // Map order is recency: move to the back.
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.hits++;
    return entry.kv;
  }

  /**
   * Holds `kv` for `ids` (taking ownership) and returns true, evicting the least recently used
   * blocks to fit; returns false, owning nothing, when it alone exceeds `maxBytes`.
   */
  put(model: DecoderLM, ids: readonly number[], kv: BlockKV): boolean {
    const bytes = blockKVBytes(kv);
    if (bytes > this.maxBytes) return false;
    const key = blockKey(ids);
    if (this.entries.has(key)) this.remove(key);
    for (const old of this.entries.keys()) {
      if (this.held + bytes <= this.maxBytes) break;
      this.remove(old);
    }
    this.entries.set(key, { ids: [...ids], model, weights: weightsIdentity(model), kv, bytes });
    this.held += bytes;
    return true;
  }

  /** Frees every block held. */
  clear(): void {
    for (const key of [...this.entries.keys()]) this.remove(key);
  }

  dispose(): void {
    this.clear();
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.held -= entry.bytes;
    tf.dispose(entry.kv.layers.flatMap((l) => [l.keys, l.values]));
  }
}

function sameWeights(a: object[], b: object[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** Throws unless `store` is a BlockKVStore (or absent). */
export function checkStore(block: string, store: unknown): BlockKVStore | undefined {
  if (store === undefined || store instanceof BlockKVStore) return store;
  throw new ConfigError(block, 'options.store', 'a BlockKVStore', typeof store);
}
