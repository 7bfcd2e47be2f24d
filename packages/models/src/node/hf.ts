// Hugging Face checkpoints in a directory (Node): the file-reading side of io/hf.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ConfigError } from '@attnkit/core';
import { writeFileAtomic } from '../io/files';
import {
  type ExportHuggingFaceOptions,
  type HfExportable,
  type HfSource,
  type ImportHuggingFaceOptions,
  type ImportedHuggingFace,
  importHuggingFace as importFrom,
  toHuggingFace,
} from '../io/hf';
import type { HfFiles } from '../io/hf';

const URL_SCHEME = /^(https?|blob|data|file):/i;

/** The files of an HF checkpoint directory. */
export function hfDirectoryFiles(dir: string): HfFiles {
  return {
    describe: (file) => `'${path.join(dir, file)}'`,
    async read(file) {
      const full = path.join(dir, file);
      try {
        const buffer = await fs.readFile(full);
        return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      } catch (error) {
        throw new ConfigError(
          'importHuggingFace',
          'dir',
          `a readable ${full}`,
          (error as Error).message,
        );
      }
    },
  };
}

/**
 * `importHuggingFace` of the main entry, plus a directory holding config.json and
 * model.safetensors (a string that is not a URL).
 */
export function importHuggingFace(
  source: HfSource,
  options: ImportHuggingFaceOptions = {},
): Promise<ImportedHuggingFace> {
  const files =
    typeof source === 'string' && !URL_SCHEME.test(source) ? hfDirectoryFiles(source) : source;
  return importFrom(files, options);
}

/** Writes `toHuggingFace(model)` to `dir` as config.json + model.safetensors. */
export async function exportHuggingFace(
  model: HfExportable,
  dir: string,
  options: ExportHuggingFaceOptions = {},
): Promise<void> {
  const { config, weights } = await toHuggingFace(model, options);
  await fs.mkdir(dir, { recursive: true });
  writeFileAtomic(path.join(dir, 'model.safetensors'), weights);
  writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}
