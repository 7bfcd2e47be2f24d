import {
  BpeTokenizer,
  CharTokenizer,
  IdTokenizer,
  TokenizerError,
  tokenizerFromJSON,
} from '@attnkit/models';

const samples = [
  'hello world',
  'naïve café — ünïcödé',
  'emoji 👍🏽 family 👨‍👩‍👧 flags 🇫🇷 math 𝔸𝔹',
  '中文字符 and 日本語',
  'tabs\tand\nnewlines\r\n  spaces',
  '',
];

describe('CharTokenizer', () => {
  it('round-trips any text made of its characters, emoji as one token', () => {
    const tok = CharTokenizer.train(samples.join(''));
    for (const s of samples) expect(tok.decode(tok.encode(s))).toBe(s);
    expect(tok.encode('👍🏽')).toHaveLength(2); // thumbs up + skin tone modifier: two code points
  });

  it('saves and loads', () => {
    const tok = CharTokenizer.train('abcab');
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(back.encode('cab')).toEqual(tok.encode('cab'));
    expect(back.vocabSize).toBe(3);
  });

  it('names the unknown character and its offset', () => {
    const tok = CharTokenizer.train('abc');
    expect(() => tok.encode('abz')).toThrow(/"z" \(U\+007A\) at offset 2/);
    expect(() => tok.decode([7])).toThrow(TokenizerError);
  });

  it('keeps lone surrogates as symbols of their own', () => {
    const text = 'a\ud800b\udc00';
    const tok = CharTokenizer.train(text);
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(back.decode(back.encode(text))).toBe(text);
  });

  it('refuses empty training text', () => {
    expect(() => CharTokenizer.train('')).toThrow(/non-empty/);
  });
});

describe('BpeTokenizer', () => {
  const corpus = 'the cat sat on the mat. the cat ate the rat. 👍 👍 thé thé\n'.repeat(20);
  const tok = BpeTokenizer.train(corpus, 300);

  it('learns merges that shorten frequent text', () => {
    expect(tok.vocabSize).toBeGreaterThan(256);
    expect(tok.encode('the cat').length).toBeLessThan(new TextEncoder().encode('the cat').length);
  });

  it('round-trips any well-formed UTF-8 text exactly, even unseen characters', () => {
    for (const s of [...samples, corpus, 'zebra 🦓 ∑∫ Ω'])
      expect(tok.decode(tok.encode(s))).toBe(s);
  });

  it('saves and loads to the same encoding', () => {
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(back.encode(corpus)).toEqual(tok.encode(corpus));
  });

  it('replaces lone surrogates by U+FFFD instead of crashing', () => {
    expect(tok.decode(tok.encode('a\ud800b'))).toBe('a\ufffdb');
  });

  it('rejects bad merges and ids', () => {
    expect(() => new BpeTokenizer([[300, 1]])).toThrow(/merge 0/);
    expect(() => tok.decode([99999])).toThrow(/id expected/);
    expect(() => BpeTokenizer.train('x', 10)).toThrow(/vocabSize/);
  });
});

describe('IdTokenizer', () => {
  it('reads space-separated ids and checks their range', () => {
    const tok = new IdTokenizer(10);
    expect(tok.encode(' 1 2,3 ')).toEqual([1, 2, 3]);
    expect(tok.decode([4, 5])).toBe('4 5');
    expect(() => tok.encode('1 12')).toThrow(/'12'/);
    expect(() => tokenizerFromJSON({ type: 'nope' })).toThrow(/'char', 'bpe', 'ids'/);
  });
});
