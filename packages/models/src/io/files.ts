import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * How complete and how new a copy of a directory is: a number (higher is newer), or undefined
 * for a copy that is incomplete or unreadable.
 */
export type DirRank = (copy: string) => number | undefined;

/**
 * Writes a directory atomically: `fill` writes into a temporary sibling (flushed), which then
 * replaces `dir` by two renames (`dir` to an `.old-` sibling, the temporary to `dir`). A crash
 * or Ctrl-C anywhere leaves copies that `recoverDir` resolves to the newest complete one; it
 * runs first, so leftovers of earlier crashes are cleaned.
 */
export function writeDirAtomic(dir: string, fill: (tmp: string) => void, rank: DirRank): void {
  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  recoverDir(dir, rank);
  const tmp = sibling(dir, 'tmp');
  const old = sibling(dir, 'old');
  fs.mkdirSync(tmp);
  try {
    fill(tmp);
    for (const f of fs.readdirSync(tmp)) syncPath(path.join(tmp, f));
  } catch (error) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  const hadDir = fs.existsSync(dir);
  if (hadDir) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  syncPath(parent);
  if (hadDir) fs.rmSync(old, { recursive: true, force: true });
}

/** `.name.<kind>-<pid>-<random>` next to `dir`. */
function sibling(dir: string, kind: 'tmp' | 'old'): string {
  const random = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return path.join(path.dirname(dir), `.${path.basename(dir)}.${kind}-${process.pid}-${random}`);
}

/** Best-effort fsync (directories cannot be opened on Windows). */
function syncPath(file: string): void {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // not supported here
  }
}

/** Whether another running process may still be writing a copy it named. */
function otherWriterAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/** Writes a file atomically (temp file + rename). */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * Settles `dir` after crashes of `writeDirAtomic`: of `dir` and its `.tmp-`/`.old-` siblings
 * (this version's and earlier ones'), keeps the newest complete copy by `rank` as `dir` (ties
 * keep `dir`) and removes the others. Copies of other running writers are left alone. Returns
 * whether `dir` exists afterwards.
 */
export function recoverDir(dir: string, rank: DirRank): boolean {
  const parent = path.dirname(dir);
  if (!fs.existsSync(parent)) return false;
  const base = path.basename(dir);
  const copies = fs.readdirSync(parent).flatMap((name) => {
    if (!name.startsWith(`.${base}.`)) return [];
    const m = /^(tmp|old)-(\d+)(-[0-9a-z]+)?$/.exec(name.slice(base.length + 2));
    return m && !otherWriterAlive(Number(m[2])) ? [path.join(parent, name)] : [];
  });
  if (copies.length === 0) return fs.existsSync(dir);
  let best: string | undefined;
  let bestRank = -Infinity;
  for (const copy of [dir, ...copies]) {
    const r = fs.existsSync(copy) ? rank(copy) : undefined;
    if (r !== undefined && r > bestRank) [best, bestRank] = [copy, r];
  }
  if (best !== undefined && best !== dir) {
    if (fs.existsSync(dir)) {
      const aside = sibling(dir, 'old');
      fs.renameSync(dir, aside);
      copies.push(aside);
    }
    fs.renameSync(best, dir);
    syncPath(parent);
  }
  for (const copy of copies) {
    if (copy !== best) fs.rmSync(copy, { recursive: true, force: true });
  }
  return fs.existsSync(dir);
}
