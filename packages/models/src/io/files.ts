import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Writes a directory atomically: `fill` writes into a temporary sibling, which then replaces
 * `dir` by rename, so a crash or Ctrl-C leaves either the old directory or the new one whole.
 */
export function writeDirAtomic(dir: string, fill: (tmp: string) => void): void {
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}`);
  const old = path.join(parent, `.${path.basename(dir)}.old-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  fill(tmp);
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
}

/** Writes a file atomically (temp file + rename). */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}
