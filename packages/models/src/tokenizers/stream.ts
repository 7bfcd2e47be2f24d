import type { Tokenizer } from './tokenizer';

/** How many ids before the new ones are decoded with them (context for spaces and bytes). */
const CONTEXT_IDS = 5;

/**
 * Turns ids arriving one by one into text pieces, emitting only complete text: a piece ending in
 * U+FFFD (a multi-byte character split across tokens: its bytes so far) is held back until the
 * character is whole. Each step decodes a few ids before the new ones with them and emits the
 * difference, so a tokenizer whose decoding depends on neighbours (SentencePiece's leading space,
 * WordPiece's `##`) streams the same text as decoding everything at once. Works with every kind.
 */
export class TextStream {
  private readonly ids: number[];
  private prefix = 0;
  private read: number;

  /** `context`: ids already shown (the prompt), decoded before the first new one. */
  constructor(
    private readonly tokenizer: Tokenizer,
    context: readonly number[] = [],
  ) {
    this.ids = context.slice(-CONTEXT_IDS);
    this.read = this.ids.length;
  }

  /** Adds one id; returns the text it completes ('' while a character is unfinished). */
  push(id: number): string {
    this.ids.push(id);
    return this.emit(false);
  }

  /** The text still held back (an unfinished character shows as U+FFFD). */
  flush(): string {
    return this.emit(true);
  }

  private emit(final: boolean): string {
    const before = this.tokenizer.decode(this.ids.slice(this.prefix, this.read));
    const text = this.tokenizer.decode(this.ids.slice(this.prefix));
    if (text.length <= before.length || (!final && text.endsWith('\ufffd'))) return '';
    const piece = text.startsWith(before)
      ? text.slice(before.length)
      : text.slice(commonPrefix(before, text));
    this.prefix = this.read;
    this.read = this.ids.length;
    // Keep the ids bounded: only those from `prefix` on are decoded again.
    if (this.prefix > 64) {
      this.ids.splice(0, this.prefix);
      this.read -= this.prefix;
      this.prefix = 0;
    }
    return piece;
  }
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
