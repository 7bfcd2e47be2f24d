// `npm run build` step for the addon: compiles csrc/ with node-gyp against Node's own headers
// (no download) through prebuildify, which leaves the binary in prebuilds/<platform>-<arch>/,
// where node-gyp-build finds it both in this checkout and in the npm tarball. A failed compile prints one
// line and exits 0 (the TypeScript build goes on; importing the package then reports it),
// unless ATTNKIT_NATIVE_REQUIRED=1.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const env = { ...process.env };

// Node's headers next to its binary (Debian's nodejs, official tarballs): never download them.
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) {
  env.npm_config_nodedir = prefix;
}
env.PREBUILD_NODE_GYP ??= require.resolve('node-gyp/bin/node-gyp.js');
env.JOBS ??= String(Math.max(1, Math.min(4, (await import('node:os')).availableParallelism())));

const prebuildify = require.resolve('prebuildify/bin.js');
const started = Date.now();
const run = spawnSync(
  process.execPath,
  [prebuildify, '--napi', '--strip', '--target', process.versions.node],
  {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  },
);
const prebuilds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const ok =
  run.status === 0 &&
  fs.existsSync(prebuilds) &&
  fs
    .readdirSync(prebuilds)
    .some((f) => fs.statSync(path.join(prebuilds, f)).mtimeMs >= started - 1000);
if (ok) {
  console.log(
    `backend-native: addon built in ${((Date.now() - started) / 1000).toFixed(1)} s (prebuilds/${process.platform}-${process.arch})`,
  );
} else {
  const log = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n');
  const reason =
    log.filter((l) => /error/i.test(l))[0] ?? log[log.length - 1] ?? String(run.error ?? 'unknown');
  console.warn(
    `backend-native: the native addon did not build (${reason.trim()}); the package will report it when imported`,
  );
  if (process.env.ATTNKIT_NATIVE_REQUIRED === '1') {
    console.error(log.slice(-40).join('\n'));
    process.exit(1);
  }
}
