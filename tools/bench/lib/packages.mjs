// Where the built @attnkit packages are, and importing them only when their dist exists.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function distPath(pkg) {
  return path.join(REPO_ROOT, 'packages', pkg, 'dist', 'index.js');
}

/** `pkg` and the @attnkit packages it depends on, directly or not (from package.json). */
export function withDependencies(pkg, seen = new Set()) {
  if (seen.has(pkg)) return [...seen];
  seen.add(pkg);
  const file = path.join(REPO_ROOT, 'packages', pkg, 'package.json');
  const deps = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')).dependencies : {};
  for (const name of Object.keys(deps ?? {})) {
    if (name.startsWith('@attnkit/')) withDependencies(name.slice('@attnkit/'.length), seen);
  }
  return [...seen];
}

/** Names of the given packages whose dist/index.js has not been built. */
export function missingDists(pkgs) {
  return pkgs.filter((p) => !fs.existsSync(distPath(p)));
}

/**
 * Imports @attnkit/<pkg> from its dist. Returns { mod }, { skip: reason } when it is not built
 * (a package that has not landed is reported, not failed) or { error } when it is built but broken.
 */
export async function importPackage(pkg) {
  const unbuilt = missingDists(withDependencies(pkg));
  if (unbuilt.length) {
    const list = unbuilt.map((p) => `packages/${p}/dist`).join(', ');
    return { skip: `@attnkit/${pkg} cannot load: ${list} missing (run npm run build)` };
  }
  try {
    return { mod: await import(`@attnkit/${pkg}`) };
  } catch (err) {
    // Built but broken is a failure, not a skip.
    const text = err instanceof Error ? err.message : String(err);
    return { error: `@attnkit/${pkg} is built but failed to load: ${text.split('\n')[0]}` };
  }
}

/** Looks up named exports; returns { skip } naming the first one missing. */
export function requireExports(mod, pkg, names) {
  for (const n of names) {
    if (mod[n] === undefined) return { skip: `@attnkit/${pkg} does not export ${n} yet` };
  }
  return {};
}
