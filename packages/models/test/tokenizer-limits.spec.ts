import {
  BpeTokenizer,
  MAX_BPE_PIECE_BYTES,
  TokenizerError,
  tokenizerFromJSON,
} from '@attnkit/models';

describe('tokenizer.json bounds (issue 16)', () => {
  it('refuses merges that each double the previous piece, before allocating', () => {
    // [[97,97],[256,256],[257,257],...]: piece k is 2^(k+1) bytes; 40 merges would be 2 TiB.
    const merges = Array.from({ length: 40 }, (_, k) => (k === 0 ? [97, 97] : [255 + k, 255 + k]));
    const json = { type: 'bpe', merges };
    expect(JSON.stringify(json).length).toBeLessThan(500);
    const started = Date.now();
    expect(() => tokenizerFromJSON(json)).toThrow(TokenizerError);
    expect(() => tokenizerFromJSON(json)).toThrow(
      new RegExp(
        `merge 10 expected a piece of at most ${MAX_BPE_PIECE_BYTES} bytes, got 2048 bytes`,
      ),
    );
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('keeps real vocabularies loading', () => {
    const trained = BpeTokenizer.train('the cat sat on the mat; the cat sat', 300);
    const again = tokenizerFromJSON(trained.toJSON());
    expect(again.encode('the cat')).toEqual(trained.encode('the cat'));
  });

  it('bounds vocabulary sizes and quotes bad values briefly', () => {
    expect(() => tokenizerFromJSON({ type: 'ids', vocabSize: 1e300 })).toThrow(TokenizerError);
    expect(() => tokenizerFromJSON({ type: 'ids', vocabSize: 0.5 })).toThrow(TokenizerError);
    expect(() => tokenizerFromJSON({ type: 'char', vocab: ['a', 'bc'.repeat(100)] })).toThrow(
      TokenizerError,
    );
    expect(() =>
      tokenizerFromJSON({ type: 'bpe', merges: new Array(2 ** 20 + 1).fill([97, 97]) }),
    ).toThrow(/merges expected at most 1048576/);
    let message = '';
    try {
      tokenizerFromJSON({ type: 'x'.repeat(10_000_000) });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.length).toBeGreaterThan(0);
    expect(message.length).toBeLessThan(300);
  });
});
