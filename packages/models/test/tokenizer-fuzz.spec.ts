// Issue 16: tokenizer.json files (byte-level BPE, character and id vocabularies), mutated from
// real ones and read the way the CLI reads a run's tokenizer (readJson: size and depth limits,
// then tokenizerFromJSON). Each must end in a tokenizer that works or in one of the library's
// typed errors; what is accepted is checked (round trips, sizes), and what it builds is
// measured against the file. ATTNKIT_FUZZ=n runs n inputs per tokenizer kind.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { AttnkitError, Rng } from '@attnkit/core';
import {
  BpeTokenizer,
  CharTokenizer,
  IdTokenizer,
  TokenizerError,
  tokenizerFromJSON,
  type Tokenizer,
} from '@attnkit/models';
import { CliError } from '@attnkit/models/cli';
import { readJson } from '../src/cli/run-files';
import { fuzzCount, mutateJsonText, preview } from './fuzz-mutations';

const perKind = fuzzCount(300);
const sample = 'the cat sat on the mat; 42 cats sat. Ünïcödé 😀 and the mat again';

const bases: Record<string, Tokenizer> = {
  bpe: BpeTokenizer.train(`${sample} ${sample} the cat the mat`, 300),
  char: CharTokenizer.train(sample),
  ids: new IdTokenizer(16),
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-tok-fuzz-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * Bytes the tokenizer's own tables hold: BPE's pieces (their bytes) plus one pair key and rank
 * per merge; a character vocabulary's entries (its index map holds the same strings). The id
 * tokenizer holds a number. Measured on the built object, not estimated from the file.
 */
function tableBytes(tokenizer: Tokenizer): number {
  if (tokenizer instanceof BpeTokenizer) {
    const pieces = (tokenizer as unknown as { pieces: Uint8Array[] }).pieces;
    return pieces.reduce((n, p) => n + p.byteLength, 0) + 32 * tokenizer.merges.length;
  }
  if (tokenizer instanceof CharTokenizer) return 16 * tokenizer.vocab.length;
  return 0;
}

/** What an accepted tokenizer must do: encode and decode consistently, and save as it loaded. */
function checkAccepted(tokenizer: Tokenizer): void {
  const again = tokenizerFromJSON(JSON.parse(JSON.stringify(tokenizer.toJSON())));
  expect(again.toJSON()).toEqual(tokenizer.toJSON());
  if (tokenizer instanceof BpeTokenizer) {
    // Byte-level: every text encodes, and decodes back exactly.
    const ids = tokenizer.encode(sample);
    expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < tokenizer.vocabSize)).toBe(
      true,
    );
    expect(tokenizer.decode(ids)).toBe(sample);
  } else if (tokenizer instanceof CharTokenizer) {
    // Each entry is one character: id -> entry -> the same id.
    expect(tokenizer.vocabSize).toBeGreaterThan(0);
    const ids = Array.from({ length: tokenizer.vocabSize }, (_, i) => i);
    expect(tokenizer.encode(tokenizer.decode(ids))).toEqual(ids);
  } else {
    expect(Number.isInteger(tokenizer.vocabSize)).toBe(true);
    expect(tokenizer.vocabSize).toBeGreaterThanOrEqual(1);
    expect(tokenizer.vocabSize).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(tokenizer.decode(tokenizer.encode(`0 ${tokenizer.vocabSize - 1}`))).toBe(
      `0 ${tokenizer.vocabSize - 1}`,
    );
  }
}

describe('tokenizer.json fuzz', () => {
  it.each(Object.keys(bases))(
    '%s: mutated files load correctly or throw a typed error',
    (kind) => {
      const rng = new Rng(16_000 + kind.charCodeAt(0));
      const original = JSON.stringify(bases[kind]!.toJSON()) + '\n';
      const file = path.join(dir, `${kind}.json`);
      const untyped: string[] = [];
      let accepted = 0;
      const started = Date.now();
      for (let i = 0; i < perKind; i++) {
        const text = mutateJsonText(original, rng);
        fs.writeFileSync(file, text);
        const fileBytes = fs.statSync(file).size;
        const before = tf.memory().numBytes;
        const t0 = Date.now();
        try {
          const tokenizer = tokenizerFromJSON(readJson(file, 'tokenizer'));
          accepted++;
          // Allocation bounded by the file: at most 256 base pieces plus 200 bytes per byte of
          // JSON (a merge "[a,b]," of 6 bytes may make a piece of MAX_BPE_PIECE_BYTES = 1024).
          expect(tableBytes(tokenizer)).toBeLessThanOrEqual(256 + 200 * fileBytes);
          checkAccepted(tokenizer);
        } catch (error) {
          const typed =
            error instanceof AttnkitError ||
            error instanceof TokenizerError ||
            error instanceof CliError;
          if (!typed) untyped.push(`#${i} ${String(error).slice(0, 200)} <- ${preview(text)}`);
          else expect((error as Error).message.length).toBeLessThan(1000);
        }
        expect(tf.memory().numBytes).toBe(before);
        // No input may hang the reader (a deep or long file is refused by a linear scan).
        expect(Date.now() - t0).toBeLessThan(2000);
      }
      expect(untyped).toEqual([]);
      // The mutations must leave some files valid, or the accepted path is not exercised.
      expect(accepted).toBeGreaterThan(0);
      expect(Date.now() - started).toBeLessThan(Math.max(30_000, 20 * perKind));
    },
    Math.max(60_000, 40 * perKind),
  );
});

describe('tokenizer.json regressions found by the fuzz', () => {
  it('refuses a character entry of two characters (it could never be encoded)', () => {
    expect(() => tokenizerFromJSON({ type: 'char', vocab: ['a', 'bc'] })).toThrow(
      /CharTokenizer: tokenizer.json "vocab" expected a non-empty array of one-character strings/,
    );
    expect(() => tokenizerFromJSON({ type: 'char', vocab: [] })).toThrow(TokenizerError);
    // One code point of two UTF-16 units, and a lone surrogate, are one character each.
    const astral = tokenizerFromJSON({ type: 'char', vocab: ['😀', '\ud800', 'a'] });
    expect(astral.encode('a😀\ud800')).toEqual([2, 0, 1]);
  });

  it('quotes a bad merge entry briefly (a 100 kB string made a 100 kB message)', () => {
    let message = '';
    try {
      tokenizerFromJSON({ type: 'bpe', merges: [[97, 'x'.repeat(100_000)]] });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^BpeTokenizer: merge 0 expected two ids below 256, got \[97, 'x+/);
    expect(message.length).toBeLessThan(300);
  });

  it('refuses a pair merged twice (the first merge would be unreachable)', () => {
    expect(() =>
      tokenizerFromJSON({
        type: 'bpe',
        merges: [
          [97, 98],
          [256, 99],
          [97, 98],
        ],
      }),
    ).toThrow(
      /BpeTokenizer: merge 2 expected a pair not merged before, got \[97, 98\] \(merge 0\)/,
    );
  });
});
