import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, Rng, checkInt } from '@attnkit/core';
import { KVCache, shiftKeyPositions } from '@attnkit/attention';
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { StackState } from '../assemblies/decoder-state';
import { type BlockKV, type BlockKVStore, checkStore } from './block-kv-store';
import type { GenerateOptions } from './generate';
import { enterEval } from './eval-mode';
import { applyRepetitionPenalty, checkSamplingOptions, sampleToken } from './sampling';

const BLOCK = 'prefillBlocks';

export interface PrefillBlocksOptions {
  /** Keys/values of blocks seen before, kept across calls (see BlockKVStore). */
  store?: BlockKVStore;
}

export interface BlockPrefill {
  /** The decoding state after every block: feed further tokens through `model.forward`. */
  state: StackState;
  /** Next-token logits `[vocab]` after the last block. */
  logits: Float32Array;
  /** For each block but the last: whether its keys/values came from the store. */
  reused: boolean[];
  /** Tokens consumed (the blocks' total length). */
  length: number;
}

/**
 * Block-Attention prefill (Sun et al. 2024, sec. 2): every block but the last (the retrieved
 * passages) is encoded on its own at positions 0..n-1, its keys moved to its offset in the
 * prompt by position re-encoding (`shiftKeyPositions`), and the last block (the query) attends
 * to all of them through the cache. Equals `model.forward` with `segmentIds` and
 * `blockAttention: true` over the whole prompt. With a store, a block seen before (same ids,
 * same model and weights) is not recomputed. Batch 1; the caller disposes `state`.
 */
export async function prefillBlocks(
  model: DecoderLM,
  blocks: readonly (readonly number[])[],
  options: PrefillBlocksOptions = {},
): Promise<BlockPrefill> {
  const store = checkStore(BLOCK, options.store);
  checkBlocks(model, blocks);
  const leave = enterEval(model);
  const state = model.initState(1);
  try {
    const caches = checkCaches(model, state);
    const reused: boolean[] = [];
    const parts: BlockKV[] = [];
    const owned: BlockKV[] = [];
    try {
      for (const ids of blocks.slice(0, -1)) {
        let kv = store?.get(model, ids);
        reused.push(kv !== undefined);
        if (!kv) {
          kv = encodeBlock(model, ids);
          if (!store?.put(model, ids, kv)) owned.push(kv);
        }
        parts.push(kv);
      }
      appendBlocks(model, caches, state, parts);
    } finally {
      owned.forEach((kv) => tf.dispose(kv.layers.flatMap((l) => [l.keys, l.values])));
    }
    const logits = await lastLogits(model, state, blocks[blocks.length - 1]!);
    return { state, logits, reused, length: state.length };
  } catch (e) {
    state.dispose();
    throw e;
  } finally {
    leave();
  }
}

/**
 * Generates after a Block-Attention prefill (see `prefillBlocks`): samples like `generate`
 * (the same options), feeding each new token through the cache; the tokens continue the last
 * block. Stops at `maxTokens`, a stop token, or the model's maxLength.
 */
export async function generateBlocks(
  model: DecoderLM,
  blocks: readonly (readonly number[])[],
  options: GenerateOptions & PrefillBlocksOptions,
): Promise<number[]> {
  checkInt('generateBlocks', 'maxTokens', options.maxTokens, 0);
  checkSamplingOptions(options);
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const stops = new Set(options.stopTokens ?? []);
  const penalty = options.repetitionPenalty ?? 1;
  const prefill = await prefillBlocks(model, blocks, options);
  const tokens = blocks.flat();
  const out: number[] = [];
  let logits = prefill.logits;
  const leave = enterEval(model);
  try {
    for (let produced = 0; produced < options.maxTokens; produced++) {
      const next = sampleToken(applyRepetitionPenalty(logits, tokens, penalty), options, rng);
      tokens.push(next);
      out.push(next);
      if (stops.has(next) || tokens.length >= model.config.maxLength + 1) break;
      if (produced + 1 < options.maxTokens) logits = await lastLogits(model, prefill.state, [next]);
    }
  } finally {
    prefill.state.dispose();
    leave();
  }
  return out;
}

/** Typed errors for a bad block list, before anything is computed. */
function checkBlocks(model: DecoderLM, blocks: readonly (readonly number[])[]): void {
  if (model.isDisposed) throw new ConfigError(BLOCK, 'model', 'a live model', 'a disposed model');
  if (!Array.isArray(blocks) || blocks.length === 0) {
    throw new ConfigError(BLOCK, 'blocks', 'at least one block of token ids', 'none');
  }
  const { vocabSize, maxLength } = model.config;
  let total = 0;
  blocks.forEach((ids, i) => {
    const at = `blocks[${i}]`;
    if (!Array.isArray(ids) || ids.length === 0) {
      throw new ConfigError(BLOCK, at, 'a non-empty array of token ids', 'an empty block');
    }
    if (ids.length > maxLength) {
      const got = `${ids.length} tokens`;
      throw new ConfigError(BLOCK, at, `at most maxLength=${maxLength} tokens`, got);
    }
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new ConfigError(
          BLOCK,
          `${at} token`,
          `an integer id in [0, ${vocabSize})`,
          String(id),
        );
      }
    }
    total += ids.length;
  });
  if (total > maxLength) {
    const got = `${total} tokens in ${blocks.length} blocks`;
    throw new ConfigError(BLOCK, 'blocks', `at most maxLength=${maxLength} tokens in all`, got);
  }
}

/**
 * Each layer's KV cache. Reuse needs plain, unbounded caches (no window, policy or summaries),
 * one per layer (no cross-layer sharing), and keys whose positions can be moved (not `embed`).
 */
function checkCaches(model: DecoderLM, state: StackState): KVCache[] {
  if (model.kvGroupSize > 1) {
    throw new ConfigError(BLOCK, 'model', 'no kvSharing', `groupSize ${model.kvGroupSize}`);
  }
  if (model.positional.kind === 'embed') {
    const got = `'${model.positional.blockName}' (kind 'embed')`;
    throw new ConfigError(BLOCK, 'model.positional', "a 'rotate', 'bias' or no encoding", got);
  }
  return state.layers.map((s, i) => {
    const plain =
      s instanceof KVCache &&
      s.options.window === undefined &&
      s.options.policy === undefined &&
      s.options.summaryBlock === undefined;
    if (!plain) {
      const got = `mixer '${model.blocks[i]!.mixer.blockName}'`;
      throw new ConfigError(BLOCK, `layers[${i}]`, 'a softmax mixer with a full KV cache', got);
    }
    return s;
  });
}

/** One block through the model alone at positions 0..n-1: each layer's keys and values. */
function encodeBlock(model: DecoderLM, ids: readonly number[]): BlockKV {
  const fresh = model.initState(1);
  try {
    tf.tidy(() => {
      // Hidden states only: the block's keys and values are what is kept, not its logits.
      model.hidden(tf.tensor2d([ids as number[]], [1, ids.length], 'int32'), { state: fresh });
    });
    const layers = fresh.layers.map((s) => {
      const cache = s as KVCache;
      return { keys: tf.clone(cache.keys!), values: tf.clone(cache.values!) };
    });
    return { layers, length: ids.length };
  } finally {
    fresh.dispose();
  }
}

/** Appends the blocks, in order, to every layer's cache, each block's keys moved to its offset. */
function appendBlocks(
  model: DecoderLM,
  caches: KVCache[],
  state: StackState,
  parts: BlockKV[],
): void {
  if (parts.length === 0) return;
  const offsets = parts.map((_, i) => parts.slice(0, i).reduce((n, p) => n + p.length, 0));
  const total = offsets[parts.length - 1]! + parts[parts.length - 1]!.length;
  const positions = Array.from({ length: total }, (_, i) => i);
  caches.forEach((cache, layer) => {
    tf.tidy(() => {
      const keys = parts.map((p, i) =>
        shiftKeyPositions(p.layers[layer]!.keys, model.positional, offsets[i]!),
      );
      const values = parts.map((p) => p.layers[layer]!.values);
      cache.append(tf.concat(keys, 2), tf.concat(values, 2), positions);
    });
  });
  state.advance(total);
}

/** Feeds `ids` through the state; the logits after the last one. */
async function lastLogits(
  model: DecoderLM,
  state: StackState,
  ids: readonly number[],
): Promise<Float32Array> {
  const vocab = model.config.vocabSize;
  const last = tf.tidy(() => {
    const input = tf.tensor2d([ids as number[]], [1, ids.length], 'int32');
    const logits = model.forward(input, { state, training: false });
    return tf.reshape(tf.slice(logits, [0, ids.length - 1, 0], [1, 1, vocab]), [vocab]);
  });
  const values = (await last.data()) as Float32Array;
  last.dispose();
  return values;
}
