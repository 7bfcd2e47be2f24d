// Pack check: `npm pack` every publishable package, install the tarballs into a fresh
// project with tfjs-core and the cpu backend, then run each package's smoke test through
// both `import` (ESM) and `require` (CJS). Catches missing files, broken exports maps and
// dependencies that only resolve inside the monorepo.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const tfjsVersion = JSON.parse(
  readFileSync(join(root, 'node_modules/@tensorflow/tfjs-core/package.json'), 'utf8'),
).version;

const packages = readdirSync(join(root, 'packages'))
  .map((dir) => join(root, 'packages', dir))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ manifest }) => !manifest.private);

const work = mkdtempSync(join(tmpdir(), 'attnkit-pack-check-'));
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

let failed = false;
try {
  const tarballs = packages.map(({ dir, manifest }) => {
    const out = run('npm', ['pack', '--silent', '--pack-destination', work], dir)
      .trim()
      .split('\n')
      .pop();
    console.log(`packed ${manifest.name}@${manifest.version} -> ${out}`);
    return join(work, out);
  });
  const project = join(work, 'project');
  run('mkdir', ['-p', project], work);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'pack-check-project', private: true, version: '0.0.0' }),
  );
  run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--no-package-lock',
      `@tensorflow/tfjs-core@${tfjsVersion}`,
      `@tensorflow/tfjs-backend-cpu@${tfjsVersion}`,
      ...tarballs,
    ],
    project,
  );
  for (const { manifest } of packages) {
    const smoke = join(here, 'smoke', `${manifest.name.split('/')[1]}.cjs`);
    if (!existsSync(smoke)) {
      console.error(`pack-check: no smoke test for ${manifest.name} (expected ${smoke})`);
      failed = true;
      continue;
    }
    for (const mode of ['esm', 'cjs']) {
      const file = join(project, `smoke-${mode}.${mode === 'esm' ? 'mjs' : 'cjs'}`);
      const load =
        mode === 'esm'
          ? `await import(${JSON.stringify(manifest.name)})`
          : `require(${JSON.stringify(manifest.name)})`;
      const header =
        mode === 'esm'
          ? `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);`
          : '';
      writeFileSync(
        file,
        `${header}
const tf = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu');
const smoke = require(${JSON.stringify(smoke)});
(async () => {
  await tf.setBackend('cpu');
  const mod = ${mode === 'esm' ? `await import(${JSON.stringify(manifest.name)})` : load};
  await smoke(mod, tf, { mode: ${JSON.stringify(mode)}, load: (name) => ${mode === 'esm' ? 'import(name)' : 'Promise.resolve(require(name))'} });
})().catch((e) => { console.error(e); process.exit(1); });
`,
      );
      try {
        run('node', [file], project);
        console.log(`ok   ${manifest.name} (${mode})`);
      } catch {
        console.error(`FAIL ${manifest.name} (${mode})`);
        failed = true;
      }
    }
  }
  // Import order: @attnkit/core before or after tfjs-core, through import and require, trains.
  const step = join(here, 'order', 'train-step.cjs');
  for (const mode of ['esm', 'cjs']) {
    for (const coreFirst of [true, false]) {
      const label = `${mode}, ${coreFirst ? '@attnkit/core first' : '@tensorflow/tfjs-core first'}`;
      const loads =
        mode === 'esm'
          ? [
              `import * as core from '@attnkit/core';`,
              `import * as tf from '@tensorflow/tfjs-core';`,
              `import '@tensorflow/tfjs-backend-cpu';`,
              `import { createRequire } from 'node:module';`,
            ]
          : [
              `const core = require('@attnkit/core');`,
              `const tf = require('@tensorflow/tfjs-core');`,
              `require('@tensorflow/tfjs-backend-cpu');`,
            ];
      if (!coreFirst) loads.unshift(loads.splice(1, 1)[0]);
      const file = join(
        project,
        `order-${mode}-${coreFirst ? 'core' : 'tfjs'}-first.${mode === 'esm' ? 'mjs' : 'cjs'}`,
      );
      const tail =
        mode === 'esm'
          ? `await createRequire(import.meta.url)(${JSON.stringify(step)})(core, tf, ${JSON.stringify(label)});`
          : `require(${JSON.stringify(step)})(core, tf, ${JSON.stringify(label)}).catch((e) => { console.error(e); process.exit(1); });`;
      writeFileSync(file, `${loads.join('\n')}\n${tail}\n`);
      try {
        console.log(run('node', [file], project).trim());
        console.log(`ok   import order (${label})`);
      } catch {
        console.error(`FAIL import order (${label})`);
        failed = true;
      }
    }
  }
} finally {
  if (!process.env.KEEP_PACK_CHECK) rmSync(work, { recursive: true, force: true });
}
if (failed) {
  console.error('pack-check: failed');
  process.exit(1);
}
console.log(`pack-check: ${packages.length} package(s) ok`);
