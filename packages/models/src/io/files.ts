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

/**
 * Puts `dir` back when a process died between the two renames of `writeDirAtomic` (the old copy
 * is whole: the new one is only renamed in after it was written). Returns whether `dir` exists.
 */
export function recoverDir(dir: string): boolean {
  if (fs.existsSync(dir)) return true;
  const parent = path.dirname(dir);
  if (!fs.existsSync(parent)) return false;
  const prefix = `.${path.basename(dir)}.old-`;
  const old = fs.readdirSync(parent).find((f) => f.startsWith(prefix));
  if (!old) return false;
  fs.renameSync(path.join(parent, old), dir);
  return true;
}
