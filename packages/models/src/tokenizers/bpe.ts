import { describe } from '@attnkit/core';
import type { Tokenizer, TokenizerJSON } from './tokenizer';
import { TokenizerError } from './tokenizer';
import { MAX_BPE_MERGES, MAX_BPE_PIECE_BYTES, MAX_BPE_TOTAL_BYTES } from './limits';

/** Chunks merges never cross: a word with its leading space, a run of digits, punctuation, spaces. */
const CHUNK = /\s?\p{L}+|\s?\p{N}+|\s?[^\s\p{L}\p{N}]+|\s+/gu;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

/**
 * Byte-level BPE (Sennrich et al. 2016 on bytes, as in GPT-2): the base vocabulary is the 256
 * byte values, so any text encodes. Text goes through UTF-8 with `TextEncoder`, which replaces a
 * lone surrogate by U+FFFD: such a string encodes without error and decodes with U+FFFD in place
 * of each lone surrogate; every well-formed string round-trips exactly.
 */
export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe';
  private readonly ranks = new Map<string, number>();
  private readonly pieces: Uint8Array[] = [];
  private readonly cache = new Map<string, number[]>();

  constructor(readonly merges: readonly (readonly [number, number])[]) {
    if (merges.length > MAX_BPE_MERGES) {
      throw new TokenizerError(
        `BpeTokenizer: merges expected at most ${MAX_BPE_MERGES}, got ${merges.length}`,
      );
    }
    for (let b = 0; b < 256; b++) this.pieces.push(Uint8Array.of(b));
    let totalBytes = 256;
    merges.forEach(([a, b], rank) => {
      const limit = 256 + rank;
      if (
        !Number.isInteger(a) ||
        !Number.isInteger(b) ||
        a < 0 ||
        b < 0 ||
        a >= limit ||
        b >= limit
      ) {
        throw new TokenizerError(
          `BpeTokenizer: merge ${rank} expected two ids below ${limit}, got [${describe(a)}, ${describe(b)}]`,
        );
      }
      const key = `${a},${b}`;
      const earlier = this.ranks.get(key);
      if (earlier !== undefined) {
        // A second rank for one pair would leave the first merge's id unreachable.
        throw new TokenizerError(
          `BpeTokenizer: merge ${rank} expected a pair not merged before, got [${a}, ${b}] (merge ${earlier})`,
        );
      }
      this.ranks.set(key, rank);
      const left = this.pieces[a]!;
      const right = this.pieces[b]!;
      // Merges that each double the previous piece would reach gigabytes in a few dozen steps.
      const length = left.length + right.length;
      totalBytes += length;
      if (length > MAX_BPE_PIECE_BYTES || totalBytes > MAX_BPE_TOTAL_BYTES) {
        const what = length > MAX_BPE_PIECE_BYTES ? 'a piece' : 'all pieces';
        const limit = length > MAX_BPE_PIECE_BYTES ? MAX_BPE_PIECE_BYTES : MAX_BPE_TOTAL_BYTES;
        throw new TokenizerError(
          `BpeTokenizer: merge ${rank} expected ${what} of at most ${limit} bytes, got ${length > limit ? length : totalBytes} bytes`,
        );
      }
      const piece = new Uint8Array(left.length + right.length);
      piece.set(left);
      piece.set(right, left.length);
      this.pieces.push(piece);
    });
  }

  /** Learns up to `vocabSize - 256` merges from `text`, most frequent pair first. */
  static train(text: string, vocabSize: number): BpeTokenizer {
    if (!Number.isInteger(vocabSize) || vocabSize < 256) {
      throw new TokenizerError(
        `BpeTokenizer.train: vocabSize expected an integer >= 256, got ${vocabSize}`,
      );
    }
    const counts = new Map<string, number>();
    for (const chunk of text.match(CHUNK) ?? []) counts.set(chunk, (counts.get(chunk) ?? 0) + 1);
    const words = [...counts].map(([chunk, n]) => ({ ids: [...encoder.encode(chunk)], n }));
    const merges: [number, number][] = [];
    while (256 + merges.length < vocabSize) {
      const pairs = new Map<string, number>();
      for (const w of words) {
        for (let i = 0; i + 1 < w.ids.length; i++) {
          const key = `${w.ids[i]},${w.ids[i + 1]}`;
          pairs.set(key, (pairs.get(key) ?? 0) + w.n);
        }
      }
      let best = '';
      let bestCount = 1; // a pair seen once is not worth a token
      for (const [key, n] of pairs) {
        if (n > bestCount || (n === bestCount && best !== '' && key < best)) {
          best = key;
          bestCount = n;
        }
      }
      if (best === '') break;
      const [a, b] = best.split(',').map(Number) as [number, number];
      const id = 256 + merges.length;
      merges.push([a, b]);
      for (const w of words) w.ids = mergePair(w.ids, a, b, id);
    }
    return new BpeTokenizer(merges);
  }

  static fromJSON(json: TokenizerJSON): BpeTokenizer {
    const merges = json.merges;
    if (!Array.isArray(merges) || merges.some((m) => !Array.isArray(m) || m.length !== 2)) {
      throw new TokenizerError(
        'BpeTokenizer: tokenizer.json "merges" expected an array of [a, b] pairs',
      );
    }
    return new BpeTokenizer(merges as [number, number][]);
  }

  get vocabSize(): number {
    return 256 + this.merges.length;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const chunk of text.match(CHUNK) ?? []) {
      let ids = this.cache.get(chunk);
      if (!ids) {
        ids = this.encodeChunk([...encoder.encode(chunk)]);
        if (this.cache.size < 50_000) this.cache.set(chunk, ids);
      }
      out.push(...ids);
    }
    return out;
  }

  /** Applies merges lowest rank first, as they were learned. */
  private encodeChunk(ids: number[]): number[] {
    for (;;) {
      let bestRank = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) {
        const rank = this.ranks.get(`${ids[i]},${ids[i + 1]}`);
        if (rank !== undefined && rank < bestRank) bestRank = rank;
      }
      if (bestRank === Infinity) return ids;
      const [a, b] = this.merges[bestRank]!;
      ids = mergePair(ids, a, b, 256 + bestRank);
    }
  }

  decode(ids: readonly number[]): string {
    const parts = ids.map((id) => {
      const piece = this.pieces[id];
      if (!piece) {
        throw new TokenizerError(
          `BpeTokenizer: id expected an integer in [0, ${this.vocabSize}), got ${id}`,
        );
      }
      return piece;
    });
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      bytes.set(p, offset);
      offset += p.length;
    }
    // Non-fatal: a sampled sequence may end inside a multi-byte character; that shows as U+FFFD.
    return decoder.decode(bytes);
  }

  toJSON(): TokenizerJSON {
    return { type: 'bpe', merges: this.merges.map(([a, b]) => [a, b]) };
  }
}

function mergePair(ids: number[], a: number, b: number, id: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
      out.push(id);
      i++;
    } else out.push(ids[i]!);
  }
  return out;
}
