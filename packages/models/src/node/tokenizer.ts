// A model directory's tokenizer on disk (Node): tokenizer.json, and tokenizer_config.json next to
// a Hugging Face one. The parsing and the checks are the main entry's (`readTokenizer`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../io/files';
import {
  MAX_HF_CONFIG_CHARS,
  MAX_HF_TOKENIZER_CHARS,
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  type Tokenizer,
  TokenizerError,
  readTokenizer,
  tokenizerFiles,
} from '../tokenizers';

/** A directory's tokenizer files as a `TokenizerSource`; sizes are checked before reading. */
export function directoryTokenizerSource(dir: string) {
  return {
    describe: (file: string) => path.join(dir, file),
    async read(file: string): Promise<string | undefined> {
      const full = path.join(dir, file);
      let stat: fs.Stats;
      try {
        stat = fs.statSync(full);
      } catch {
        return undefined;
      }
      // UTF-8 takes at most 4 bytes a character: a longer file cannot be within the limit.
      const max = 4 * (file === TOKENIZER_FILE ? MAX_HF_TOKENIZER_CHARS : MAX_HF_CONFIG_CHARS);
      if (!stat.isFile() || stat.size > max) {
        throw new TokenizerError(
          `tokenizer: ${full} expected a file of at most ${max} bytes, got ${stat.isFile() ? `${stat.size} bytes` : 'something else'}`,
        );
      }
      return fs.readFileSync(full, 'utf8');
    },
  };
}

/**
 * Reads the tokenizer saved in `dir` (a run, a saved module, a Hugging Face checkpoint): attnkit's
 * tokenizer.json, or Hugging Face's with its tokenizer_config.json. Undefined when `dir` has no
 * tokenizer.json.
 */
export function loadTokenizer(dir: string): Promise<Tokenizer | undefined> {
  return readTokenizer(directoryTokenizerSource(dir));
}

/** Writes `tokenizer`'s files into `dir` (created if needed), each atomically. */
export function saveTokenizer(dir: string, tokenizer: Tokenizer): void {
  fs.mkdirSync(dir, { recursive: true });
  const files = tokenizerFiles(tokenizer);
  for (const [file, text] of Object.entries(files)) writeFileAtomic(path.join(dir, file), text);
  // A Hugging Face config left from an earlier tokenizer would be read with this one.
  if (!(TOKENIZER_CONFIG_FILE in files)) {
    fs.rmSync(path.join(dir, TOKENIZER_CONFIG_FILE), { force: true });
  }
}
