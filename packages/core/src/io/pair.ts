// saveModule's pair protocol. Two files cannot be swapped in one rename, so the weights record
// the digest of the config they belong to (`config_sha256` in their metadata), both are written
// to temporaries first, and the weights are renamed in before the config. A process killed
// between the two renames leaves the new weights, the old config and the new config's complete
// temporary: `settlePair` finds that temporary by its digest and renames it in (roll forward),
// so every reader sees the old pair or the new one. Temporaries of dead writers are removed.
import { nodeFs } from './node-fs';
import { MAX_SAFETENSORS_HEADER_BYTES } from './safetensors';

/** The weights metadata key holding the digest of their config. */
export const PAIR_DIGEST_KEY = 'config_sha256';

const TEMP = /^\.(config\.json|model\.safetensors)\.(\d+)-[0-9a-z]+\.tmp$/;
const LEGACY_TEMP = /^\.(config\.json|model\.safetensors)\.[0-9a-z]+\.tmp$/;

/** JSON with object keys sorted, so the digest ignores formatting and key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const importNode = (specifier: string): Promise<unknown> =>
  import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);

/**
 * sha256 (hex) of a parsed config's canonical JSON: WebCrypto where the runtime has it (browsers
 * in a secure context, Node), else node:crypto; undefined where neither exists (then the pair
 * check is skipped: a one-file or IndexedDB save cannot tear anyway).
 */
export async function configDigest(config: unknown): Promise<string | undefined> {
  const text = canonical(config);
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (subtle) {
    const hash = new Uint8Array(await subtle.digest('SHA-256', new TextEncoder().encode(text)));
    return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  try {
    const crypto = (await importNode('node:crypto')) as typeof import('node:crypto');
    return crypto.createHash('sha256').update(text).digest('hex');
  } catch {
    return undefined;
  }
}

/** Whether the process that named a temporary may still be writing it. */
function writerAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/** Best-effort fsync of a directory, so renames reach the disk in order (no-op on Windows). */
export async function syncDir(dir: string): Promise<void> {
  const { fs } = await nodeFs();
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close().catch(() => undefined);
}

/** The `config_sha256` the weights file records, read from its header only (or undefined). */
async function weightsDigest(file: string): Promise<string | undefined> {
  const { fs } = await nodeFs();
  const handle = await fs.open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const size = new Uint8Array(8);
    await handle.read(size, 0, 8, 0);
    const n = Number(new DataView(size.buffer).getBigUint64(0, true));
    const { size: total } = await handle.stat();
    if (n < 2 || n > total - 8 || n > MAX_SAFETENSORS_HEADER_BYTES) return undefined;
    const header = new Uint8Array(n);
    await handle.read(header, 0, n, 8);
    const digest = (JSON.parse(new TextDecoder().decode(header)) as Record<string, unknown>)
      ?.__metadata__ as Record<string, unknown> | undefined;
    const value = digest?.[PAIR_DIGEST_KEY];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

async function fileDigest(file: string): Promise<string | undefined> {
  const { fs } = await nodeFs();
  try {
    return await configDigest(JSON.parse(await fs.readFile(file, 'utf8')));
  } catch {
    return undefined;
  }
}

/**
 * Brings `dir` to a complete pair: when the weights record a config digest that config.json
 * does not match, renames in the temporary config that does (a save killed between its two
 * renames); then removes the temporaries of writers that are no longer running. Returns whether
 * config.json and the weights agree afterwards (true when the weights record no digest).
 */
export async function settlePair(
  dir: string,
  configFile: string,
  weightsFile: string,
): Promise<boolean> {
  const { fs, path } = await nodeFs();
  const names = await fs.readdir(dir).catch(() => undefined);
  if (!names) return true;
  const configPath = path.join(dir, configFile);
  const temps = names.flatMap((name) => {
    const m = TEMP.exec(name);
    if (m) return [{ name, file: m[1]!, dead: !writerAlive(Number(m[2])), gone: false }];
    const legacy = LEGACY_TEMP.exec(name);
    return legacy ? [{ name, file: legacy[1]!, dead: true, gone: false }] : [];
  });
  const want = await weightsDigest(path.join(dir, weightsFile));
  let agree = want === undefined;
  // A live writer between its two renames finishes within milliseconds: wait for it (2 s).
  for (let wait = 0; !agree && wait < 100; wait++) {
    agree = (await fileDigest(configPath)) === want;
    if (agree) break;
    let pending: (typeof temps)[number] | undefined;
    for (const t of temps.filter((t) => t.file === configFile && !t.gone)) {
      if ((await fileDigest(path.join(dir, t.name))) === want) pending = t;
    }
    if (!pending) break;
    if (!pending.dead) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      continue;
    }
    pending.gone = await fs.rename(path.join(dir, pending.name), configPath).then(
      () => true,
      () => false,
    );
    if (!pending.gone) break;
    await syncDir(dir);
  }
  for (const t of temps) {
    if (t.dead && !t.gone)
      await fs.rm(path.join(dir, t.name), { force: true }).catch(() => undefined);
  }
  return agree;
}
