// Node's fs and path, imported on first use through a computed specifier, so the browser
// bundle neither requires nor tries to resolve them; the Uint8Array codec needs neither.
type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');

let modules: Promise<{ fs: Fs; path: Path }> | undefined;

const importNode = (specifier: string): Promise<unknown> =>
  import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);

export function nodeFs(): Promise<{ fs: Fs; path: Path }> {
  modules ??= Promise.all([importNode('node:fs/promises'), importNode('node:path')]).then(
    ([fs, path]) => ({ fs: fs as Fs, path: path as Path }),
  );
  return modules;
}

/**
 * A unique hidden sibling of `file` for a temporary write: `.name.<pid>-<random>.tmp` (the pid
 * tells a later save whether its writer is still running; see pair.ts).
 */
export function tempSibling(path: Path, file: string): string {
  const random = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${random}.tmp`);
}

/** The error code of a failed fs call (ENOENT, EISDIR, ...), or its message. */
export function fsReason(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? code : String((error as Error)?.message ?? error);
}

/**
 * Writes `bytes` to a temp sibling of `file` and flushes it, without touching `file`.
 * Returns the temp path; the caller renames it into place (or removes it).
 */
export async function writeTemp(file: string, bytes: Uint8Array | string): Promise<string> {
  const { fs, path } = await nodeFs();
  const temp = tempSibling(path, file);
  try {
    const handle = await fs.open(temp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  return temp;
}
