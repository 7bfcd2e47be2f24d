#!/usr/bin/env node
// `npm run docs:build`: the generated pages, the API reference, the VitePress site, then the
// link checker over the result. Fails on any warning printed by a step (TypeDoc's are errors
// already; VitePress only prints its "(!)" warnings), so the site builds clean or not at all.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { root } from './load-registry.mjs';

const bin = (name) => join(root, 'node_modules/.bin', name);
const steps = [
  ['block and package pages', process.execPath, [join(root, 'tools/docs/gen-blocks.mjs')]],
  [
    'API reference (TypeDoc)',
    bin('typedoc'),
    ['--options', join(root, 'tools/docs/typedoc.json'), '--treatWarningsAsErrors'],
  ],
  ['site (VitePress)', bin('vitepress'), ['build', join(root, 'docs')]],
  ['links', process.execPath, [join(root, 'tools/docs/check-links.mjs')]],
];

for (const [name, command, args] of steps) {
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', env: process.env });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  process.stdout.write(output);
  const warnings = output.split('\n').filter((line) => /\(!\)|\[warning\]|warn(ing)?:/i.test(line));
  if (result.status !== 0 || warnings.length) {
    console.error(
      `docs:build: ${name} ${result.status !== 0 ? `failed (exit ${result.status ?? result.signal})` : `printed ${warnings.length} warning(s)`}`,
    );
    process.exit(1);
  }
  console.log(`docs:build: ${name} done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
